"""Whether a mapping worker is running, for the Map page's words ("mapping is paused").

Each worker touches a file named after it under DATA_DIR/workers/ while it runs (between polls when idle, with
every heartbeat while mapping) and removes it when it stops. A file touched within ALIVE_S says a worker is
there; a killed worker's file simply grows old. Files, not a table: no migration, and a worker on another
machine that shares the data directory (it reads the videos from there) counts too.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

ALIVE_S = 15.0  # several idle polls (2 s) or heartbeats (2 s): a busy database may delay one or two


def _folder(data_dir) -> Path:
    return Path(data_dir) / "workers"


def _file(data_dir, worker_id: str) -> Path:
    return _folder(data_dir) / (re.sub(r"[^A-Za-z0-9._-]", "_", worker_id)[:200] + ".alive")


def touch(data_dir, worker_id: str) -> None:
    """This worker is alive now."""
    path = _file(data_dir, worker_id)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    except OSError:  # a read-only data dir must not stop mapping: the page then says less
        pass


def gone(data_dir, worker_id: str) -> None:
    """This worker stopped."""
    try:
        _file(data_dir, worker_id).unlink()
    except OSError:
        pass


def any_alive(data_dir, within_s: float = ALIVE_S) -> bool:
    """Whether some worker was alive within the last `within_s` seconds."""
    now = time.time()
    try:
        return any(now - p.stat().st_mtime < within_s for p in _folder(data_dir).glob("*.alive"))
    except OSError:
        return False
