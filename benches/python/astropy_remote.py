"""One remote scenario with astropy + fsspec (HTTP) or s3fs (S3), default settings.

Usage: astropy_remote.py SCENARIO URL [S3_ENDPOINT]
Prints {"wall_s": seconds, "read_s": seconds} for the scenario alone (imports excluded).

`read_s` covers opening and reading. `wall_s` adds the output our `fits` command makes for the
same scenario, so both tools do the same work: a cutout is written to a FITS file
(`fits cutout -o`), a section's statistics are computed (`fits stats`), a header is formatted
(`fits header`).
"""
import json
import os
import sys
import tempfile
import time

import numpy as np
from astropy.io import fits

scenario, url = sys.argv[1], sys.argv[2]
kwargs = {}
if url.startswith("s3://"):
    kwargs = {"fsspec_kwargs": {"client_kwargs": {"endpoint_url": sys.argv[3], "region_name": "garage"}}}

t = time.perf_counter()
with fits.open(url, use_fsspec=True, **kwargs) as h:
    if scenario == "header4":
        out = h[4].header
    elif scenario in ("cutout1", "rice_cutout"):
        out = np.asarray(h[1].section[1600:1950, 2000:2250])
    elif scenario == "cutout2":
        out = np.asarray(h[2].section[10:20, 30:50])
    elif scenario == "spectrum":
        out = np.asarray(h[0].section[:, 512, 512])
    elif scenario == "plane":
        out = np.asarray(h[0].section[0, :, :])
    elif scenario == "hdu1":
        out = np.asarray(h[1].data)
    else:
        sys.exit(f"unknown scenario {scenario}")
read = time.perf_counter() - t
path = None
if scenario == "header4":
    text = out.tostring(sep="\n")
elif scenario in ("cutout1", "cutout2", "rice_cutout"):
    path = os.path.join(tempfile.gettempdir(), f"astropy-{scenario}-{os.getpid()}.fits")
    fits.writeto(path, out, overwrite=True)
else:
    a = np.asarray(out, dtype=np.float64)
    stats = {
        "count": int(np.count_nonzero(~np.isnan(a))),
        "sum": float(np.nansum(a)),
        "min": float(np.nanmin(a)),
        "max": float(np.nanmax(a)),
        "mean": float(np.nanmean(a)),
        "std": float(np.nanstd(a)),
    }
wall = time.perf_counter() - t
if path:
    os.remove(path)
print(json.dumps({"wall_s": wall, "read_s": read}))
