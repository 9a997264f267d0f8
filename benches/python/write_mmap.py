"""The seed's method: write a header, seek to make a sparse file, reopen with mmap, fill in chunks. Usage: OUT N K"""
import sys

import numpy as np
from astropy.io import fits

out, n, k = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
header = fits.Header()
header["SIMPLE"] = True
header["BITPIX"] = -64
header["NAXIS"] = 3
header["NAXIS1"] = 11
header["NAXIS2"] = 11
header["NAXIS3"] = n
text = header.tostring().encode()
data_len = n * 11 * 11 * 8
with open(out, "wb") as f:
    f.write(text)
    f.seek(len(text) + ((data_len + 2879) // 2880) * 2880 - 1)
    f.write(b"\0")
m = np.memmap(out, dtype=">f8", mode="r+", offset=len(text), shape=(n, 11, 11))
j = np.arange(11)[None, :, None] / 100.0
i = np.arange(11)[None, None, :] / 10000.0
for k0 in range(0, n, k):
    k1 = min(k0 + k, n)
    kk = np.arange(k0, k1, dtype=np.float64)[:, None, None]
    m[k0:k1] = kk + j + i
m.flush()
del m
