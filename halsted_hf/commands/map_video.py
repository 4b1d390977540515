"""`halsted map VIDEO`: map a video into a Timeline (JSON, and optionally CSV and WebVTT).

Nothing is written until the mapping has finished: every output goes to a temp file renamed into
place, so a failed or interrupted run leaves no half-written file. A truncated video is mapped up to
where its data stops; the command then prints one warning line and exits 0.
"""

from __future__ import annotations

import os
import sys
import warnings


def configure(parser) -> None:
    parser.add_argument("video", help="the video file to map (MP4, MOV, MKV, ...)")
    parser.add_argument("--mapping", default="suturing",
                        help="procedure | suturing | dissection | full (default: suturing)")
    parser.add_argument("--model", default=None,
                        help="model folder or Hub id (default: $HALSTED_MODEL or the bundled demo model)")
    parser.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N (default: cpu)")
    parser.add_argument("--out", default=None, help="timeline JSON to write (default: VIDEO_NAME.timeline.json here)")
    parser.add_argument("--csv", default=None, help="also write the segments as CSV")
    parser.add_argument("--vtt", default=None, help="also write WebVTT subtitles of the tags")
    parser.add_argument("--batch-size", type=int, default=32, help="clips per model call (default: 32)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args) -> int:
    from ..errors import HalstedError
    from ..mapping.registry import check_mapping
    from ..video.probe import validate_video

    check_mapping(args.mapping)  # before anything slow
    if args.batch_size < 1:
        raise HalstedError(f"--batch-size must be at least 1, got {args.batch_size}")
    validate_video(args.video)  # a bad file is refused before torch loads: a second, not ten
    from ..mapping.timeline import _atomic_write
    from ..mapping.workflow import map_video
    from ..video.decode import TruncatedVideoWarning
    from transformers.utils import logging as hf_logging
    hf_logging.disable_progress_bar()  # our bar is the one the user watches
    out = args.out or os.path.splitext(os.path.basename(args.video))[0] + ".timeline.json"
    bar = None
    if not args.no_progress:
        from tqdm import tqdm
        bar = tqdm(total=0, unit="clip", desc=f"mapping ({args.mapping})", file=sys.stderr, leave=False,
                   disable=None)

    def progress(done: int, total: int) -> None:
        if bar is not None:
            bar.total = total
            bar.n = done
            bar.refresh()

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", TruncatedVideoWarning)
            timeline = map_video(args.video, mapping=args.mapping, model=args.model, device=args.device,
                                 batch_size=args.batch_size, progress=progress)
    finally:
        if bar is not None:
            bar.close()
    for w in caught:
        if not issubclass(w.category, TruncatedVideoWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    # Render everything first, then write: a failing export cannot leave a partial set behind.
    files = [(out, timeline.to_json() + "\n")]
    if args.csv:
        files.append((args.csv, timeline.to_csv()))
    if args.vtt:
        files.append((args.vtt, timeline.to_webvtt()))
    for path, text in files:
        _atomic_write(path, text)
    for message in timeline.warnings:
        print(f"halsted map: warning: {message}", file=sys.stderr)
    n = len(timeline.segments)
    print(f"wrote {out} ({n} segments, {timeline.workflow})" + "".join(f", {p}" for p, _ in files[1:]))
    return 0
