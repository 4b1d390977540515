"""What de-identification adds to an upload's way to a result: the time to map a video as it is, against the
time to de-identify it and map the copy (what the dashboard does with HALSTED_DEIDENTIFY on), in one run.

The video: real CholecT50 frames at 1280 x 720, 30 fps, each held for a second with a slow drift (so frames
change as a camera's do), encoded by x264 veryfast; `--seconds` long (the target is stated for a 10-minute video;
on the shared 2-core box the run is kept to a few minutes).

    PYTHONPATH=. python benchmarks/deid_cost.py --cholect50 ../shared/data/cholect50-val-mini --classifier DIR
"""

from __future__ import annotations

import argparse
import glob
import os
import tempfile
import time

import numpy as np

from common import emit


def make_video(path: str, cholect50: str, seconds: int, fps: int = 30, offset: int = 0) -> str:
    from PIL import Image

    from halsted_hf.video.writer import VideoWriter

    stills = sorted(glob.glob(os.path.join(cholect50, "videos", "*", "*.jpg")))[::7]
    with VideoWriter(path, fps, size=(1280, 720), preset="veryfast") as w:
        for s in range(seconds):
            img = np.asarray(Image.open(stills[(s + offset) % len(stills)]).convert("RGB").resize((1344, 756)))
            for k in range(fps):
                dx = int(64 * k / fps)
                w.write(np.ascontiguousarray(img[18:738, dx:dx + 1280]))
    return path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cholect50", required=True)
    ap.add_argument("--classifier", required=True)
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--mapping", default="full")
    args = ap.parse_args()
    from halsted_hf.deid.rewrite import deidentify
    from halsted_hf.mapping.workflow import load_model, map_video

    with tempfile.TemporaryDirectory() as d:
        video = make_video(os.path.join(d, "case.mp4"), args.cholect50, args.seconds)
        engine = load_model(None)  # the dashboard's default model, loaded once as the worker does
        # warm-up on another video: the engine memoises frame features by content, so mapping the same video
        # twice would time the memo, not the mapping
        warm = make_video(os.path.join(d, "warm.mp4"), os.path.join(args.cholect50), 3, offset=500)
        map_video(warm, mapping=args.mapping, model=engine)
        t = time.perf_counter()
        map_video(video, mapping=args.mapping, model=engine)
        plain = time.perf_counter() - t
        t = time.perf_counter()
        report = deidentify(video, os.path.join(d, "copy.mp4"), classifier=args.classifier)
        deid = time.perf_counter() - t
        t = time.perf_counter()
        map_video(os.path.join(d, "copy.mp4"), mapping=args.mapping, model=engine)
        mapped_copy = time.perf_counter() - t
    emit({"benchmark": "deid_cost", "video": f"{args.seconds} s 1280x720 30 fps (CholecT50 frames)",
          "mapping": args.mapping, "map_s": round(plain, 1), "deidentify_s": round(deid, 1),
          "map_copy_s": round(mapped_copy, 1), "ratio": round((deid + mapped_copy) / plain, 2),
          "removed_s": report.removed_s})


if __name__ == "__main__":
    main()
