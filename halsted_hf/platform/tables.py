"""The dashboard's tables (SQLAlchemy 2, typed `Mapped[...]` columns).

Every row a surgeon owns carries `owner_id`; the scoped repository in accounts.py filters every
query on it. Times are naive UTC (`utcnow()`): SQLite has no time zones, and one convention for
both back ends keeps comparisons (heartbeats, rate limits) simple.

The schema itself is created by the Alembic migrations in migrations/versions, never by
`create_all`; keep the two in step (tests compare them).
"""

from __future__ import annotations

import datetime as dt
from typing import List, Optional

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from ..core.mappings import NAME_LENGTH

JOB_STATUSES = ("queued", "running", "done", "failed", "cancelled")
ACTIVE_STATUSES = ("queued", "running")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class Surgeon(Base):
    __tablename__ = "surgeons"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)  # stored lower-case
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(255))  # argon2id, never the password
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    videos: Mapped[List["Video"]] = relationship(back_populates="owner", cascade="all, delete-orphan")


class LoginAttempt(Base):
    """One sign-in attempt, kept for throttling (also for e-mails that have no account, so
    probing for accounts is throttled the same way). `client` is who tried: "ip:<address>" for a
    browser not known to the account, "device:<hash>" for one that signed in to it before."""

    __tablename__ = "login_attempts"
    __table_args__ = (Index("ix_login_attempts_email_at", "email", "at"),
                      Index("ix_login_attempts_client_at", "client", "at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    success: Mapped[bool] = mapped_column(Boolean, default=False)
    client: Mapped[Optional[str]] = mapped_column(String(100), nullable=True)


class WebSession(Base):
    """A browser's sign-in (web.py, OWASP ASVS V3). The page that checked the password creates the row
    with a one-time `grant`; the browser trades it (POST, never a URL) for the HttpOnly session cookie,
    whose SHA-256 is `token_hash`. Sign-out sets `revoked_at`: the cookie is dead server-side whatever
    the browser keeps. `device_hash` names the browser (its long-lived device cookie) so that the
    owner's known browsers are not throttled by someone else's failed guesses."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    surgeon_id: Mapped[int] = mapped_column(ForeignKey("surgeons.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[Optional[str]] = mapped_column(String(64), unique=True, nullable=True)
    grant_hash: Mapped[Optional[str]] = mapped_column(String(64), unique=True, nullable=True)
    grant_expires_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime, nullable=True)
    device_hash: Mapped[Optional[str]] = mapped_column(String(64), index=True, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)
    revoked_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime, nullable=True)


class Video(Base):
    __tablename__ = "videos"
    # Per-surgeon dedupe: the same bytes uploaded twice by one surgeon are one video.
    __table_args__ = (UniqueConstraint("owner_id", "sha256", name="uq_videos_owner_sha256"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("surgeons.id", ondelete="CASCADE"), index=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    stored_path: Mapped[str] = mapped_column(String(500))  # relative to data_dir
    original_filename: Mapped[str] = mapped_column(String(500))  # display only, never a path
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    duration_s: Mapped[float] = mapped_column(Float)
    fps: Mapped[float] = mapped_column(Float)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    thumbnail_path: Mapped[Optional[str]] = mapped_column(String(500), nullable=True)  # relative
    uploaded_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    procedure: Mapped[Optional[str]] = mapped_column(String(100), nullable=True)  # set once mapped
    # A browser-playable copy (H.264 yuv420p + AAC, MP4, faststart) made by the worker when the upload
    # is not one already; relative to data_dir, shared by identical uploads like stored_path.
    proxy_path: Mapped[Optional[str]] = mapped_column(String(500), nullable=True)

    owner: Mapped[Surgeon] = relationship(back_populates="videos")
    jobs: Mapped[List["Job"]] = relationship(back_populates="video", cascade="all, delete-orphan")
    results: Mapped[List["Result"]] = relationship(back_populates="video", cascade="all, delete-orphan")


class Job(Base):
    """A mapping request. Life cycle: queued -> running -> done | failed | cancelled; a running
    job whose worker died goes back to queued (jobs.requeue_stale)."""

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_status_created", "status", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("surgeons.id", ondelete="CASCADE"), index=True)
    video_id: Mapped[int] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"), index=True)
    mapping: Mapped[str] = mapped_column(String(NAME_LENGTH))
    status: Mapped[str] = mapped_column(String(12), default="queued")
    progress_done: Mapped[int] = mapped_column(Integer, default=0)
    progress_total: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[Optional[str]] = mapped_column(Text, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    worker_id: Mapped[Optional[str]] = mapped_column(String(200), nullable=True)
    heartbeat_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    started_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime, nullable=True)
    finished_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime, nullable=True)

    video: Mapped[Video] = relationship(back_populates="jobs")
    result: Mapped[Optional["Result"]] = relationship(back_populates="job")


class Result(Base):
    """A finished mapping: the Timeline JSON. One per job at most (unique job_id), so a retried
    completion can never store a duplicate."""

    __tablename__ = "results"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("surgeons.id", ondelete="CASCADE"), index=True)
    video_id: Mapped[int] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"), index=True)
    job_id: Mapped[Optional[int]] = mapped_column(
        ForeignKey("jobs.id", ondelete="SET NULL"), unique=True, nullable=True
    )
    mapping: Mapped[str] = mapped_column(String(NAME_LENGTH))
    timeline_json: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    video: Mapped[Video] = relationship(back_populates="results")
    job: Mapped[Optional[Job]] = relationship(back_populates="result")


CORRECTION_KINDS = ("category", "split", "merge", "not-surgery")


class Correction(Base):
    """A surgeon's correction of one result: a layer over the model's Timeline, never an overwrite.

    Corrections of a result apply in `id` order to the Timeline as the model wrote it
    (platform/corrections.py); `undone_at` takes one back without forgetting it. `change` is the edit
    (JSON: which segment, tag, category, time) and `replaced` the segments it replaced, as they were
    just before it (JSON list of Segment dicts): who (owner_id), when (created_at), what it replaced."""

    __tablename__ = "corrections"
    __table_args__ = (Index("ix_corrections_owner_result", "owner_id", "result_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("surgeons.id", ondelete="CASCADE"))
    result_id: Mapped[int] = mapped_column(ForeignKey("results.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # CORRECTION_KINDS
    change: Mapped[str] = mapped_column(Text)
    replaced: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    undone_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime, nullable=True)
