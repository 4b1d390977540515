"""Plain, immutable snapshots of rows, handed to pages and scripts.

Pages never hold ORM objects: a snapshot cannot lazy-load after its session closed, cannot be
modified behind the repository's back, and pickles into Streamlit's session state.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional

from .deid_upload import load_report
from .tables import Job, Result, Surgeon, Video


@dataclass(frozen=True)
class SurgeonRecord:
    id: int
    email: str
    name: str
    created_at: dt.datetime

    @classmethod
    def of(cls, row: Surgeon) -> "SurgeonRecord":
        return cls(row.id, row.email, row.name, row.created_at)


@dataclass(frozen=True)
class VideoRecord:
    id: int
    sha256: str
    path: Path  # absolute path of the stored file
    original_filename: str
    size_bytes: int
    duration_s: float
    fps: float
    width: int
    height: int
    thumbnail: Optional[Path]  # absolute path of the PNG, None if none could be made
    uploaded_at: dt.datetime
    procedure: Optional[str]
    # Set by an upload that found the same bytes already in this surgeon's library (this record is
    # that earlier video, under its first name), so the page can say so instead of "Stored".
    already_stored: bool = False
    proxy: Optional[Path] = None  # the browser-playable copy the worker made, if the upload needed one
    deidentification: Optional[Any] = None  # the stored copy's DeidReport (deid_upload.py); None: stored as uploaded

    @property
    def playable_path(self) -> Path:
        """What a browser is given: the proxy when there is one, else the upload itself."""
        return self.proxy if self.proxy is not None and self.proxy.is_file() else self.path

    @classmethod
    def of(cls, row: Video, data_dir: Path) -> "VideoRecord":
        return cls(
            id=row.id,
            sha256=row.sha256,
            path=data_dir / row.stored_path,
            original_filename=row.original_filename,
            size_bytes=row.size_bytes,
            duration_s=row.duration_s,
            fps=row.fps,
            width=row.width,
            height=row.height,
            thumbnail=(data_dir / row.thumbnail_path) if row.thumbnail_path else None,
            uploaded_at=row.uploaded_at,
            procedure=row.procedure,
            proxy=(data_dir / row.proxy_path) if row.proxy_path else None,
            deidentification=load_report(data_dir, row.sha256),
        )


@dataclass(frozen=True)
class JobRecord:
    id: int
    video_id: int
    mapping: str
    status: str  # queued | running | done | failed | cancelled
    progress_done: int
    progress_total: int
    error: Optional[str]
    attempts: int
    cancel_requested: bool
    worker_id: Optional[str]
    heartbeat_at: Optional[dt.datetime]
    created_at: dt.datetime
    started_at: Optional[dt.datetime]
    finished_at: Optional[dt.datetime]

    @property
    def fraction(self) -> float:
        """Progress in [0, 1] for a progress bar (1.0 once done)."""
        if self.status == "done":
            return 1.0
        return min(1.0, self.progress_done / self.progress_total) if self.progress_total else 0.0

    @property
    def active(self) -> bool:
        return self.status in ("queued", "running")

    @classmethod
    def of(cls, row: Job) -> "JobRecord":
        return cls(
            id=row.id,
            video_id=row.video_id,
            mapping=row.mapping,
            status=row.status,
            progress_done=row.progress_done,
            progress_total=row.progress_total,
            error=row.error,
            attempts=row.attempts,
            cancel_requested=bool(row.cancel_requested),
            worker_id=row.worker_id,
            heartbeat_at=row.heartbeat_at,
            created_at=row.created_at,
            started_at=row.started_at,
            finished_at=row.finished_at,
        )


@dataclass(frozen=True)
class ResultRecord:
    id: int
    video_id: int
    job_id: Optional[int]
    mapping: str
    timeline_json: str
    created_at: dt.datetime

    @property
    def timeline_dict(self) -> Dict[str, Any]:
        return json.loads(self.timeline_json)

    def timeline(self):
        """The result as a `halsted_hf.mapping.timeline.Timeline` (imported lazily)."""
        from halsted_hf.mapping.timeline import Timeline

        return Timeline.from_json(self.timeline_json)

    @classmethod
    def of(cls, row: Result) -> "ResultRecord":
        return cls(row.id, row.video_id, row.job_id, row.mapping, row.timeline_json, row.created_at)
