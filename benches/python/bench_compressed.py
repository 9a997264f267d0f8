"""Tile-compressed read scenarios timed in astropy and fitsio, for `cargo xtask bench local`.

Usage: bench_compressed.py DRC_RICE [REPEAT]
Opens the file and reads into a native-endian float32 array, as the Rust benchmarks do.
Prints one JSON object: {tool: {scenario: median_seconds}}.
"""
import json
import sys

import numpy as np

from bench_local import timed


def astropy_scenarios(path):
    from astropy.io import fits

    def full():
        with fits.open(path) as h:
            return np.asarray(h[1].data, dtype=np.float32)

    def cutout():
        with fits.open(path) as h:
            return np.asarray(h[1].section[1600:1950, 2000:2250], dtype=np.float32)

    return dict(rice_sci_full_f32=full, rice_sci_cutout_350x250=cutout)


def fitsio_scenarios(path):
    import fitsio

    def full():
        return np.asarray(fitsio.read(path, ext=1), dtype=np.float32)

    def cutout():
        with fitsio.FITS(path) as f:
            return np.asarray(f[1][1600:1950, 2000:2250], dtype=np.float32)

    return dict(rice_sci_full_f32=full, rice_sci_cutout_350x250=cutout)


def main():
    path = sys.argv[1]
    repeat = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    out = {}
    for tool, scenarios in (("astropy", astropy_scenarios), ("fitsio", fitsio_scenarios)):
        out[tool] = {}
        for name, fn in scenarios(path).items():
            out[tool][name] = timed(fn, repeat)
            print(f"{tool:8} {name:24} {out[tool][name]*1e3:10.2f} ms", file=sys.stderr)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
