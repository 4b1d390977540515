"""`halsted overlay VIDEO TIMELINE OUT.mp4`: a copy of the video with the current tags drawn on each frame."""

from __future__ import annotations

import sys


def configure(parser) -> None:
    parser.add_argument("video", help="the video that was mapped")
    parser.add_argument("timeline", help="its timeline JSON (from `halsted map`)")
    parser.add_argument("out", help="the MP4 to write (H.264, no audio)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args) -> int:
    from ..mapping.overlay import render_overlay
    from ..mapping.timeline import Timeline

    timeline = Timeline.load(args.timeline)  # a bad timeline fails before any decoding
    bar = None
    if not args.no_progress:
        from tqdm import tqdm
        bar = tqdm(total=0, unit="frame", desc="overlay", file=sys.stderr, leave=False, disable=None)

    def progress(done: int, total: int) -> None:
        if bar is not None:
            bar.total = total
            bar.update(done - bar.n)

    try:
        render_overlay(args.video, timeline, args.out, progress=progress)
    finally:
        if bar is not None:
            bar.close()
    print(f"wrote {args.out}")
    return 0
