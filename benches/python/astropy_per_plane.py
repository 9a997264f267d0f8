"""Per-plane statistics of a cube with astropy, plane by plane through `.section` (its bounded-memory way)."""
import sys

import numpy as np
from astropy.io import fits

with fits.open(sys.argv[1]) as h:
    hdu = h[0]
    for k in range(hdu.shape[0]):
        p = hdu.section[k, :, :].astype(np.float64)
        print(k, np.nansum(p), np.nanmin(p), np.nanmax(p), np.nanmean(p), np.nanstd(p), int(np.isnan(p).sum()))
