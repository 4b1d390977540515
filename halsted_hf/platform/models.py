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

from ..mapping.registry import MAPPINGS as MAPPING_REGISTRY

MAPPINGS = tuple(MAPPING_REGISTRY)  # the names a job may ask for: halsted_hf.mapping.registry
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
    """One sign-in attempt, kept for rate limiting (also for e-mails that have no account, so
    probing for accounts is throttled the same way)."""

    __tablename__ = "login_attempts"
    __table_args__ = (Index("ix_login_attempts_email_at", "email", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    success: Mapped[bool] = mapped_column(Boolean, default=False)


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
    mapping: Mapped[str] = mapped_column(String(20))
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
    mapping: Mapped[str] = mapped_column(String(20))
    timeline_json: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    video: Mapped[Video] = relationship(back_populates="results")
    job: Mapped[Optional[Job]] = relationship(back_populates="result")
