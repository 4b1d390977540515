"""Mapping jobs: a queue that lives in the database.

State machine (column `status`):

    queued --claim--> running --complete--> done
       ^                 |  \\--fail------> failed  --retry--> queued
       |                 |   \\--cancel----> cancelled --retry--> queued
       +--requeue_stale--+   (worker dead: heartbeat older than stale_after_s, or its pid is gone)

Every transition is one guarded UPDATE (`... WHERE id = :id AND status = :expected [AND
worker_id = :me]`) whose rowcount says whether it happened, so two workers never take one job
and a worker that lost its job (re-queued, cancelled, deleted) cannot write over the next owner.
Completion writes the Result and marks the job done in one transaction; results.job_id is
unique, so a retried completion cannot store a second Result.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from typing import List, Optional

from sqlalchemy import select, update

from .errors import JobStateError, NotFoundError
from ..core.mappings import check_mapping, check_mapping_name
from .tables import Job, Result, Video, utcnow
from .records import JobRecord
from .storage import owned_video


def owned_job(db, owner_id: int, job_id: int) -> Job:
    row = db.scalar(select(Job).where(Job.id == job_id, Job.owner_id == owner_id))
    if row is None:
        raise NotFoundError(f"Job {job_id} is not one of your jobs: pick one from the Map page.")
    return row


# -- surgeon-side (scoped by owner_id) ------------------------------------------------------
def enqueue(Session, owner_id: int, video_id: int, mapping: str, plans) -> JobRecord:
    """Queue a mapping (one of `plans`, the platform model's plan names) of one of the surgeon's videos. If the
    same mapping of that video is already queued or running, that job is returned instead of a second one (a
    double click maps once)."""
    check_mapping(mapping, plans)
    with Session.begin() as db:
        owned_video(db, owner_id, video_id)
        active = db.scalar(
            select(Job).where(Job.owner_id == owner_id, Job.video_id == video_id, Job.mapping == mapping,
                              Job.status.in_(("queued", "running"))).order_by(Job.id.desc())
        )
        if active is not None:
            return JobRecord.of(active)
        job = Job(owner_id=owner_id, video_id=video_id, mapping=mapping, status="queued",
                  progress_done=0, progress_total=0, attempts=0, cancel_requested=False)
        db.add(job)
        db.flush()
        return JobRecord.of(job)


def cancel(Session, owner_id: int, job_id: int) -> JobRecord:
    """Cancel a job: a queued one at once, a running one as soon as its worker notices (within a
    heartbeat). Finished jobs are left as they are."""
    with Session.begin() as db:
        job = owned_job(db, owner_id, job_id)
        if job.status == "queued":
            job.status, job.finished_at = "cancelled", utcnow()
        elif job.status == "running":
            job.cancel_requested = True
        return JobRecord.of(job)


def retry(Session, owner_id: int, job_id: int) -> JobRecord:
    """Queue a failed or cancelled job again (e.g. after the Space woke up)."""
    with Session.begin() as db:
        job = owned_job(db, owner_id, job_id)
        if job.status not in ("failed", "cancelled"):
            raise JobStateError(f"Job {job_id} is {job.status}: only failed or cancelled jobs can be retried.")
        job.status, job.error, job.cancel_requested = "queued", None, False
        job.attempts, job.progress_done, job.progress_total = 0, 0, 0
        job.worker_id = job.heartbeat_at = job.started_at = job.finished_at = None
        return JobRecord.of(job)


def record_result(Session, owner_id: int, video_id: int, mapping: str, timeline_json: str,
                  procedure: Optional[str] = None) -> int:
    """Store a Timeline mapped elsewhere (an import, or the demo account's seeded procedure) as a
    done job with its Result, in one transaction; returns the Result id."""
    check_mapping_name(mapping)
    with Session.begin() as db:
        owned_video(db, owner_id, video_id)
        now = utcnow()
        job = Job(owner_id=owner_id, video_id=video_id, mapping=mapping, status="done", progress_done=1,
                  progress_total=1, attempts=0, cancel_requested=False, worker_id="import",
                  created_at=now, started_at=now, finished_at=now)
        db.add(job)
        db.flush()
        result = Result(owner_id=owner_id, video_id=video_id, job_id=job.id, mapping=mapping,
                        timeline_json=timeline_json)
        db.add(result)
        if procedure:
            db.execute(update(Video).where(Video.id == video_id).values(procedure=procedure)
                       .execution_options(synchronize_session=False))
        db.flush()
        return result.id


# -- worker-side ----------------------------------------------------------------------------
def make_worker_id() -> str:
    """host:pid:nonce. Host and pid let a worker on the same host see at once that another
    worker's process is gone; the nonce keeps a reused pid from passing for the old worker."""
    return f"{socket.gethostname()}:{os.getpid()}:{os.urandom(4).hex()}"


def claim_next(Session, worker_id: str) -> Optional[JobRecord]:
    """Take the oldest queued job for `worker_id`, or None when the queue is empty.

    Candidates are read, then taken with a compare-and-set UPDATE guarded by status='queued':
    of two workers racing for one job, exactly one UPDATE matches a row."""
    while True:
        with Session() as db:
            candidates = db.scalars(
                select(Job.id).where(Job.status == "queued").order_by(Job.created_at, Job.id).limit(8)
            ).all()
        if not candidates:
            return None
        for job_id in candidates:
            now = utcnow()
            with Session.begin() as db:
                taken = db.execute(
                    update(Job)
                    .where(Job.id == job_id, Job.status == "queued")
                    .values(status="running", worker_id=worker_id, heartbeat_at=now, started_at=now,
                            attempts=Job.attempts + 1, progress_done=0, progress_total=0, error=None)
                    .execution_options(synchronize_session=False)
                ).rowcount
            if taken == 1:
                with Session() as db:
                    return JobRecord.of(db.get(Job, job_id))
        # Every candidate was taken by someone else in the meantime: look again.


def heartbeat(Session, job_id: int, worker_id: str) -> Optional[bool]:
    """Refresh the job's heartbeat. Returns cancel_requested, or None when the job is no longer
    this worker's (deleted, re-queued after a stall, taken by another worker): stop working."""
    with Session.begin() as db:
        owned = db.execute(
            update(Job).where(Job.id == job_id, Job.worker_id == worker_id, Job.status == "running")
            .values(heartbeat_at=utcnow()).execution_options(synchronize_session=False)
        ).rowcount
        if not owned:
            return None
        return bool(db.scalar(select(Job.cancel_requested).where(Job.id == job_id)))


def set_progress(Session, job_id: int, worker_id: str, done: int, total: int) -> bool:
    """Record progress (windows done / total); returns False if the job is no longer ours."""
    with Session.begin() as db:
        return db.execute(
            update(Job).where(Job.id == job_id, Job.worker_id == worker_id, Job.status == "running")
            .values(progress_done=int(done), progress_total=int(total), heartbeat_at=utcnow())
            .execution_options(synchronize_session=False)
        ).rowcount == 1


def complete(Session, job_id: int, worker_id: str, timeline_json: str,
             procedure: Optional[str] = None) -> Optional[int]:
    """Mark the job done and store its Result in one transaction; returns the Result id, or None
    when the job is no longer ours (then nothing is written)."""
    with Session.begin() as db:
        job = db.scalar(select(Job).where(Job.id == job_id, Job.worker_id == worker_id, Job.status == "running"))
        if job is None:
            return None
        done = db.execute(
            update(Job).where(Job.id == job_id, Job.worker_id == worker_id, Job.status == "running")
            .values(status="done", finished_at=utcnow(), progress_done=Job.progress_total)
            .execution_options(synchronize_session=False)
        ).rowcount
        if done != 1:
            return None
        result = Result(owner_id=job.owner_id, video_id=job.video_id, job_id=job.id,
                        mapping=job.mapping, timeline_json=timeline_json)
        db.add(result)
        if procedure:
            db.execute(update(Video).where(Video.id == job.video_id).values(procedure=procedure)
                       .execution_options(synchronize_session=False))
        db.flush()
        return result.id


def finish(Session, job_id: int, worker_id: str, status: str, error: Optional[str] = None) -> bool:
    """End a running job as 'failed' (with a message saying what went wrong and what to do) or
    'cancelled'. Returns False if the job is no longer ours."""
    assert status in ("failed", "cancelled")
    with Session.begin() as db:
        return db.execute(
            update(Job).where(Job.id == job_id, Job.worker_id == worker_id, Job.status == "running")
            .values(status=status, error=error, finished_at=utcnow())
            .execution_options(synchronize_session=False)
        ).rowcount == 1


def release(Session, job_id: int, worker_id: str) -> bool:
    """Give a running job back to the queue untouched (the worker is shutting down); the attempt
    does not count against max_attempts."""
    with Session.begin() as db:
        return db.execute(
            update(Job).where(Job.id == job_id, Job.worker_id == worker_id, Job.status == "running")
            .values(status="queued", worker_id=None, heartbeat_at=None, started_at=None,
                    progress_done=0, progress_total=0, attempts=Job.attempts - 1)
            .execution_options(synchronize_session=False)
        ).rowcount == 1


def _worker_is_dead(worker_id: Optional[str]) -> bool:
    """True when the worker ran on this host and its process no longer exists."""
    host, _, rest = (worker_id or "").partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # exists, owned by another user
        return False
    # The pid exists, but is it a zombie (killed, not yet reaped by its parent)?
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return False


def requeue_stale(Session, stale_after_s: float, max_attempts: int = 3,
                  now: Optional[dt.datetime] = None) -> List[int]:
    """Give running jobs of dead workers back to the queue: those whose heartbeat is older than
    `stale_after_s`, or whose worker process on this host is gone. A job that has already been
    attempted `max_attempts` times fails instead, with a message, rather than killing workers
    forever. Returns the ids of re-queued jobs."""
    now = now or utcnow()
    cutoff = now - dt.timedelta(seconds=stale_after_s)
    requeued: List[int] = []
    with Session() as db:
        running = db.execute(select(Job.id, Job.worker_id, Job.heartbeat_at, Job.attempts)
                             .where(Job.status == "running")).all()
    for job_id, worker_id, beat, attempts in running:
        if not (beat is None or beat < cutoff or _worker_is_dead(worker_id)):
            continue
        with Session.begin() as db:
            guard = (Job.id == job_id, Job.status == "running", Job.worker_id == worker_id)
            if attempts >= max_attempts:
                db.execute(update(Job).where(*guard).values(
                    status="failed", finished_at=now,
                    error=(f"The worker stopped {attempts} times while mapping this video (crashed or "
                           "ran out of memory): check the worker's log, then retry the job."),
                ).execution_options(synchronize_session=False))
                continue
            n = db.execute(update(Job).where(*guard).values(
                status="queued", worker_id=None, heartbeat_at=None, started_at=None,
                progress_done=0, progress_total=0,
            ).execution_options(synchronize_session=False)).rowcount
            if n:
                requeued.append(job_id)
    return requeued


def list_jobs(Session, owner_id: int, video_id: Optional[int] = None, status: Optional[str] = None) -> List[JobRecord]:
    with Session() as db:
        q = select(Job).where(Job.owner_id == owner_id)
        if video_id is not None:
            q = q.where(Job.video_id == video_id)
        if status is not None:
            q = q.where(Job.status.in_([status] if isinstance(status, str) else list(status)))
        return [JobRecord.of(j) for j in db.scalars(q.order_by(Job.created_at.desc(), Job.id.desc()))]
