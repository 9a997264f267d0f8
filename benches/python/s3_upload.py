"""Uploads files to an S3-compatible store (for the remote benchmark). Usage: s3_upload.py ENDPOINT BUCKET FILE..."""
import os
import sys

import s3fs

endpoint, bucket, files = sys.argv[1], sys.argv[2], sys.argv[3:]
fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": endpoint, "region_name": "garage"})
for f in files:
    key = f"{bucket}/{os.path.basename(f)}"
    if fs.exists(key) and fs.size(key) == os.path.getsize(f):
        continue
    fs.put(f, key)
    print(f"uploaded {key}", file=sys.stderr)
