"""`halsted worker`: run the dashboard's mapping jobs (see halsted_hf/platform/worker.py)."""

from __future__ import annotations

import signal


def configure(parser) -> None:
    parser.add_argument("--once", action="store_true", help="exit when the queue is empty instead of waiting for jobs")
    parser.add_argument("--poll", type=float, default=2.0, metavar="S",
                        help="seconds between queue checks when idle (default 2)")
    parser.add_argument("--database-url", default=None,
                        help="SQLAlchemy URL (default: HALSTED_DATABASE_URL or the SQLite file in the data dir)")
    parser.add_argument("--data-dir", default=None, help="data directory (default: HALSTED_DATA_DIR or ~/.halsted)")
    from . import model_help

    parser.add_argument("--model", default=None, help=model_help())
    parser.add_argument("--space", default=None,
                        help="map on this Hugging Face Space or URL instead (default: HALSTED_SPACE)")
    parser.add_argument("--heartbeat", type=float, default=None, metavar="S",
                        help="heartbeat interval in seconds (default 2)")
    parser.add_argument("--stale-after", type=float, default=None, metavar="S",
                        help="re-queue running jobs whose heartbeat is older than this (default 60)")
    parser.add_argument("--stall-after", type=float, default=None, metavar="S",
                        help="stop and fail a job whose mapping reports no progress for this long (default 600)")


def run(args) -> int:
    from ..core.errors import HalstedError
    from ..platform import Platform, Settings
    from ..platform.worker import Worker

    if args.poll <= 0:
        raise HalstedError(f"--poll must be a positive number of seconds, not {args.poll}.")
    settings = Settings.from_env(data_dir=args.data_dir, database_url=args.database_url, model=args.model,
                                 space=args.space, heartbeat_s=args.heartbeat, stale_after_s=args.stale_after,
                                 stall_after_s=args.stall_after)
    worker = Worker(Platform(settings), poll_s=args.poll)

    def stop(signum, _frame):  # finish cleanly: the running job goes back to the queue
        worker.log(f"signal {signum}: stopping")
        worker.stop.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    processed = worker.run(once=args.once)
    worker.log(f"stopped after {processed} job(s)")
    return 0
