"""astropy's StreamingHDU writing the N x 11 x 11 float64 cube in chunks of K planes. Usage: OUT N K"""
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
shdu = fits.StreamingHDU(out, header)
j = np.arange(11)[None, :, None] / 100.0
i = np.arange(11)[None, None, :] / 10000.0
for k0 in range(0, n, k):
    k1 = min(k0 + k, n)
    kk = np.arange(k0, k1, dtype=np.float64)[:, None, None]
    shdu.write(kk + j + i)
shdu.close()
