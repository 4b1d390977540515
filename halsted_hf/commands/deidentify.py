"""`halsted deidentify VIDEO OUT`: a copy of the video with out-of-body stretches, faces, metadata and audio
removed, and a JSON report of what was (halsted_hf/deid).

Refuses what `halsted map` refuses (a missing, empty or undecodable file, no video stream), OUT equal to VIDEO
under any name, and bad options, before a frame is decoded. Nothing appears until the copy and the report are
complete; an error, SIGINT or SIGTERM leaves neither (exit 130 / 143 for a signal).
"""

from __future__ import annotations

import os
import sys


def configure(parser) -> None:
    parser.add_argument("video", help="the video to de-identify (MP4, MOV, MKV, ...)")
    parser.add_argument("out", help="the de-identified copy to write (MP4: H.264, original timestamps)")
    parser.add_argument("--report", default=None,
                        help="the JSON report to write (default: OUT_NAME.deid.json beside OUT)")
    parser.add_argument("--replace", default="black", choices=("black", "blur"),
                        help="what an out-of-body frame becomes: black with a short label, or a heavy blur "
                             "(default: black)")
    parser.add_argument("--mask", action="append", default=[], metavar="X,Y,W,H",
                        help="paint this rectangle black on every frame (on-screen text); repeatable")
    parser.add_argument("--keep-audio", action="store_true",
                        help="keep the first audio track (re-encoded, without metadata); by default audio is dropped: "
                             "operating-room audio carries names")
    parser.add_argument("--no-faces", action="store_true", help="do not look for faces in the frames that are kept")
    parser.add_argument("--classifier", default=None,
                        help="an out-of-body classifier folder from `halsted fit-out-of-body` (default: "
                             "$HALSTED_OUT_OF_BODY, else ~/.halsted/out-of-body, built there on first use from "
                             "$HALSTED_CHOLECT50 or ../shared/data/cholect50-val-mini beside the checkout)")
    parser.add_argument("--threshold", type=float, default=None,
                        help="out-of-body probability from which a frame is removed (default: the classifier's own)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args) -> int:
    from .stopping import Stopped, stop_on_signals

    try:
        with stop_on_signals():
            return _run(args)
    except Stopped as stop:
        print(f"halsted deidentify: stopped by {stop.name}; nothing was written", file=sys.stderr)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(128 + stop.signum)  # as `halsted map`: skip the slow tear-down; no child process is left


def _run(args) -> int:
    from ..deid.rewrite import DeidOptions, deidentify

    report = args.report or os.path.splitext(args.out)[0] + ".deid.json"
    options = DeidOptions(replace=args.replace, masks=args.mask, keep_audio=args.keep_audio,
                          blur_faces=not args.no_faces, classifier=args.classifier, threshold=args.threshold)
    bar = None
    if not args.no_progress:
        from tqdm import tqdm
        bar = tqdm(total=0, unit="frame", desc="de-identifying", file=sys.stderr, leave=False, disable=None)

    def progress(done: int, total: int) -> None:
        if bar is not None:
            bar.total = total
            bar.n = done
            bar.refresh()

    try:
        result = deidentify(args.video, args.out, report=report, options=options, progress=progress)
    finally:
        if bar is not None:
            bar.close()
    print(f"wrote {args.out} and {report}: {result.summary()}")
    return 0
