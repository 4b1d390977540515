"""`halsted map VIDEO`: map a video into a Timeline (JSON, and optionally CSV and WebVTT).

Every output path is checked before the model loads or a frame is decoded (not the input video under
another name, not another output, not a folder, writable), and nothing is written until the mapping
has finished: all outputs go to temp files, renamed into place only when every one is complete, so a
failed or interrupted run leaves no half-written file and no partial set. A truncated video is mapped up to
where its data stops; the command then prints one warning line and exits 0.
SIGINT and SIGTERM stop it (even when SIGINT arrived ignored, as in a background job): decoding
ends within a frame, nothing is written, and it exits 130 or 143 with one line saying so.
"""

from __future__ import annotations

import os
import sys
import warnings


def configure(parser) -> None:
    from ..model.plans import halsted_plans  # torch-free: --help stays instant

    parser.add_argument("video", help="the video file to map (MP4, MOV, MKV, ...)")
    parser.add_argument("--mapping", default=None,
                        help=f"one of the model's mapping plans (the demo model's: {' | '.join(halsted_plans())}; a "
                             f"CholecT50 model's: full | phase); default: the model's first (the demo's: suturing)")
    from . import model_help

    parser.add_argument("--model", default=None, help=model_help())
    parser.add_argument("--trust-remote-code", action="store_true",
                        help="let a model folder that needs its own Python code (auto_map) run it; read that code "
                             "first (default: such a folder is refused)")
    parser.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N (default: cpu)")
    parser.add_argument("--out", default=None, help="timeline JSON to write (default: VIDEO_NAME.timeline.json here)")
    parser.add_argument("--csv", default=None, help="also write the segments as CSV (with a not_reliable column when "
                                                    "the model folder's reliability.json marks tags not reliable)")
    parser.add_argument("--vtt", default=None, help="also write WebVTT subtitles of the tags")
    parser.add_argument("--batch-size", type=int, default=32, help="clips per model call (default: 32)")
    parser.add_argument("--precision", default="float32", choices=["float32", "bfloat16"],
                        help="float32 (default: the same answers on every CPU) or bfloat16 (a frame encoder's "
                             "backbone under bfloat16 autocast: faster on CPUs with AVX512-BF16 or AMX, answers "
                             "differ from float32's on some windows); the Timeline records it")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args) -> int:
    from .stopping import Stopped, stop_on_signals

    try:
        with stop_on_signals():  # from the start: a signal during start-up stops it too
            return _run(args)
    except Stopped as stop:  # SIGINT or SIGTERM: decoding has stopped (see workflow), nothing was written
        print(f"halsted map: stopped by {stop.name}; nothing was written", file=sys.stderr)
        sys.stdout.flush()
        sys.stderr.flush()
        # Skip the interpreter's tear-down, which spends seconds garbage-collecting the model's objects
        # (measured: 5 s of a 5.3-s stop); the decoder processes are already gone.
        os._exit(128 + stop.signum)


def _run(args) -> int:
    from ..core.errors import HalstedError
    from ..core.mappings import check_mapping
    from ..model.registry import plans_of
    from ..model.registry import resolve as resolve_model
    from ..video.probe import validate_video
    from ..video.windows import check_long_enough

    if args.batch_size < 1:
        raise HalstedError(f"--batch-size must be at least 1, got {args.batch_size}")
    out = args.out or os.path.splitext(os.path.basename(args.video))[0] + ".timeline.json"
    outputs = {"--out": out, "--csv": args.csv, "--vtt": args.vtt}
    check_outputs(args.video, {k: v for k, v in outputs.items() if v})  # before any model or frame
    resolve_model(args.model)  # an unknown model name or a missing folder: before torch loads too
    plans = plans_of(args.model)  # what the model maps, from its config (None: a Hub id, known once loaded)
    plan = None
    if plans is not None:  # before anything slow
        args.mapping = check_mapping(args.mapping or next(iter(plans)), plans, args.model)
        plan = plans[args.mapping]
    from ..mapping.reliability import for_model
    reliability = for_model(args.model)  # a broken reliability.json: refused before any frame is mapped
    info = validate_video(args.video)  # a bad file is refused before torch loads: a second, not ten
    if plan is not None:
        check_long_enough(args.video, info.duration_s, plan.stage2_window_s)  # so is one too short to map
    from ..mapping.outputs import write_atomically
    from ..mapping.workflow import map_video
    from ..model.hub import check_device
    from ..video.decode import TruncatedVideoWarning
    check_device(args.device)
    from transformers.utils import logging as hf_logging
    hf_logging.disable_progress_bar()  # our bar is the one the user watches
    bar = None
    if not args.no_progress:
        from tqdm import tqdm
        bar = tqdm(total=0, unit="clip", desc=f"mapping ({args.mapping or 'the model default'})", file=sys.stderr,
                   leave=False,
                   disable=None)

    def progress(done: int, total: int) -> None:
        if bar is not None:
            bar.total = total
            bar.n = done
            bar.refresh()

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", TruncatedVideoWarning)
            timeline = map_video(args.video, mapping=args.mapping, model=_model(args), device=args.device,
                                 batch_size=args.batch_size, progress=progress, precision=args.precision)
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
    write_atomically(files)
    for message in timeline.warnings:
        print(f"halsted map: warning: {message}", file=sys.stderr)
    if timeline.ood_warning():  # the out-of-distribution check (mapping/ood.py)
        print(f"halsted map: warning: {timeline.ood_warning()} (score {timeline.ood['score']:.2f}, threshold "
              f"{timeline.ood['threshold']:.2f})", file=sys.stderr)
    if reliability.unreliable:  # the model's card: these tags are not above their majority rate on held-out videos
        print(f"halsted map: note: not reliable on this model's held-out videos: {', '.join(reliability.unreliable)} "
              f"(marked in the subtitles and the CSV; reasons under \"reliability\" in {out})", file=sys.stderr)
    n = len(timeline.segments)
    print(f"wrote {out} ({n} segments, {timeline.workflow})" + "".join(f", {p}" for p, _ in files[1:]))
    return 0


def _model(args):
    """What map_video is given: the --model name, or, only when --trust-remote-code was passed, the model
    loaded here with the folder's own code allowed (the workflow itself never allows it)."""
    if not args.trust_remote_code:
        return args.model
    from ..mapping.workflow_engine import engine_for
    from ..model.registry import create, resolve

    net, processor = create(args.model, device=args.device, trust_remote_code=True)
    return engine_for(net, processor, resolve(args.model))


def check_outputs(video: str, outputs: dict) -> None:
    """Refuse, before the mapping starts, an output that is the input video or another output under
    any name (symlink, hard link, `..`), and one that cannot be written (a folder, a read-only one)."""
    from ..core.errors import HalstedError
    from ..mapping.outputs import check_output_path, same_file

    seen = []
    for flag, path in outputs.items():
        if same_file(path, video):
            raise HalstedError(f"{flag} {path} is the input video {video}; writing it would destroy the video. "
                               f"Choose another path")
        for other_flag, other in seen:
            if same_file(path, other):
                raise HalstedError(f"{flag} {path} and {other_flag} {other} are the same file; "
                                   f"give each output its own path")
        check_output_path(path, flag)
        seen.append((flag, path))
