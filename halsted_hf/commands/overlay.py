"""`halsted overlay VIDEO TIMELINE OUT.mp4`: a copy of the video with the current tags drawn on each frame.

SIGINT and SIGTERM stop it as they stop `halsted map` (even when SIGINT arrived ignored, as from a script):
the frame loop ends, the half-written temp video is removed, one line says so, exit 130 or 143.
"""

from __future__ import annotations

import sys


def configure(parser) -> None:
    parser.add_argument("video", help="the video that was mapped")
    parser.add_argument("timeline", help="its timeline JSON (from `halsted map`)")
    parser.add_argument("out", help="the MP4 to write (H.264, no audio)")
    parser.add_argument("--force", action="store_true",
                        help="draw the timeline even if it was made for another video (id or duration differ)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args) -> int:
    from .stopping import Stopped, stop_on_signals

    try:
        with stop_on_signals():
            return _run(args)
    except Stopped as stop:  # render_overlay has aborted its writer: no temp file is left
        print(f"halsted overlay: stopped by {stop.name}; nothing was written", file=sys.stderr)
        return 128 + stop.signum


def _run(args) -> int:
    from ..mapping.overlay import render_overlay

    bar = None
    if not args.no_progress:
        from tqdm import tqdm
        bar = tqdm(total=0, unit="frame", desc="overlay", file=sys.stderr, leave=False, disable=None)

    def progress(done: int, total: int) -> None:
        if bar is not None:
            bar.total = total
            bar.update(done - bar.n)

    try:
        # render_overlay checks the timeline, the output path and that they belong together before
        # decoding a frame; it is given the timeline's path so it can refuse to write over it
        render_overlay(args.video, args.timeline, args.out, progress=progress, force=args.force)
    finally:
        if bar is not None:
            bar.close()
    print(f"wrote {args.out}")
    return 0
