"""`halsted synth OUT --videos N --minutes M --seed S [--size WxH] [--fps F]`: synthetic surgery.

Writes OUT/videos/*.mp4, OUT/timelines/*.json (ground truth), OUT/atlas.parquet and OUT/manifest.json.
"""

from __future__ import annotations

import argparse
import sys
import time

from ..core.errors import HalstedError


def parse_size(text: str):
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 160x120, got {text!r}")
    return w, h


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out", metavar="OUT", help="output folder (created if missing)")
    parser.add_argument("--videos", type=int, default=12, help="number of videos (default 12)")
    parser.add_argument("--minutes", type=float, default=5.0, help="length of each video in minutes (default 5)")
    parser.add_argument("--seed", type=int, default=0, help="random seed: same seed, same atlas (default 0)")
    parser.add_argument("--size", type=parse_size, default=(160, 120), help="frame size WxH, even (default 160x120)")
    parser.add_argument("--fps", type=float, default=8.0, help="frames per second (default 8)")
    parser.add_argument("--workers", type=int, default=None, help="render processes (default: one per core)")
    parser.add_argument("--crf", type=int, default=23, help="x264 quality, lower is better (default 23)")


def run(args: argparse.Namespace) -> int:
    from ..data.synthetic import render_atlas

    t0 = time.perf_counter()
    done = []

    def progress(video_id: str, seconds: float) -> None:
        done.append(video_id)
        print(f"[{len(done)}/{args.videos}] {video_id} rendered in {seconds:.1f} s", file=sys.stderr, flush=True)

    try:
        atlas = render_atlas(args.out, args.videos, args.minutes, args.seed, size=args.size, fps=args.fps,
                             workers=args.workers, crf=args.crf, progress=progress)
    except OSError as err:
        raise HalstedError(f"cannot write to {args.out}: {err.strerror or err}; choose a writable folder") from err
    wall = time.perf_counter() - t0
    video_s = args.videos * args.minutes * 60
    print(f"wrote {atlas} ({args.videos} videos, {video_s / 60:.1f} min of video in {wall:.1f} s, "
          f"{video_s / wall:.1f} s of video per second)")
    return 0
