"""The mapping worker: takes jobs from the database and runs them through an inference backend.

Run as `halsted worker` (one per machine or per GPU; several may share a database). A worker

- re-queues, at start-up and whenever it is idle, the jobs of workers that died (jobs.requeue_stale),
- claims one job at a time (a guarded UPDATE: two workers never take the same job),
- heartbeats from a side thread while mapping, which is also how it learns that the surgeon
  cancelled the job or that the job was deleted or handed to someone else,
- stops a mapping that reports no progress for `settings.stall_after_s` and fails the job with a
  message (the mapping's decoders end with it) instead of holding the worker forever,
- writes progress (windows done / total) for the Map page's progress bar,
- stores the Timeline and marks the job done in one transaction, or records a clear failure.
"""

from __future__ import annotations

import sys
import threading
import time
import traceback
from typing import Callable, Optional

from sqlalchemy import select

from ..core.errors import HalstedError
from . import jobs, presence, storage
from .deid_upload import skip_removed
from .errors import BackendError, JobCancelled
from .inference import get_backend
from .tables import Video
from .records import JobRecord

PROGRESS_EVERY_S = 0.5  # at most two progress writes a second, whatever the window rate


def procedure_of(timeline) -> Optional[str]:
    """The video's procedure according to the timeline (for the library): its majority procedure, "mixed"
    when none holds most of the video (mapping/headline.py), or None (a mapping without stage-1 tags has none)."""
    from ..mapping.headline import procedure_label

    value = procedure_label(timeline.procedure_summary())
    return str(value)[:100] if value else None


class _JobWatch:
    """Heartbeat thread for one running job; exposes `cancel()` for the backend."""

    def __init__(self, Session, job_id: int, worker_id: str, every_s: float, stop: threading.Event,
                 stall_after_s: float = 600.0, data_dir=None):
        self.Session, self.job_id, self.worker_id, self.every_s = Session, job_id, worker_id, every_s
        self.data_dir = data_dir
        self.cancelled = threading.Event()  # the surgeon asked to cancel
        self.lost = threading.Event()  # the job is no longer ours: write nothing more
        self.shutdown = stop  # the worker is stopping: give the job back
        self.stalled = threading.Event()  # no progress for stall_after_s: stop the mapping, fail the job
        self.stall_after_s = stall_after_s
        self._moved = time.monotonic()  # when `done` last changed (the start counts)
        self._last_done: Optional[int] = None
        self._done = threading.Event()
        self._last_progress = 0.0
        self._thread = threading.Thread(target=self._loop, name=f"heartbeat-{job_id}", daemon=True)

    def __enter__(self) -> "_JobWatch":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._done.wait(self.every_s):
            if self.data_dir is not None:
                presence.touch(self.data_dir, self.worker_id)
            if time.monotonic() - self._moved > self.stall_after_s:
                self.stalled.set()  # cancel() now says stop; process() records why
            try:
                state = jobs.heartbeat(self.Session, self.job_id, self.worker_id)
            except Exception:  # noqa: BLE001 - a locked database now and then is not fatal
                traceback.print_exc()
                continue
            if state is None:
                self.lost.set()
            elif state:
                self.cancelled.set()

    def cancel(self) -> bool:
        return self.cancelled.is_set() or self.lost.is_set() or self.shutdown.is_set() or self.stalled.is_set()

    def progress(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done != self._last_done:
            self._last_done, self._moved = done, now
        if done < total and now - self._last_progress < PROGRESS_EVERY_S:
            return
        self._last_progress = now
        if not jobs.set_progress(self.Session, self.job_id, self.worker_id, done, total):
            self.lost.set()


class Worker:
    """Processes queued jobs of the platform's database with `backend` (default: get_backend)."""

    def __init__(self, platform, backend=None, worker_id: Optional[str] = None, poll_s: float = 2.0,
                 log: Callable[[str], None] = None):
        self.platform = platform
        self.settings = platform.settings
        self.Session = platform.Session
        self.backend = backend if backend is not None else get_backend(self.settings)
        self.worker_id = worker_id or jobs.make_worker_id()
        self.poll_s = poll_s
        self.stop = threading.Event()
        self.log = log or (lambda msg: print(f"[halsted worker {self.worker_id}] {msg}", file=sys.stderr, flush=True))

    def requeue_stale(self) -> list:
        ids = jobs.requeue_stale(self.Session, self.settings.stale_after_s, self.settings.max_attempts)
        if ids:
            self.log(f"re-queued job(s) {ids} left by a worker that stopped")
        return ids

    def run(self, once: bool = False) -> int:
        """Work until stopped (or, with once=True, until the queue is empty). Returns the number of
        jobs processed."""
        self.log(f"started with {self.backend!r}")
        data_dir = self.settings.data_dir
        presence.touch(data_dir, self.worker_id)  # the Map page: mapping is not paused
        self.requeue_stale()
        processed = 0
        try:
            while not self.stop.is_set():
                if self.run_one() is not None:
                    processed += 1
                    continue
                if once:
                    break
                presence.touch(data_dir, self.worker_id)
                self.stop.wait(self.poll_s)
                self.requeue_stale()
        finally:
            presence.gone(data_dir, self.worker_id)
        return processed

    def run_one(self) -> Optional[str]:
        """Claim and process one job; returns its final status, or None if the queue is empty."""
        job = jobs.claim_next(self.Session, self.worker_id)
        if job is None:
            return None
        return self.process(job)

    def make_proxy(self, job: JobRecord, cancel: Callable[[], bool]) -> None:
        """A browser-playable copy for the Review page when the upload is not one (storage.ensure_proxy).
        Failing here does not fail the mapping: Review then offers the upload itself and says why."""
        try:
            if storage.ensure_proxy(self.settings, self.Session, job.video_id, cancel=cancel):
                self.log(f"job {job.id}: video {job.video_id} has a browser-playable proxy")
        except Exception as err:  # noqa: BLE001 - the mapping result matters more than the preview
            self.log(f"job {job.id}: no browser-playable proxy for video {job.video_id}: {err}")

    def process(self, job: JobRecord) -> str:
        self.log(f"job {job.id}: mapping video {job.video_id} ({job.mapping}), attempt {job.attempts}")
        with self.Session() as db:
            stored = db.scalar(select(Video.stored_path).where(Video.id == job.video_id))
        path = self.settings.data_dir / stored if stored else None
        if path is None or not path.is_file():
            jobs.finish(self.Session, job.id, self.worker_id, "failed",
                        "The video's file is missing from the data directory: delete the video and upload it again.")
            return "failed"

        with _JobWatch(self.Session, job.id, self.worker_id, self.settings.heartbeat_s, self.stop,
                       self.settings.stall_after_s, self.settings.data_dir) as watch:
            try:
                timeline = self.backend.map_video(str(path), job.mapping, progress=watch.progress, cancel=watch.cancel)
                timeline = skip_removed(self.settings, self.Session, job.video_id, timeline)
                error = None
                self.make_proxy(job, watch.cancel)  # while the heartbeat still holds the job
            except JobCancelled:
                timeline, error = None, None
            except BackendError as err:
                timeline, error = None, str(err) + ("" if err.retryable else " (retrying will not help)")
            except HalstedError as err:
                timeline, error = None, str(err)
            except Exception as err:  # noqa: BLE001 - record it for the surgeon, keep the worker alive
                traceback.print_exc()
                timeline = None
                error = (f"Mapping failed with an internal error ({type(err).__name__}: {err}). The worker's "
                         "log has the details; retry the job, and report it if it fails again.")

        if watch.lost.is_set():
            self.log(f"job {job.id}: no longer ours (deleted, or re-queued): result dropped")
            return "lost"
        if watch.cancelled.is_set():
            jobs.finish(self.Session, job.id, self.worker_id, "cancelled")
            self.log(f"job {job.id}: cancelled")
            return "cancelled"
        if self.stop.is_set() and timeline is None:
            jobs.release(self.Session, job.id, self.worker_id)
            self.log(f"job {job.id}: worker stopping, job put back in the queue")
            return "queued"
        if watch.stalled.is_set() and timeline is None:
            error = (f"The mapping made no progress for {self.settings.stall_after_s:g} s and was stopped (damaged "
                     "video data, or decoding stuck). Retry the job; if it stalls again, export the video again "
                     "as an MP4 (H.264) and upload that.")
        if error is not None or timeline is None:
            error = error or "The mapping was stopped before it finished: retry the job."
            jobs.finish(self.Session, job.id, self.worker_id, "failed", error)
            self.log(f"job {job.id}: failed: {error}")
            return "failed"
        result_id = jobs.complete(self.Session, job.id, self.worker_id, timeline.to_json(), procedure_of(timeline))
        if result_id is None:
            self.log(f"job {job.id}: no longer ours when it finished: result dropped")
            return "lost"
        self.log(f"job {job.id}: done, result {result_id}")
        return "done"
