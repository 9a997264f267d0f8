"""One remote scenario with astropy + fsspec (HTTP) or s3fs (S3), default settings.

Usage: astropy_remote.py SCENARIO URL [S3_ENDPOINT]
Prints {"wall_s": seconds} for the scenario alone (imports excluded).
"""
import json
import sys
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
wall = time.perf_counter() - t
print(json.dumps({"wall_s": wall}))
