"""Runs a command and prints its wall time and peak resident memory as JSON: {"wall_s", "maxrss_mb"}.

Used by `cargo xtask bench` so every tool's memory is measured the same way
(getrusage of the child, which counts the whole process tree it waited for).
"""
import json
import resource
import subprocess
import sys
import time

t = time.perf_counter()
proc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL)
wall = time.perf_counter() - t
if proc.returncode != 0:
    sys.exit(f"command failed ({proc.returncode}): {sys.argv[1:]}")
rss_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"wall_s": wall, "maxrss_mb": rss_kb / 1024.0}))
