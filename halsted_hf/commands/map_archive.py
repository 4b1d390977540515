"""`halsted map-archive SOURCE --out OUT`: map a folder (file list, glob) of videos on Ray into one archive.

Resumable: rerun the same command after a crash or Ctrl-C and it maps only what is not done yet.
See docs/archive.md for the archive's layout and for running on several machines.
"""

from __future__ import annotations

import sys


def configure(parser) -> None:
    parser.add_argument("source", metavar="SOURCE",
                        help="a folder of videos (searched recursively), a text file with one video path a line, "
                             "or a quoted glob such as 'cases/*.mp4'")
    parser.add_argument("--out", required=True, help="the archive folder (created; an existing archive is resumed)")
    parser.add_argument("--mapping", default="full", help="one of the model's mapping plans (the demo model's: "
                        "suturing | dissection | full | procedure); default: full, which every model has")
    parser.add_argument("--model", default=None,
                        help="model folder or Hub id, readable on every machine "
                             "(default: $HALSTED_MODEL or the bundled demo model)")
    parser.add_argument("--ray-address", default=None,
                        help="join a running Ray cluster: auto | HOST:PORT (default: start a local Ray for this run)")
    parser.add_argument("--workers", type=int, default=1, help="model-holding workers (default: 1)")
    parser.add_argument("--cpus-per-worker", type=float, default=None,
                        help="CPUs each worker reserves (default: the cluster's CPUs shared by the workers)")
    parser.add_argument("--gpus-per-worker", type=float, default=0.0,
                        help="GPUs each worker reserves; above 0 the model runs on CUDA (default: 0)")
    parser.add_argument("--batch-size", type=int, default=32, help="clips per model call (default: 32)")
    parser.add_argument("--max-attempts", type=int, default=3,
                        help="tries per video over all runs when a failure may pass, e.g. a crashed worker; "
                             "a video whose content is bad is not tried again (default: 3)")
    parser.add_argument("--dashboard", action="store_true",
                        help="with the local Ray: start Ray's dashboard too (needs ray[default])")
    parser.add_argument("--deidentify", action="store_true",
                        help="map each video's de-identified copy (`halsted deidentify`, made and deleted on the "
                             "worker): nothing is mapped in removed out-of-body stretches; the archive is another "
                             "archive than a plain run's")
    parser.add_argument("--no-progress", action="store_true", help="no progress line")


def run(args) -> int:
    from ..core.errors import HalstedError
    from ..core.mappings import check_mapping
    from ..model.registry import plans_of

    plans = plans_of(args.model)  # from the model's config; None for a Hub id (each actor checks once loaded)
    if plans is not None:
        check_mapping(args.mapping, plans, args.model)  # before starting Ray
    if args.batch_size < 1:
        raise HalstedError(f"--batch-size must be at least 1, got {args.batch_size}")
    try:
        import ray  # noqa: F401
    except ImportError:
        raise HalstedError('map-archive needs Ray: pip install "halsted-hf[archive]" (or "ray>=2.60")') from None
    from ..archive.run import map_archive, print_progress

    run = map_archive(args.source, args.out, mapping=args.mapping, model=args.model, ray_address=args.ray_address,
                      workers=args.workers, gpus_per_worker=args.gpus_per_worker,
                      cpus_per_worker=args.cpus_per_worker, batch_size=args.batch_size,
                      max_attempts=args.max_attempts, dashboard=args.dashboard,
                      progress=None if args.no_progress else print_progress(sys.stderr), deidentify=args.deidentify)
    for line in run.unreadable:
        print(f"halsted map-archive: error: {line}", file=sys.stderr)
    print(f"{run.total} videos: {run.done} mapped, {run.failed} failed, {run.skipped} already done, "
          f"{run.failed_before} failed before (not retried) | {run.video_s / 3600:.2f} h of video in "
          f"{run.wall_s:.0f} s ({run.hours_per_hour:.1f} h/h, {run.workers} workers) -> {args.out}")
    not_mapped = run.failed + run.failed_before
    if not_mapped:  # a script must see that the archive is incomplete
        print(f"halsted map-archive: {not_mapped} of {run.total} videos are not mapped ({run.failed} failed in this "
              f"run, {run.failed_before} before); their errors are in {args.out}/videos.parquet", file=sys.stderr)
        return 1
    return 0
