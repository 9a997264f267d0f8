"""Runs a command and prints its wall time and peak resident memory as JSON: {"wall_s", "maxrss_mb"}.

Used by `cargo xtask bench` so every tool's memory is measured the same way (getrusage of the
child, which counts the whole process tree it waited for). With --sync first, the file system
is synced after the command and that time is included: for writers, the time until the data is
on disk, whether or not the writer syncs itself.
"""
import json
import os
import resource
import subprocess
import sys
import time

args = sys.argv[1:]
sync = args[:1] == ["--sync"]
if sync:
    args = args[1:]
t = time.perf_counter()
proc = subprocess.run(args, stdout=subprocess.DEVNULL)
if sync:
    os.sync()
wall = time.perf_counter() - t
if proc.returncode != 0:
    sys.exit(f"command failed ({proc.returncode}): {args}")
rss_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"wall_s": wall, "maxrss_mb": rss_kb / 1024.0}))
