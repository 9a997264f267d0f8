"""Local read scenarios timed in astropy and fitsio, for `cargo xtask bench local`.

Each scenario opens the file and reads into a native-endian numpy array, as the
Rust benchmarks do. Prints one JSON object: {tool: {scenario: median_seconds}}.
"""
import json
import statistics
import sys
import time

import numpy as np


def timed(fn, repeat):
    fn()  # warm the page cache and imports
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def astropy_scenarios(drc, cube):
    from astropy.io import fits

    def sci_full():
        with fits.open(drc, memmap=False) as h:
            return np.asarray(h[1].data, dtype=np.float32)

    def cube_full():
        with fits.open(cube, memmap=False) as h:
            return np.asarray(h[0].data, dtype=np.float32)

    def cutout():
        with fits.open(drc) as h:
            return np.asarray(h[1].section[1600:1950, 2000:2250], dtype=np.float32)

    def spectrum():
        with fits.open(cube) as h:
            return np.asarray(h[0].section[:, 512, 512], dtype=np.float32)

    def plane():
        with fits.open(cube) as h:
            return np.asarray(h[0].section[0, :, :], dtype=np.float32)

    return dict(sci_full_f32=sci_full, cube_full_f32=cube_full, sci_cutout_350x250=cutout,
                cube_spectrum=spectrum, cube_plane0=plane)


def fitsio_scenarios(drc, cube):
    import fitsio

    def sci_full():
        return np.asarray(fitsio.read(drc, ext=1), dtype=np.float32)

    def cube_full():
        return np.asarray(fitsio.read(cube, ext=0), dtype=np.float32)

    def cutout():
        with fitsio.FITS(drc) as f:
            return np.asarray(f[1][1600:1950, 2000:2250], dtype=np.float32)

    def spectrum():
        with fitsio.FITS(cube) as f:
            return np.asarray(f[0][:, 512:513, 512:513], dtype=np.float32).reshape(-1)

    def plane():
        with fitsio.FITS(cube) as f:
            return np.asarray(f[0][0:1, :, :], dtype=np.float32)[0]

    return dict(sci_full_f32=sci_full, cube_full_f32=cube_full, sci_cutout_350x250=cutout,
                cube_spectrum=spectrum, cube_plane0=plane)


def main():
    drc, cube = sys.argv[1], sys.argv[2]
    repeat = int(sys.argv[3]) if len(sys.argv) > 3 else 10
    out = {}
    for tool, scenarios in (("astropy", astropy_scenarios), ("fitsio", fitsio_scenarios)):
        out[tool] = {}
        for name, fn in scenarios(drc, cube).items():
            n = 3 if name == "cube_full_f32" else repeat
            out[tool][name] = timed(fn, n)
            print(f"{tool:8} {name:20} {out[tool][name]*1e3:10.2f} ms", file=sys.stderr)
    import astropy
    import fitsio
    out["versions"] = {"astropy": astropy.__version__, "fitsio": fitsio.__version__, "numpy": np.__version__}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
