"""The worker: progress, results, failures, cancellation, lost jobs, shutdown; and a real
`halsted worker` process killed mid-job whose job the next worker finishes exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from sqlalchemy import select

from halsted_hf.core.errors import VideoError
from halsted_hf.platform import BackendError
from halsted_hf.platform.tables import Job, Result
from halsted_hf.platform.worker import Worker

from helpers import TimelineBackend, make_timeline, make_video


@pytest.fixture
def fast(platform):
    platform.settings.heartbeat_s = 0.05
    return platform


def worker_with(platform, backend):
    return Worker(platform, backend=backend, poll_s=0.05, log=lambda msg: None)


def test_worker_maps_queued_jobs_of_all_surgeons(fast, alice, bob, videos):
    va, vb = alice.upload_video(videos["a"]), bob.upload_video(videos["b"])
    ja, jb = alice.enqueue_job(va.id, "suturing"), bob.enqueue_job(vb.id, "full")
    backend = TimelineBackend(make_timeline(procedure="hysterectomy"), steps=4)
    assert worker_with(fast, backend).run(once=True) == 2
    assert sorted(backend.calls) == sorted([(str(va.path), "suturing"), (str(vb.path), "full")])
    for session, job, video in ((alice, ja, va), (bob, jb, vb)):
        rec = session.get_job(job.id)
        assert (rec.status, rec.progress_done, rec.progress_total, rec.error) == ("done", 4, 4, None)
        [res] = session.list_results(video.id)
        assert res.job_id == job.id and res.timeline().to_json() == backend.timeline.to_json()
        assert session.get_video(video.id).procedure == "hysterectomy"


@pytest.mark.parametrize("error, expected", [
    (VideoError("case-a.mp4: decoding stopped at 1.2 s"), "case-a.mp4: decoding stopped at 1.2 s"),
    (BackendError("The Space x is asleep: retry in a minute."), "The Space x is asleep: retry in a minute."),
    (BackendError("The Space refused the video: bad", retryable=False), "(retrying will not help)"),
    (ZeroDivisionError("division by zero"), "internal error (ZeroDivisionError: division by zero)"),
])
def test_failures_are_recorded_with_a_clear_message(fast, alice, videos, error, expected):
    v = alice.upload_video(videos["a"])
    job = alice.enqueue_job(v.id, "suturing")
    assert worker_with(fast, TimelineBackend(fail=error)).run_one() == "failed"
    rec = alice.get_job(job.id)
    assert rec.status == "failed" and expected in rec.error and rec.finished_at is not None
    assert alice.list_results() == []
    # the surgeon can retry; this time it works
    alice.retry_job(job.id)
    assert worker_with(fast, TimelineBackend()).run_one() == "done"
    assert len(alice.list_results()) == 1


def test_cancel_while_running_stops_the_job_without_result(fast, alice, videos):
    v = alice.upload_video(videos["a"])
    job = alice.enqueue_job(v.id, "suturing")

    def on_step(i):
        if i == 1:
            alice.cancel_job(job.id)
        time.sleep(0.3)  # several heartbeats: the worker notices

    assert worker_with(fast, TimelineBackend(steps=6, on_step=on_step)).run_one() == "cancelled"
    rec = alice.get_job(job.id)
    assert rec.status == "cancelled" and rec.progress_done < 6
    assert alice.list_results() == []


def test_deleting_the_video_mid_job_drops_the_result(fast, alice, videos):
    v = alice.upload_video(videos["a"])
    alice.enqueue_job(v.id, "suturing")

    def on_step(i):
        if i == 1:
            alice.delete_video(v.id)

    assert worker_with(fast, TimelineBackend(steps=3, on_step=on_step)).run_one() == "lost"
    with fast.Session() as db:
        assert db.scalars(select(Result)).all() == [] and db.scalars(select(Job)).all() == []


def test_stopping_worker_puts_its_job_back(fast, alice, videos):
    v = alice.upload_video(videos["a"])
    job = alice.enqueue_job(v.id, "suturing")
    worker = worker_with(fast, TimelineBackend(steps=5, on_step=lambda i: i == 1 and worker.stop.set()))
    assert worker.run() == 1
    rec = alice.get_job(job.id)
    assert (rec.status, rec.worker_id, rec.attempts) == ("queued", None, 0)
    assert worker_with(fast, TimelineBackend()).run(once=True) == 1
    assert alice.get_job(job.id).status == "done"


def test_missing_video_file_fails_with_advice(fast, alice, videos):
    v = alice.upload_video(videos["a"])
    job = alice.enqueue_job(v.id, "suturing")
    v.path.unlink()
    assert worker_with(fast, TimelineBackend()).run_one() == "failed"
    assert "upload it again" in alice.get_job(job.id).error


# -- a real worker process, killed mid-job ---------------------------------------------------
def _worker_cmd(data_dir, *extra):
    return [sys.executable, "-m", "halsted_hf.cli", "worker", "--data-dir", str(data_dir), "--poll", "0.2",
            "--heartbeat", "0.5", *extra]


@pytest.mark.slow
def test_killed_worker_job_is_finished_by_the_next_worker_exactly_once(platform, alice, tiny_model_dir, tmp_path):
    """Needs the real workflow (halsted_hf.mapping.workflow.map_video) and a tiny random model."""
    # Long enough (hundreds of stage-2 windows) that the kill lands mid-job even on an idle machine, and
    # over 300 s, so decoded by worker processes: what `halsted serve`'s SIGKILL must not leave behind.
    video = alice.upload_video(make_video(tmp_path / "long.mp4", seconds=330.0, size="160x120", rate=10))
    job = alice.enqueue_job(video.id, "full")
    env = dict(os.environ, HALSTED_MODEL=tiny_model_dir, HALSTED_DATA_DIR=str(platform.settings.data_dir))
    env.pop("HALSTED_DATABASE_URL", None)
    env.pop("HALSTED_SPACE", None)

    first = subprocess.Popen(_worker_cmd(platform.settings.data_dir), env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline, running_since = time.monotonic() + 180, None
        while time.monotonic() < deadline:
            rec = alice.get_job(job.id)
            assert rec.status in ("queued", "running"), f"job ended before the kill: {rec}"
            if rec.status == "running":
                running_since = running_since or time.monotonic()
                if rec.progress_done > 0 or time.monotonic() - running_since > 2.0:
                    break
            assert first.poll() is None, first.stdout.read().decode()
            time.sleep(0.05)
        else:
            pytest.fail("the worker never started the job")
        from helpers import alive, descendants

        tree = descendants(first.pid)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
        deadline = time.monotonic() + 5
        while alive(tree) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not alive(tree), f"the killed worker's processes outlived it: {alive(tree)}"
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    rec = alice.get_job(job.id)
    assert rec.status == "running" and rec.attempts == 1, rec  # killed mid-job: nothing finished it

    second = subprocess.run(_worker_cmd(platform.settings.data_dir, "--once"), env=env,
                            capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "re-queued" in second.stderr
    rec = alice.get_job(job.id)
    assert (rec.status, rec.attempts, rec.error) == ("done", 2, None), rec
    results = alice.list_results()
    assert len(results) == 1 and results[0].job_id == job.id
    timeline = results[0].timeline()
    assert timeline.workflow == "full" and timeline.segments
    assert timeline.duration_s == pytest.approx(330.0, abs=0.5)


def _streams(path):
    import av

    with av.open(str(path)) as c:
        return (c.format.name, [(s.codec_context.name, s.codec_context.format.name) for s in c.streams.video],
                [s.codec_context.name for s in c.streams.audio], float(c.duration or 0) / 1e6)


def test_worker_makes_a_browser_playable_proxy_for_uploads_that_need_one(fast, alice, bob, videos, tmp_path):
    from halsted_hf.platform import storage
    from helpers import hard_to_play_videos

    hard = hard_to_play_videos(tmp_path / "hard")
    uploads = {k: alice.upload_video(p) for k, p in hard.items()}
    plain = alice.upload_video(videos["a"])  # H.264 yuv420p MP4 already: played as it is
    for v in (*uploads.values(), plain):
        alice.enqueue_job(v.id, "suturing")
    assert worker_with(fast, TimelineBackend()).run(once=True) == 3
    for key, v in uploads.items():
        rec = alice.get_video(v.id)
        assert rec.proxy is not None and rec.playable_path == rec.proxy != rec.path
        fmt, video, audio, duration = _streams(rec.proxy)
        assert "mp4" in fmt and video == [("h264", "yuv420p")] and audio == (["aac"] if key == "mp3" else [])
        assert duration == pytest.approx(3.0, abs=0.2)  # the timeline's seconds are the proxy's
        assert storage.browser_playable(rec.proxy) and not storage.browser_playable(rec.path)
        with open(rec.proxy, "rb") as f:  # +faststart: the index (moov) before the media data (mdat)
            head = f.read(4096)
        assert head.find(b"moov") != -1 and (head.find(b"mdat") == -1 or head.find(b"moov") < head.find(b"mdat"))
    assert alice.get_video(plain.id).proxy is None and alice.get_video(plain.id).playable_path == plain.path
    # an identical upload by another surgeon shares the proxy at once; it goes with the last row using it
    shared = bob.upload_video(hard["cinepak"])
    proxy = alice.get_video(uploads["cinepak"].id).proxy
    assert bob.get_video(shared.id).proxy == proxy
    alice.delete_video(uploads["cinepak"].id)
    assert proxy.is_file()
    bob.delete_video(shared.id)
    assert not proxy.exists()


def _endless_source(tmp_path):
    """A named pipe nobody writes to: ffmpeg waits on it for ever, a transcode that only a kill ends."""
    fifo = tmp_path / "endless.mp4"
    os.mkfifo(fifo)
    return fifo


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_a_stopped_worker_stops_its_proxy_transcoder(tmp_path):
    """The proxy's ffmpeg follows the worker's stop / the surgeon's cancel (watch.cancel)."""
    import threading

    from halsted_hf.core.errors import VideoError
    from halsted_hf.platform import storage

    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()
    with pytest.raises(VideoError, match="was stopped"):
        storage.make_proxy(_endless_source(tmp_path), tmp_path / "proxy.mp4", cancel=stop.is_set)
    assert not (tmp_path / "proxy.mp4").exists() and not list(tmp_path.glob(".proxy.*"))


def test_the_proxy_transcoder_dies_with_a_killed_worker(tmp_path):
    """`halsted serve` SIGKILLs a worker that does not stop in 15 s: its ffmpeg must not live on."""
    script = (f"from pathlib import Path\nfrom halsted_hf.platform import storage\nprint('go', flush=True)\n"
              f"storage.make_proxy(Path({str(_endless_source(tmp_path))!r}), Path({str(tmp_path / 'p.mp4')!r}))\n")
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    try:
        assert proc.stdout.readline().strip() == b"go"
        children, deadline = [], time.monotonic() + 60
        while not children and time.monotonic() < deadline:
            with open(f"/proc/{proc.pid}/task/{proc.pid}/children") as f:
                children = [int(c) for c in f.read().split()]
            time.sleep(0.1)
        assert children and all(_alive(c) for c in children), "no transcoder started"
    finally:
        proc.kill()
        proc.wait()
    deadline = time.monotonic() + 5
    while any(_alive(c) for c in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    survivors = [c for c in children if _alive(c)]
    for c in survivors:  # leave nothing behind even when the test fails
        os.kill(c, signal.SIGKILL)
    assert not survivors, "the transcoder outlived its killed worker"


# -- a mapping that makes no progress ----------------------------------------------
class _Silent:
    """The real local backend (workflow, parallel decoders) whose progress reports never arrive: to the
    worker, a mapping stuck without progress. Each report also costs 0.5 s (a crawling mapping), so the
    mapping outlasts the stall limit however fast this machine decodes (on a quiet box the 330-s video
    mapped in under 4 s and the job ended "done": a test that depended on the load)."""

    def __init__(self, model):
        from halsted_hf.platform.inference import LocalBackend

        self.inner = LocalBackend(model)

    def map_video(self, path, mapping, progress, cancel):
        return self.inner.map_video(path, mapping, progress=lambda done, total: time.sleep(0.5), cancel=cancel)


def _decoder_workers() -> set:
    """Live grandchildren of this process: the decoder workers under the forkserver."""
    from helpers import alive, descendants

    children = descendants(os.getpid())
    return {p for p in alive(children) if _ppid(p) in children}


def _ppid(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except OSError:
        return -1


def test_a_job_without_progress_fails_with_a_message_and_its_decoders_end(fast, alice, tiny_model_dir, tmp_path):
    # Over 300 s: decoded by worker processes, the ones that must end with the job.
    video = alice.upload_video(make_video(tmp_path / "long.mp4", seconds=330.0, size="64x48", rate=10))
    job = alice.enqueue_job(video.id, "full")
    fast.settings.stall_after_s = 4.0
    backend = _Silent(tiny_model_dir)
    # Warm up what is not mapping (the model, the forkserver) so the 4 s of no progress fall in the mapping.
    backend.inner._model()
    from halsted_hf.video import parallel_iter_windows
    list(parallel_iter_windows(video.path, [(0.0, 1.0), (200.0, 201.0)], 2, (8, 8), workers=2, chunk_s=1.0))
    worker = worker_with(fast, backend)
    seen, finished = set(), threading.Event()

    def watch():  # note the decoder workers while the job runs
        while not finished.is_set():
            seen.update(_decoder_workers())
            time.sleep(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        assert worker.run_one() == "failed"
    finally:
        finished.set()
        watcher.join()
    rec = alice.get_job(job.id)
    assert "made no progress for 4 s" in rec.error and "export the video again" in rec.error
    assert alice.list_results() == []
    assert seen, "the mapping never reached its decoder workers"
    deadline = time.monotonic() + 5
    while alive_of(seen) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive_of(seen), f"decoder workers still running after the job failed: {alive_of(seen)}"


def alive_of(pids) -> set:
    from helpers import alive

    return alive(pids)


def test_a_running_worker_is_seen_and_a_stopped_one_is_not(fast, alice, videos):
    """presence.py: the Map page says "mapping is paused" exactly when no worker is there."""
    assert not fast.mapping_running()
    seen = []
    alice.enqueue_job(alice.upload_video(videos["a"]).id, "suturing")
    backend = TimelineBackend(steps=2, on_step=lambda i: seen.append(fast.mapping_running()))
    assert worker_with(fast, backend).run(once=True) == 1
    assert seen == [True, True] and not fast.mapping_running()  # gone when it stops
