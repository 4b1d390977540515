"""Decode the windows of a long video with one process per core, each taking a stretch of time.

H.264 decoding is sequential within a stream, so the time axis is cut into chunks of consecutive
windows; each chunk is decoded by `iter_windows` in a worker process (one decoder thread each) that
seeks to the keyframe before its first window. Results come back in window order; at most
`workers + 1` chunks are in flight, so memory stays bounded however long the video is. The price is
one keyframe interval of extra decoding per chunk, hence chunks of tens of seconds at least.

Worker processes are started with "forkserver" (or "spawn"), not "fork": the parent may hold torch's
threads, which do not survive a fork. A script that calls this must guard its entry point with
`if __name__ == "__main__":`.

Lifetime: each worker watches the process that started the pool and exits when it
is gone, however it died (SIGKILL included); the forkserver and the resource tracker then see their
last user go and exit too. Before, a killed parent left the forkserver, the tracker and both workers
blocked on pipes forever. Stopping early (`close()`, or `stop()` returning True) tells running chunks
to stop through a shared event checked between frames, so a stop takes a fraction of a second instead
of waiting for the chunks being decoded.
"""

from __future__ import annotations

import multiprocessing
import os
import select
import threading
import time
import warnings
from collections import deque
from concurrent.futures import ProcessPoolExecutor, TimeoutError as FutureTimeout
from typing import Callable, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from .decode import (
    DEFAULT_SEEK_GAP_S,
    Size,
    TruncatedVideoWarning,
    WindowIterator,
    _declared_duration,
    check_windows_fit,
    _video_stream,
    default_workers,
    open_video,
)
from .probe import PathLike, check_file

Chunk = List[Tuple[int, Tuple[float, float]]]  # (window index, (start_s, end_s))


def plan_chunks(
    windows: Sequence[Tuple[float, float]], workers: int, chunk_s: Optional[float] = None, max_windows: int = 32
) -> List[Chunk]:
    """Group windows (sorted by start) into chunks spanning about `chunk_s` seconds each.

    Default `chunk_s`: a quarter of each worker's share of the span, and at least 30 s, so every
    worker gets several chunks (the last ones finish together) while the extra keyframe interval
    per chunk stays a small share. `max_windows` caps a chunk's decoded frames held in memory
    (32 windows of 16 x 224 x 224 x 3 bytes = 77 MB)."""
    order = sorted(range(len(windows)), key=lambda k: tuple(windows[k]))
    if not order:
        return []
    span = max(e for _, e in windows) - min(s for s, _ in windows)
    if chunk_s is None:
        chunk_s = max(30.0, span / (max(workers, 1) * 4))
    chunks: List[Chunk] = []
    current: Chunk = []
    for k in order:
        s, e = windows[k]
        if current and (e - current[0][1][0] > chunk_s or len(current) >= max_windows):
            chunks.append(current)
            current = []
        current.append((k, (float(s), float(e))))
    chunks.append(current)
    return chunks


def parallel_iter_windows(
    path: PathLike,
    windows: Sequence[Tuple[float, float]],
    num_frames: int = 16,
    size: Size = (224, 224),
    workers: Optional[int] = None,
    *,
    chunk_s: Optional[float] = None,
    max_windows_per_chunk: int = 32,
    seek_gap_s: float = DEFAULT_SEEK_GAP_S,
    warn: bool = True,
    stop: Optional[Callable[[], bool]] = None,
    grid_s: Optional[float] = None,
    skip_unneeded: bool = True,
) -> "ParallelWindowIterator":
    """Like `iter_windows` (same yields, order and truncation report), decoded by `workers`
    processes (default: one per core). With one worker or one chunk it decodes in-process.
    `stop`: polled while waiting; when it returns True the iteration ends early and the workers stop.
    `grid_s`, `skip_unneeded`: as for `iter_windows`."""
    return ParallelWindowIterator(
        path, windows, num_frames, size, workers if workers is not None else default_workers(),
        chunk_s=chunk_s, max_windows=max_windows_per_chunk, seek_gap_s=seek_gap_s, warn=warn, stop=stop,
        grid_s=grid_s, skip_unneeded=skip_unneeded,
    )


class ParallelWindowIterator:
    """Iterator of (index, frames); afterwards `decoded_until_s`, `truncated`, `skipped` and
    `frames_decoded` (summed over workers) as for `WindowIterator`, and `chunks` (the time split)."""

    def __init__(self, path, windows, num_frames, size, workers, *, chunk_s, max_windows, seek_gap_s, warn,
                 stop=None, grid_s=None, skip_unneeded=True):
        self.path = str(check_file(path))
        self.windows = [(float(s), float(e)) for s, e in windows]
        self.num_frames = num_frames
        self.size = size
        self.workers = max(1, int(workers))
        self.seek_gap_s = seek_gap_s
        self.warn = warn
        self.stop = stop or (lambda: False)
        self.grid_s = grid_s
        self.skip_unneeded = skip_unneeded
        self.stopped = False  # True when `stop` ended the iteration early
        self.decoded_until_s = 0.0
        self.declared_s: Optional[float] = None
        self.truncated = False
        self.skipped: List[int] = []
        self.frames_decoded = 0
        self.damaged_s: List[float] = []  # as WindowIterator's, from every chunk
        self.worker_cpu_s = 0.0  # CPU seconds the workers spent on chunks (forkserver children escape getrusage)
        self.chunks = plan_chunks(self.windows, self.workers, chunk_s, max_windows)
        self._check_windows()
        self._gen = self._run()

    def __iter__(self) -> "ParallelWindowIterator":
        return self

    def __next__(self) -> Tuple[int, np.ndarray]:
        return next(self._gen)

    def close(self) -> None:
        """Stop early: closes the file (and, for the parallel decoder, its worker processes)."""
        self._gen.close()

    def __enter__(self) -> "ParallelWindowIterator":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _check_windows(self) -> None:
        # Fail in the caller, before any process starts, as `iter_windows` would.
        WindowIterator(self.path, self.windows, self.num_frames, self.size, warn=False).close()
        with open_video(self.path) as container:
            stream = _video_stream(container, self.path)
            declared = _declared_duration(container, stream)
            gap = 1.0 / float(stream.average_rate) if stream.average_rate else 1.0 / 30
        check_windows_fit(self.windows, declared, gap, self.path)

    def _run(self) -> Iterator[Tuple[int, np.ndarray]]:
        if self.workers == 1 or len(self.chunks) <= 1:
            inner = WindowIterator(self.path, self.windows, self.num_frames, self.size, seek_gap_s=self.seek_gap_s,
                                   warn=False, stop=self.stop, grid_s=self.grid_s, skip_unneeded=self.skip_unneeded)
            yield from inner
            self.frames_decoded = inner.frames_decoded
            self.damaged_s = list(inner.damaged_s)
            self.stopped = inner.stopped
            if not self.stopped:
                self._finish(inner.decoded_until_s, inner.truncated, inner.skipped, inner.declared_s, "")
            return
        context = _context()
        halt = context.Event()  # set: running chunks stop between frames
        executor = ProcessPoolExecutor(max_workers=self.workers, mp_context=context, initializer=_worker_init,
                                       initargs=(os.getpid(), halt))
        try:
            todo = iter(self.chunks)
            pending: deque = deque()

            def refill() -> None:
                while len(pending) < self.workers + 1:
                    chunk = next(todo, None)
                    if chunk is None:
                        return
                    pending.append((chunk, executor.submit(
                        _decode_chunk, self.path, chunk, self.num_frames, self.size, self.seek_gap_s, self.grid_s,
                        self.skip_unneeded)))

            refill()
            until, declared = 0.0, None
            while pending:
                chunk, future = pending.popleft()
                while True:
                    if self.stop():
                        self.stopped = True
                        return
                    try:
                        result = future.result(timeout=0.1)
                        break
                    except FutureTimeout:
                        continue
                results, until, truncated, declared, skipped, reason, decoded, cpu_s, damaged = result
                self.frames_decoded += decoded
                self.damaged_s.extend(damaged)
                self.worker_cpu_s += cpu_s
                refill()
                yield from results
                if truncated:
                    # Later chunks lie after the stop: they cannot decode either.
                    rest = skipped + [k for c, _ in pending for k, _ in c] + [k for c in todo for k, _ in c]
                    self._finish(until, True, rest, declared, reason)
                    return
            self._finish(until, False, [], declared, "")
        finally:
            halt.set()  # no-op after a complete pass; after an early stop the workers end within a frame
            _shutdown(executor)

    def _finish(self, until, truncated, skipped, declared, reason) -> None:
        self.declared_s = declared
        self.decoded_until_s = until
        self.truncated = truncated
        self.skipped = list(skipped)
        if truncated and self.warn:
            warnings.warn(TruncatedVideoWarning(self.path, until, declared, reason), stacklevel=4)


def _shutdown(executor: ProcessPoolExecutor, grace_s: float = 2.0) -> None:
    """Shut the pool down without waiting on a worker that does not stop (stuck inside FFmpeg): after
    `grace_s` it is killed. `_processes` is private, but the pool offers no other handle on its workers
    before Python 3.14's `kill_workers`."""
    processes = list((getattr(executor, "_processes", None) or {}).values())
    executor.shutdown(wait=False, cancel_futures=True)
    deadline = time.monotonic() + grace_s
    for process in processes:
        process.join(timeout=max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            process.kill()
            process.join(timeout=1.0)
    executor.shutdown(wait=True)


def _context():
    """forkserver, with this module imported once in the server: each worker is then a cheap fork of
    it instead of a fresh interpreter importing the package (which pulls in transformers and torch,
    seconds per worker). The server outlives one call, so later pools start in milliseconds."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["__main__", __name__])  # "__main__" is the default preload
    return context


_HALT = None  # in a worker: the pool's stop event


def _worker_init(parent_pid: int, halt) -> None:
    """Runs first in each worker: keep the stop event, and exit when the parent process is gone."""
    global _HALT
    _HALT = halt
    threading.Thread(target=_exit_with, args=(parent_pid,), name="halsted-parent-watch", daemon=True).start()


def _exit_with(pid: int) -> None:
    """Block until process `pid` ends, then end this worker at once (its work has no one to go to).

    A pidfd becomes readable when the process exits, whoever its parent is (a forkserver worker's parent
    is the forkserver, so PR_SET_PDEATHSIG would watch the wrong process). Where pidfds are missing
    (not Linux >= 5.3), poll once a second."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        os._exit(1)
    except (AttributeError, OSError):
        while _alive(pid):
            time.sleep(1.0)
        os._exit(1)
    select.select([fd], [], [])
    os._exit(1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _decode_chunk(path: str, chunk: Chunk, num_frames: int, size: Size, seek_gap_s: float,
                  grid_s: Optional[float] = None, skip_unneeded: bool = True):
    """Runs in a worker: decode one chunk on one thread (the other cores have their own worker)."""
    cpu0 = time.process_time()
    windows = [w for _, w in chunk]
    stop = _HALT.is_set if _HALT is not None else None
    it = WindowIterator(path, windows, num_frames, size, threads=1, seek_gap_s=seek_gap_s, warn=False, stop=stop,
                        grid_s=grid_s, skip_unneeded=skip_unneeded)
    results = [(chunk[i][0], frames) for i, frames in it]
    skipped = [chunk[i][0] for i in it.skipped]
    cpu_s = time.process_time() - cpu0
    return (results, it.decoded_until_s, it.truncated, it.declared_s, skipped, "", it.frames_decoded, cpu_s,
            it.damaged_s)
