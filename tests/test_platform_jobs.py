"""The job queue: validation, atomic claims across processes, stale re-queueing, guarded completion."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import subprocess
import sys

import pytest
from sqlalchemy import select, update

from halsted_hf.core.errors import TaskError
from halsted_hf.platform import JobStateError
from halsted_hf.platform import jobs
from halsted_hf.platform.tables import Job, Result, utcnow

from helpers import claim_all_jobs, make_timeline


@pytest.fixture
def video_id(alice, videos):
    return alice.upload_video(videos["a"]).id


def test_enqueue_validates_mapping_and_ignores_double_clicks(alice, video_id):
    with pytest.raises(TaskError,
                       match="Unknown mapping 'stitching': this model maps suturing, dissection, full, procedure"):
        alice.enqueue_job(video_id, "stitching")
    first = alice.enqueue_job(video_id, "suturing")
    assert first.status == "queued" and first.attempts == 0 and first.fraction == 0.0
    assert alice.enqueue_job(video_id, "suturing").id == first.id  # already queued: same job
    other = alice.enqueue_job(video_id, "dissection")
    assert other.id != first.id
    assert [j.id for j in alice.list_jobs(status="queued")] == [other.id, first.id]  # newest first




def test_concurrent_workers_never_claim_the_same_job(platform, alice, bob, videos):
    va, vb = alice.upload_video(videos["a"]).id, bob.upload_video(videos["b"]).id
    queued = set()
    for mapping in ("suturing", "dissection", "full", "procedure"):
        for session, vid in ((alice, va), (bob, vb)):
            queued.add(session.enqueue_job(vid, mapping).id)
    # More jobs than distinct (video, mapping) pairs: add rows directly, as many surgeons would.
    with platform.Session.begin() as db:
        for i in range(32):
            db.add(Job(owner_id=alice.id, video_id=va, mapping="suturing", status="queued", progress_done=0,
                       progress_total=0, attempts=0, cancel_requested=False))
    with platform.Session() as db:
        queued = set(db.scalars(select(Job.id).where(Job.status == "queued")))
    assert len(queued) == 40

    ctx = multiprocessing.get_context("fork")
    start, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=claim_all_jobs, args=(platform.settings.database_url, start, out)) for _ in range(4)]
    for p in procs:
        p.start()
    start.set()
    claimed = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    flat = [i for ids in claimed for i in ids]
    assert len(flat) == len(set(flat)) == 40  # every job exactly once
    assert set(flat) == queued
    with platform.Session() as db:
        rows = db.execute(select(Job.status, Job.worker_id, Job.attempts)).all()
    assert all(s == "running" and w and a == 1 for s, w, a in rows)
    assert len({w for _, w, _ in rows}) >= 2  # the work really was shared out


def _set_running(platform, job_id, worker_id, beat):
    with platform.Session.begin() as db:
        db.execute(update(Job).where(Job.id == job_id).values(status="running", worker_id=worker_id,
                                                               heartbeat_at=beat, attempts=1))


def test_stale_heartbeat_and_dead_local_worker_are_requeued(platform, alice, video_id):
    old, fresh, dead_pid, live = (alice.enqueue_job(video_id, m).id for m in MAPPINGS4)
    now = utcnow()
    _set_running(platform, old, "otherhost:1:aa", now - dt.timedelta(seconds=120))
    _set_running(platform, fresh, "otherhost:2:bb", now)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    _set_running(platform, dead_pid, f"{os.uname().nodename}:{gone.pid}:cc", now)
    _set_running(platform, live, f"{os.uname().nodename}:{os.getpid()}:dd", now)

    requeued = jobs.requeue_stale(platform.Session, stale_after_s=60)
    assert sorted(requeued) == sorted([old, dead_pid])
    statuses = {j.id: (j.status, j.worker_id) for j in alice.list_jobs()}
    assert statuses[old] == ("queued", None) and statuses[dead_pid] == ("queued", None)
    assert statuses[fresh][0] == "running" and statuses[live][0] == "running"
    # the dead worker cannot write over the job any more, even if it comes back
    assert jobs.set_progress(platform.Session, old, "otherhost:1:aa", 1, 2) is False
    assert jobs.complete(platform.Session, old, "otherhost:1:aa", make_timeline().to_json()) is None
    assert alice.list_results() == []


MAPPINGS4 = ("suturing", "dissection", "full", "procedure")


def test_job_that_keeps_killing_workers_fails_with_a_message(platform, alice, video_id):
    job = alice.enqueue_job(video_id, "full").id
    _set_running(platform, job, "otherhost:1:aa", utcnow() - dt.timedelta(hours=1))
    with platform.Session.begin() as db:
        db.execute(update(Job).where(Job.id == job).values(attempts=3))
    assert jobs.requeue_stale(platform.Session, stale_after_s=60, max_attempts=3) == []
    rec = alice.get_job(job)
    assert rec.status == "failed" and "stopped 3 times" in rec.error and "retry" in rec.error
    assert alice.retry_job(job).status == "queued"
    assert alice.get_job(job).attempts == 0


def test_completion_is_guarded_and_stores_one_result(platform, alice, video_id):
    job = alice.enqueue_job(video_id, "suturing")
    claimed = jobs.claim_next(platform.Session, "w1")
    assert (claimed.id, claimed.status, claimed.worker_id, claimed.attempts) == (job.id, "running", "w1", 1)
    assert jobs.claim_next(platform.Session, "w2") is None  # nothing else queued
    assert jobs.heartbeat(platform.Session, job.id, "w2") is None  # not w2's job
    assert jobs.heartbeat(platform.Session, job.id, "w1") is False
    assert jobs.set_progress(platform.Session, job.id, "w1", 3, 4)
    assert alice.get_job(job.id).fraction == 0.75
    text = make_timeline().to_json()
    rid = jobs.complete(platform.Session, job.id, "w1", text, "prostatectomy")
    assert rid is not None
    assert jobs.complete(platform.Session, job.id, "w1", text, "prostatectomy") is None  # a retried completion
    with platform.Session() as db:
        assert db.scalars(select(Result.id).where(Result.job_id == job.id)).all() == [rid]
    rec = alice.get_job(job.id)
    assert rec.status == "done" and rec.fraction == 1.0 and rec.finished_at is not None
    assert alice.get_video(video_id).procedure == "prostatectomy"
    assert alice.get_result(rid).timeline().to_json() == text
    with pytest.raises(JobStateError, match="only failed or cancelled"):
        alice.retry_job(job.id)


def test_cancel_queued_is_immediate_and_running_is_flagged(platform, alice, video_id):
    queued = alice.enqueue_job(video_id, "suturing")
    assert alice.cancel_job(queued.id).status == "cancelled"
    assert jobs.claim_next(platform.Session, "w") is None
    running = alice.enqueue_job(video_id, "dissection")
    jobs.claim_next(platform.Session, "w")
    rec = alice.cancel_job(running.id)
    assert rec.status == "running" and rec.cancel_requested
    assert jobs.heartbeat(platform.Session, running.id, "w") is True  # the worker learns it here
    assert alice.retry_job(queued.id).status == "queued"
