"""Decoding with and without skipping the non-reference frames no window samples.

    python benchmarks/decode_skip.py VIDEO SECONDS [NUM_FRAMES]

Decodes the stage-1 (30 s) and stage-2 (2.5 s) windows of the first SECONDS of VIDEO at NUM_FRAMES (default
8) frames, 192 px, on the shared grid, on one thread and with FFmpeg's threads, with `skip_unneeded` off
and on; prints frames decoded, wall and CPU seconds, and whether the frames are identical.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from halsted_hf.video import iter_windows, plan_windows
from halsted_hf.video.windows import shared_grid_s


def main() -> int:
    path, dur = sys.argv[1], float(sys.argv[2])
    frames = int(sys.argv[3]) if len(sys.argv) > 3 else 8
    windows = plan_windows(dur, 30.0, min_window_s=0.0) + plan_windows(dur, 2.5, min_window_s=0.0)
    out = {}
    for threads in (1, 0):
        for skip in (False, True):
            t0, c0 = time.perf_counter(), time.process_time()
            it = iter_windows(path, windows, frames, (192, 192), threads=threads, skip_unneeded=skip,
                              grid_s=shared_grid_s(2.5, frames))
            out[(threads, skip)] = dict(it)
            print({"threads": threads, "skip_unneeded": skip, "frames_decoded": it.frames_decoded,
                   "wall_s": round(time.perf_counter() - t0, 2), "cpu_s": round(time.process_time() - c0, 2)})
        a, b = out[(threads, False)], out[(threads, True)]
        print({"threads": threads, "identical": a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
