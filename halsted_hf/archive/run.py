"""The driver of `halsted map-archive`: lists the videos, skips those already done, hands the rest to a
pool of model-holding Ray actors, writes each result as it comes back, and shows progress.

Why actors and not Ray Data: the unit of work is a whole video (seconds to minutes of decoding and
model time), the model must stay loaded between videos, and every video's result must be committed
(written) on its own so a killed run loses at most the videos in flight. A small pool of actors fed
by `ray.wait` gives exactly that with no extra machinery; Ray Data's streaming batches would add a
second layer of buffering between a video and its commit.
"""

from __future__ import annotations

import logging
import os
import stat
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Dict, List, Optional

from ..core.errors import HalstedError
from ..video.probe import special_file_kind
from .actor import DEID_SUFFIX
from .store import ArchiveStore, content_hash, list_videos, model_key

IN_FLIGHT_PER_WORKER = 2  # one mapping, one queued: an actor never waits on the driver between videos
EMBEDDED_OBJECT_STORE = 128 << 20  # results are small (a Timeline's JSON): keep Ray's shared memory small


@dataclass
class ArchiveRun:
    """What one run did. `failed` counts this run's failures; `failed_before` videos that failed in an
    earlier run for good (bad content, or out of attempts) and were not tried again."""

    total: int = 0
    done: int = 0
    failed: int = 0
    skipped: int = 0
    failed_before: int = 0
    unreadable: List[str] = field(default_factory=list)
    video_s: float = 0.0
    wall_s: float = 0.0
    workers: int = 0
    model_id: str = ""

    @property
    def hours_per_hour(self) -> float:
        return self.video_s / self.wall_s if self.wall_s > 0 else 0.0

    def to_dict(self) -> dict:
        return {**asdict(self), "hours_per_hour": self.hours_per_hour}


def map_archive(source: str, out: str, mapping: str = "full", model: Optional[str] = None,
                ray_address: Optional[str] = None, workers: int = 1, gpus_per_worker: float = 0.0,
                cpus_per_worker: Optional[float] = None, batch_size: int = 32, max_attempts: int = 3,
                object_store_bytes: int = EMBEDDED_OBJECT_STORE, dashboard: bool = False,
                progress: Optional[Callable[[ArchiveRun, int], None]] = None,
                deidentify: bool = False) -> ArchiveRun:
    """Map every video of `source` (folder, file list or glob) into the archive folder `out`.

    ray_address: None starts a local Ray instance for this run (bound to 127.0.0.1), "auto" or
    "HOST:PORT" joins a running cluster. workers: model-holding actors; cpus_per_worker defaults to the
    cluster's CPUs shared evenly. max_attempts: tries per video over all runs for failures that may
    pass (a crash), not for bad content. progress(run, remaining) is called after each video. deidentify: map
    each video's de-identified copy (halsted_hf/deid), nothing mapped in its removed stretches."""
    if workers < 1:
        raise HalstedError(f"--workers must be at least 1, got {workers}")
    if max_attempts < 1:
        raise HalstedError(f"--max-attempts must be at least 1, got {max_attempts}")
    if gpus_per_worker < 0:
        raise HalstedError(f"--gpus-per-worker must be 0 or more, got {gpus_per_worker}")
    paths = list_videos(source)
    store = ArchiveStore(out)
    _ray_env()
    import ray

    t_start = time.perf_counter()
    run = ArchiveRun(total=len(paths), workers=workers)
    with store.lock():
        run.model_id = local_model_id(model)
        if run.model_id and deidentify:
            run.model_id += DEID_SUFFIX
        todo = None
        if run.model_id:  # known here: plan before starting anything, and start nothing if all is done
            store.check_manifest(mapping, run.model_id)
            todo = _plan(store, paths, run, max_attempts)
        reaper = None
        try:
            if todo is None or todo:
                if ray_address is None:  # a Ray of our own: its helpers must not outlive this process
                    from .reaper import Reaper

                    reaper = Reaper()
                _start_ray(ray, ray_address, object_store_bytes, dashboard)
                actors, worker_model = _start_actors(ray, model, mapping, workers, gpus_per_worker,
                                                     cpus_per_worker, batch_size, deidentify)
                if reaper is not None:
                    reaper.watch()  # the raylet's agents exist by now
                if run.model_id and worker_model != run.model_id:
                    raise HalstedError(f"the workers loaded model {worker_model!r}, this machine has "
                                       f"{run.model_id!r}; give every machine the same --model")
                if todo is None:
                    run.model_id = worker_model
                    store.check_manifest(mapping, run.model_id)
                    todo = _plan(store, paths, run, max_attempts)
                _dispatch(ray, actors, todo, store, run, max_attempts, progress, t_start)
            elif progress:
                progress(run, 0)
        finally:
            run.wall_s = time.perf_counter() - t_start
            if store.written or (os.path.exists(store.path("archive.json"))
                                 and not os.path.exists(store.path("videos.parquet"))):
                store.compact()  # also after Ctrl-C: videos.parquet then holds every committed video
            if ray.is_initialized():
                ray.shutdown()
            if reaper is not None:
                reaper.close()
    return run


def local_model_id(model: Optional[str]) -> Optional[str]:
    """The id the workers' `load_model` will give `model` ("name@revision"), when this machine can tell:
    a Hub id, or a folder it can read. None for a folder only the workers have."""
    from ..model.hub import model_revision
    from ..model.registry import resolve
    from ..model.safety import check_folder
    from ..mapping.workflow_engine import _display_name

    name = resolve(model)
    if os.path.isdir(name):
        check_folder(name)  # a folder the workers would refuse (its own code, pickles, a wrong config): say so now
        return f"{_display_name(name)}@{model_revision(name)}"
    if os.path.isabs(name) or name.startswith((".", "~")) or name.count("/") != 1:
        return None  # a path this machine does not have: ask the workers
    return f"{name}@hub"


def _ray_env() -> None:
    """Environment for Ray, set before it is imported (it reads some of it once, at import)."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # nothing leaves the machine
    if "RAY_AUTH_MODE" in os.environ:
        return
    # Ray 2.60 protects clusters with a token by default (a new local one makes ~/.ray/auth_token), but a
    # driver joining one sends the token only in token mode: say so unless the user chose a mode.
    os.environ["RAY_AUTH_MODE"] = "token"
    if "ray" in sys.modules:  # imported earlier (a notebook): refresh its cached mode, as Ray does itself
        try:
            from ray._raylet import Config
            Config.initialize("")
        except (ImportError, AttributeError):
            pass


def _start_ray(ray, address: Optional[str], object_store_bytes: int, dashboard: bool) -> None:
    common = dict(logging_level=logging.WARNING, log_to_driver=True)
    try:
        if address is None:
            # "local": a new instance even when another cluster runs on this machine. Ray 2.60 swaps a
            # loopback address for the machine's own (services.resolve_ip_for_localhost); we ask for
            # 127.0.0.1 anyway, so a Ray that honours it binds there, and the token guards the rest.
            ray.init(address="local", include_dashboard=dashboard, object_store_memory=object_store_bytes,
                     _node_ip_address="127.0.0.1", num_cpus=_cpus_here(), **common)
        else:
            ray.init(address=address, **common)
    except (ConnectionError, ValueError, RuntimeError) as err:
        where = "start a local Ray instance" if address is None else f"join the Ray cluster at {address!r}"
        raise HalstedError(f"could not {where}: {' '.join(str(err).split())[:300]}") from err


def _cpus_here() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def _start_actors(ray, model, mapping, workers, gpus, cpus, batch_size, deidentify=False):
    from .actor import VideoMapper

    resources = ray.cluster_resources()
    have_cpu, have_gpu = float(resources.get("CPU", 0)), float(resources.get("GPU", 0))
    cpus = float(cpus) if cpus else have_cpu / workers
    if cpus <= 0 or cpus * workers > have_cpu + 1e-9 or gpus * workers > have_gpu + 1e-9:
        raise HalstedError(f"{workers} workers x {cpus:g} CPU, {gpus:g} GPU need {cpus * workers:g} CPUs and "
                           f"{gpus * workers:g} GPUs; the cluster has {have_cpu:g} and {have_gpu:g}: "
                           f"lower --workers or the per-worker resources")
    # max_restarts: a video that kills its process (a decoder crash, out of memory) costs that
    # video an attempt, not the worker; the driver, not Ray, decides whether the video is tried again.
    cls = ray.remote(num_cpus=cpus, num_gpus=gpus, max_restarts=-1, max_task_retries=0)(VideoMapper)
    device = "cuda" if gpus > 0 else "cpu"
    actors = [cls.remote(model, device, mapping, batch_size, max(1, round(cpus)), deidentify) for _ in range(workers)]
    try:
        described = ray.get([a.describe.remote() for a in actors])
    except ray.exceptions.RayActorError as err:
        raise HalstedError(f"the mapping workers could not load the model: {_cause(err)}") from err
    ids = {d["model_id"] for d in described}
    if len(ids) != 1:  # machines holding different copies of the model would mix results
        raise HalstedError(f"the workers loaded different models: {', '.join(sorted(ids))}; give every "
                           f"machine the same --model")
    return actors, ids.pop()


def _cause(err: BaseException) -> str:
    """The last line of a Ray error that wraps the real one (e.g. a CheckpointError in an actor's __init__)."""
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    for ln in reversed(lines):
        if "Error:" in ln:
            return ln.split("Error:", 1)[1].strip() or ln
    return lines[-1] if lines else type(err).__name__


def _plan(store: ArchiveStore, paths: List[str], run: ArchiveRun, max_attempts: int) -> List[dict]:
    """The videos this run maps: those with no record, or a failed one that may pass and has tries left."""
    records = store.records()
    mkey = model_key(run.model_id)
    # A file unchanged since its last record (same path, size, mtime) keeps its hash: no re-reading.
    known = {(r["path"], r["size_bytes"], r["mtime_ns"]): r["content_hash"] for r in records.values()}
    todo, seen = [], set()
    for path in paths:
        try:
            st = os.stat(path)  # through a symlink: what would be read
            if not stat.S_ISREG(st.st_mode):  # a FIFO or a device never ends (hashing /dev/zero would not)
                run.unreadable.append(f"{path}: {special_file_kind(st.st_mode)}, not a regular file; "
                                      "only video files are mapped")
                run.failed += 1
                continue
            digest = known.get((path, st.st_size, st.st_mtime_ns)) or content_hash(path)
        except OSError as err:
            run.unreadable.append(f"{path}: {err.strerror or err}")
            run.failed += 1
            continue
        key = f"{digest}-{mkey}"
        rec = records.get(key)
        if key in seen or (rec is not None and rec["status"] == "ok"):
            run.skipped += 1  # done before, or the same content under another path in this run
            continue
        seen.add(key)
        attempts = int(rec["attempts"] or 0) if rec else 0
        if rec is not None and (not rec["retryable"] or attempts >= max_attempts):
            run.failed_before += 1
            continue
        todo.append({"path": path, "hash": digest, "key": key, "attempts": attempts,
                     "size_bytes": st.st_size, "mtime_ns": st.st_mtime_ns})
    return todo


def _dispatch(ray, actors, todo: List[dict], store: ArchiveStore, run: ArchiveRun, max_attempts: int,
              progress, t_start: float) -> None:
    queue = list(reversed(todo))  # pop() from the end keeps the listing's order
    pending: Dict[object, tuple] = {}
    remaining = len(todo)

    def submit(actor) -> None:
        item = queue.pop()
        pending[actor.map.remote(item["path"], item["hash"])] = (item, actor)

    for actor in actors:
        for _ in range(IN_FLIGHT_PER_WORKER):
            if queue:
                submit(actor)
    if progress:
        progress(run, remaining)
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1, timeout=1.0)
        for ref in ready:
            item, actor = pending.pop(ref)
            item["attempts"] += 1
            try:
                result = ray.get(ref)
            except ray.exceptions.RayActorError as err:  # the worker process died under this video
                result = {"record": {"content_hash": item["hash"], "model_id": run.model_id, "path": item["path"],
                                     "status": "failed", "retryable": True,
                                     "error": f"the worker died mapping this video: {_cause(err)}"},
                          "timeline_json": None, "rows": []}
            record = result["record"]
            if record["status"] != "ok" and record.get("retryable") and item["attempts"] < max_attempts:
                queue.insert(0, item)  # try again later in this run (it may have been a passing fault)
                submit(actor)
                continue
            record.update(attempts=item["attempts"], size_bytes=item["size_bytes"], mtime_ns=item["mtime_ns"])
            store.write_video(item["key"], record, result["timeline_json"], result["rows"])
            remaining -= 1
            if record["status"] == "ok":
                run.done += 1
                run.video_s += float(record.get("duration_s") or 0.0)
            else:
                run.failed += 1
            run.wall_s = time.perf_counter() - t_start
            if queue:
                submit(actor)
            if progress:
                progress(run, remaining)


def print_progress(stream=sys.stderr) -> Callable[[ArchiveRun, int], None]:
    """A progress callback writing one updating terminal line: done / failed / remaining, hours of
    video per hour of wall time."""
    tty = stream.isatty()
    last = [0.0]

    def show(run: ArchiveRun, remaining: int) -> None:
        now = time.monotonic()
        if not tty and remaining and now - last[0] < 10:  # a log file gets a line every 10 s, not per video
            return
        last[0] = now
        line = (f"map-archive: {run.done} done, {run.failed} failed, {remaining} remaining, "
                f"{run.skipped} skipped | {run.video_s / 3600:.2f} h of video, "
                f"{run.hours_per_hour:.1f} h/h")
        stream.write(("\r" + line + "\033[K") if tty else line + "\n")
        if tty and not remaining:
            stream.write("\n")
        stream.flush()

    return show
