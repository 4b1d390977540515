"""The multi-stage mapping workflow: video in, `Timeline` out (docs/architecture.md, "Mapping notes").

What is mapped is the model's: its taxonomy declares mapping plans (model/plans.py), and a mapping is one of
them. Stage 1 maps non-overlapping windows (30 s for the Halsted taxonomy) with the plan's stage-1 task (Halsted:
macro-activity: procedure, step); the tail of the video after the last whole window is tagged too, seen through
the video's last window. Stage 2 maps short windows (2.5 s) only inside the stage-1 windows whose answer opens a
stage-2 task. The Halsted "suturing" plan: suturing -> task proficiency (phase, proficiency), and context (anatomy,
extent, direction) for the clips whose phase is needle driving; "dissection": dissection -> task micro-activity
(action, arm, instrument). CholecT50's "full": phase over 16-s windows, then the action triplet of every window.

Why one decoding pass: H.264 must be decoded frame by frame anyway to reach stage 1's samples, so the
frames of every stage-2 window a stage-1 window could need are sampled in the same pass, held until
that stage-1 window's step is known, then encoded or dropped. Decoding runs in a thread (and, for long
videos, in one process per core) feeding a bounded queue; the model batches clips from one or many
videos. Each stage-2 clip is encoded once; its embedding serves every fine task.

With a frame encoder both stages sample one time grid (the stage-2 frame spacing, `shared_grid_s`): a
stage-1 window's instants are instants of its stage-2 windows, so each sampled frame is decoded, converted
and run through the backbone once (`MappingStats.frames_shared`). The decoder drops the non-reference frames
no window samples (`iter_windows`' `skip_unneeded`).

    timeline = map_video("case.mp4", mapping="suturing", model="path/to/model")
"""

from __future__ import annotations

import os
import queue
import threading
import time
import warnings
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

from ..core.errors import HalstedError, VideoError
from .merging import merge_windows
from .segment import Segment
from .timeline import Timeline
from ..video import plan_windows, validate_video
from ..video.decode import TruncatedVideoWarning, damage_warning, iter_windows, read_clip
from ..video.windows import STAGE1_WINDOW_S, STAGE2_WINDOW_S, check_long_enough, full_length_window, shared_grid_s
from ..model.plans import MappingPlan
from ..core.mappings import check_mapping
from .workflow_engine import LoadedModel, MappingStats, load_model, model_plans

__all__ = ["MappingCancelled", "MappingStats", "LoadedModel", "load_model", "map_video", "map_videos",
           "plan_stage1", "plan_stage2"]

LONG_VIDEO_S = 300.0  # above this, decode with one process per core

Progress = Callable[[int, int], None]
Cancel = Callable[[], bool]


class MappingCancelled(HalstedError):
    """The caller's `cancel()` returned True: mapping stopped, nothing was returned."""


# ---------------------------------------------------------------------------------------------
# planning: pure functions


def plan_stage1(duration_s: float, window_s: float = STAGE1_WINDOW_S) -> List[Tuple[float, float]]:
    """The spans (start_s, end_s) stage 1 tags, tiling the whole video: windows of `window_s` and a last,
    shorter span for the tail, however short (a 62-s video is mapped to 62 s, not 60). The model sees
    each span through `full_length_window`: the tail through the last `window_s` of the video."""
    return plan_windows(duration_s, window_s, min_window_s=0.0)


def plan_stage2(coarse: Sequence[Segment], plan: MappingPlan, window_s: Optional[float] = None,
                stage1_window_s: Optional[float] = None) -> List[Tuple[float, float, str]]:
    """Stage-2 spans (start_s, end_s, answer) inside the stage-1 segments whose answer opens a stage-2 task of
    `plan` (windows: the plan's unless given).

    Each segment is cut into its stage-1 windows (blocks of `stage1_window_s` from its start) and each
    block into `window_s` spans, the last one shorter when the block is not a multiple of `window_s`,
    so planning from merged segments or from single stage-1 windows gives the same spans, and the
    spans tile the needed segments to their ends. Spans never overlap; the model sees a short one
    through `full_length_window` (which may reach back before the segment). Sorted by start."""
    window_s = window_s or plan.stage2_window_s
    stage1_window_s = stage1_window_s or plan.stage1_window_s
    out = []
    for seg in coarse:
        answer = seg.tags.get(plan.stage1_tag)
        if seg.stage != 1 or not plan.opens(answer):
            continue
        for b0, b1 in plan_windows(seg.end_s, stage1_window_s, start_s=seg.start_s, min_window_s=0.0):
            out.extend((a, b, answer) for a, b in plan_windows(b1, window_s, start_s=b0, min_window_s=0.0))
    return sorted(out)


# ---------------------------------------------------------------------------------------------
# per-video job


@dataclass
class _Job:
    path: str
    info: object
    stage1: List[Tuple[float, float]]  # the spans stage-1 tags (see plan_stage1)
    w1: float = STAGE1_WINDOW_S  # window lengths: the model sees each span through full_length_window(span, w)
    w2: float = STAGE2_WINDOW_S
    stage2: List[Tuple[float, float]] = field(default_factory=list)  # candidates, all stage-1 windows
    parent: List[int] = field(default_factory=list)  # stage-2 candidate -> its stage-1 window
    step: Dict[int, Optional[str]] = field(default_factory=dict)  # stage-1 window -> mapped step
    windows: List[Segment] = field(default_factory=list)  # the model's outputs, one per (window, task)
    decoded_until_s: Optional[float] = None
    stated_s: Optional[float] = None  # the duration the file states (may exceed the probe's for a cut AVI)
    truncated: bool = False
    received: set = field(default_factory=set)  # stage-2 clips that came from the decoder
    routed: int = 0  # stage-2 clips whose stage-1 window was mapped (kept or dropped)
    ood: list = field(default_factory=list)  # (start, end, score) of stage-1 windows (mapping/ood.py)
    damage: Optional[str] = None  # where packets failed to decode and were skipped (decode.damage_warning)

    def grid_s(self, engine: LoadedModel) -> Optional[float]:
        """The time grid both stages sample on: the stage-2 frame spacing for a frame encoder (shared frames
        are encoded once), None (each window's own bin centres) for a video tower."""
        return shared_grid_s(self.w2, engine.num_frames) if engine.shares_frames else None

    def clip_windows(self) -> List[Tuple[float, float]]:
        """What the decoder samples, index for index: stage-1 then stage-2 spans, each widened to a
        full window where it is a short tail, so the model's input is always like training's."""
        return ([full_length_window(a, b, self.w1) for a, b in self.stage1]
                + [full_length_window(a, b, self.w2) for a, b in self.stage2])


def _make_job(path: str, plan: MappingPlan, w1: float, w2: float) -> _Job:
    info = validate_video(path)
    check_long_enough(path, info.duration_s, w2)
    job = _Job(str(path), info, plan_stage1(info.duration_s, w1), w1, w2)
    if plan.has_stage2:  # candidates in every stage-1 window: which are mapped is known only after stage 1
        for k, (a, b) in enumerate(job.stage1):
            for s, e in plan_windows(b, w2, start_s=a, min_window_s=0.0):
                job.stage2.append((s, e))
                job.parent.append(k)
    return job


# ---------------------------------------------------------------------------------------------
# decoding thread -> model loop: typed messages on a bounded queue


@dataclass
class _Clip:
    """The frames (T, H, W, 3) of one window of video `job`; `window` indexes `_Job.clip_windows()`
    (the stage-1 windows first, then the stage-2 candidates)."""

    job: int
    window: int
    frames: Any


@dataclass
class _VideoEnd:
    """The decoder finished video `job`; `decoded` is its (exhausted) window iterator, which tells whether
    the file was truncated and where its data stopped."""

    job: int
    decoded: Any


@dataclass
class _DecodeFailed:
    """Decoding raised: the model loop re-raises `error` in the caller's thread."""

    error: BaseException


@dataclass
class _AllDecoded:
    """Every video was decoded: the model loop ends."""


_Message = Union[_Clip, _VideoEnd, _DecodeFailed, _AllDecoded]


def _decode_thread(jobs: List[_Job], engine: LoadedModel, out: queue.Queue, stop: threading.Event,
                   stats: MappingStats, workers: int) -> None:
    """Puts a `_Clip` per decoded window and a `_VideoEnd` per video, then `_AllDecoded`; `_DecodeFailed`
    on failure."""
    size = (engine.image_size, engine.image_size)

    def put(message: _Message) -> bool:
        while not stop.is_set():
            try:
                out.put(message, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    try:
        for j, job in enumerate(jobs):
            windows = job.clip_windows()
            if workers > 1 and job.info.duration_s > LONG_VIDEO_S:
                from ..video import parallel_iter_windows
                it = parallel_iter_windows(job.path, windows, engine.num_frames, size, workers=workers, warn=False,
                                           stop=stop.is_set, grid_s=job.grid_s(engine))
            else:
                # `stop` is polled between frames: a cancel or a signal ends decoding at once.
                it = iter_windows(job.path, windows, engine.num_frames, size, warn=False, stop=stop.is_set,
                                  grid_s=job.grid_s(engine))
            try:
                while True:
                    t0 = time.perf_counter()
                    item = next(it, None)
                    stats.decode_s += time.perf_counter() - t0
                    if item is None:
                        break
                    if not put(_Clip(j, item[0], item[1])):
                        return
            finally:
                it.close()
            stats.frames_decoded += it.frames_decoded
            if it.stopped or not put(_VideoEnd(j, it)):
                return
        put(_AllDecoded())
    except BaseException as err:  # noqa: BLE001  (re-raised in the caller's thread)
        put(_DecodeFailed(err))


# ---------------------------------------------------------------------------------------------
# the model loop


@dataclass
class _Pending:
    """A decoded clip waiting for the model: stage-1 window `index` of video `job` (in a stage-1 batch),
    or stage-2 candidate `index` (held until its stage-1 window and that window's neighbours are mapped, then in
    a stage-2 batch). `step`: the step whose task the clip is mapped with (`_Mapper.route_held`)."""

    job: int
    index: int
    frames: Any
    step: Optional[str] = None


class _Mapper:
    """Consumes decoded clips; batches stage-1 clips, then the stage-2 clips their step needs."""

    def __init__(self, jobs: List[_Job], engine: LoadedModel, plan: MappingPlan, batch_size: int,
                 stats: MappingStats, progress: Optional[Progress], min_window_s: float):
        self.min_window_s = min_window_s
        self.jobs, self.engine, self.plan, self.batch_size = jobs, engine, plan, max(1, int(batch_size))
        self.stats, self.progress = stats, progress
        self.stage1_batch: List[_Pending] = []
        self.stage2_batch: List[_Pending] = []
        # (video, stage-1 window) -> its stage-2 clips, decoded before the window's step was known
        self.held: Dict[Tuple[int, int], List[_Pending]] = defaultdict(list)
        self.done = 0
        self.total = sum(len(job.stage1) + len(job.stage2) for job in jobs)

    def report(self) -> None:
        if self.progress is not None:
            self.progress(self.done, self.total)

    def add_clip(self, clip: _Clip) -> None:
        job = self.jobs[clip.job]
        if clip.window < len(job.stage1):
            self.stage1_batch.append(_Pending(clip.job, clip.window, clip.frames))
        else:
            pending = _Pending(clip.job, clip.window - len(job.stage1), clip.frames)
            job.received.add(pending.index)
            parent = job.parent[pending.index]
            self.held[(clip.job, parent)].append(pending)
            self.route_held(clip.job, parent)
        # Run stage 1 as soon as a batch of stage-2 clips waits on it: keeps the model busy while the
        # decoder runs (overlap) and bounds the frames held in memory.
        if len(self.stage1_batch) >= self.batch_size or (
                self.stage1_batch and sum(map(len, self.held.values())) >= self.batch_size):
            self.run_stage1()
        while len(self.stage2_batch) >= self.batch_size:
            self.run_stage2(self.batch_size)

    def route_held(self, j: int, k: int, final: bool = False) -> None:
        """Route the held stage-2 clips of stage-1 window `k` once its step and its neighbours' are known
        (`final`: the video has ended; neighbours that never decoded are taken as absent).

        Stage 1 sees 30-s windows, so suturing that starts or ends inside one read as dissection is lost (and its
        stitches with it). A window next to a window of the plan's `extend_into` answer (Halsted: suturing)
        therefore has its clips' own answer read by the stage-1 task on each clip, and the run of clips read as
        suturing that touches the suturing neighbour is mapped as suturing; every other clip takes its window's
        step. Only that direction: read on 2.5-s clips the step is noisy at a change, and a suturing clip lost
        costs a stitch, while a dissection clip mapped as suturing mostly reads as needle handling."""
        job = self.jobs[j]
        if k not in job.step or (j, k) not in self.held:
            return
        neighbours = [n for n in (k - 1, k + 1) if 0 <= n < len(job.stage1)]
        if not final and any(n not in job.step for n in neighbours):
            return  # a neighbour's step is still to come
        mine, extended = job.step[k], self.plan.extends()
        sides = [n for n in neighbours if extended is not None and job.step.get(n) == extended]
        extend = mine != extended and sides
        if extend and not final and len(self.held[(j, k)]) < job.parent.count(k):
            return  # the run from the window's edge needs all of its clips
        pending = sorted(self.held.pop((j, k)), key=lambda p: job.stage2[p.index])
        steps = [mine] * len(pending)
        if extend:
            tags, _ = self.engine.generate(self.engine.encode([p.frames for p in pending], self.stats),
                                           self.plan.stage1_task, self.stats)
            own = [t.get(self.plan.stage1_tag) == extended for t in tags]
            for side in sides:  # from the edge that touches the suturing window inwards, while clips read suturing
                order = range(len(pending)) if side < k else range(len(pending) - 1, -1, -1)
                for i in order:
                    if not own[i]:
                        break
                    steps[i] = extended
        for p, step in zip(pending, steps):
            self._route(p, step)

    def _route(self, pending: _Pending, step: Optional[str]) -> None:
        """A stage-2 clip: batch it to be mapped as `step` if that answer opens a stage-2 task, else drop it."""
        job = self.jobs[pending.job]
        job.routed += 1
        if self.plan.opens(step):
            pending.step = step
            self.stage2_batch.append(pending)
        else:
            self.total -= 1  # not needed after all
            self.report()

    def run_stage1(self) -> None:
        if not self.stage1_batch:
            return
        batch, self.stage1_batch = self.stage1_batch, []
        embeds = self.engine.encode([p.frames for p in batch], self.stats)
        tags, scores = self.engine.generate(embeds, self.plan.stage1_task, self.stats)
        # out-of-distribution scores from the embeddings and frames at hand (nothing decoded or encoded twice)
        far = (self.engine.ood.scores(embeds, [p.frames for p in batch]) if self.engine.ood is not None
               else [None] * len(batch))
        for pending, t, s, d in zip(batch, tags, scores, far):
            job = self.jobs[pending.job]
            job.step[pending.index] = t.get(self.plan.stage1_tag)
            a, b = job.stage1[pending.index]
            if d is not None:
                job.ood.append((a, b, float(d)))
            job.windows.append(Segment(a, b, 1, self.plan.stage1_task, t, s))
        for pending in batch:  # a window's clips wait for its neighbours too
            for k in (pending.index - 1, pending.index, pending.index + 1):
                self.route_held(pending.job, k)
        self.stats.windows_stage1 += len(batch)
        self.done += len(batch)
        self.report()

    def run_stage2(self, n: Optional[int] = None) -> None:
        if not self.stage2_batch:
            return
        n = n or len(self.stage2_batch)
        batch, self.stage2_batch = self.stage2_batch[:n], self.stage2_batch[n:]
        embeds = self.engine.encode([p.frames for p in batch], self.stats)
        by_task: Dict[str, List[int]] = defaultdict(list)
        for row, pending in enumerate(batch):
            for task in self.plan.stage2_tasks(pending.step):
                by_task[task].append(row)
        for task, rows in by_task.items():
            tags, scores = self.engine.generate(embeds[rows], task, self.stats)
            follow: Dict[str, List[int]] = defaultdict(list)  # e.g. the context of each needle driving
            for row, t, s in zip(rows, tags, scores):
                self._emit(batch[row], task, t, s)
                then = self.plan.follow_up(task, t)
                if then is not None:
                    follow[then].append(row)
            for then, chosen in follow.items():
                tags, scores = self.engine.generate(embeds[chosen], then, self.stats)
                for row, t, s in zip(chosen, tags, scores):
                    self._emit(batch[row], then, t, s)
        self.stats.windows_stage2 += len(batch)
        self.done += len(batch)
        self.report()

    def _map_partial_window(self, j: int, until: float) -> None:
        """The data stopped inside a stage-1 window: map its decoded part (if it holds at least one
        stage-2 window) as a shorter stage-1 window, so the timeline reaches where decoding stopped."""
        job = self.jobs[j]
        for k, (a, b) in enumerate(job.stage1):
            if k in job.step or not (a < until < b) or until - a < self.min_window_s:
                continue
            try:
                frames = read_clip(job.path, a, until, self.engine.num_frames,
                                   (self.engine.image_size, self.engine.image_size))
            except VideoError:
                return  # the tail does not decode after all: map what we have
            job.stage1[k] = (a, until)
            self.stage1_batch.append(_Pending(j, k, frames))
            self.run_stage1()
            # The decoder yields windows in order of start, so this window's stage-2 clips after the
            # first were still waiting behind it when the data stopped: decode them now (<= 30 s).
            got = job.received
            todo = [i for i, p in enumerate(job.parent) if p == k and i not in got and job.stage2[i][1] <= until]
            if todo and self.plan.opens(job.step[k]):
                size = (self.engine.image_size, self.engine.image_size)
                clips = job.clip_windows()[len(job.stage1):]
                for n, frames in iter_windows(job.path, [clips[i] for i in todo], self.engine.num_frames, size,
                                              warn=False, grid_s=job.grid_s(self.engine)):
                    self.held[(j, k)].append(_Pending(j, todo[n], frames))
                self.route_held(j, k, final=True)
            return

    def _emit(self, pending: _Pending, task: str, tags: Dict[str, str], scores: Dict[str, float]) -> None:
        job = self.jobs[pending.job]
        a, b = job.stage2[pending.index]
        job.windows.append(Segment(a, b, 2, task, tags, scores))

    def end_of_video(self, end: _VideoEnd) -> None:
        """The decoder finished a video: map what is pending, account for what never decoded."""
        j, it = end.job, end.decoded
        job = self.jobs[j]
        self.run_stage1()
        job.truncated = bool(it.truncated)
        job.damage = damage_warning(getattr(it, "damaged_s", []))  # packets skipped mid-file, if any
        job.decoded_until_s = float(it.decoded_until_s) if it.truncated else None
        job.stated_s = max(float(getattr(it, "declared_s", None) or 0.0), float(job.info.duration_s))
        if job.truncated:
            self._map_partial_window(j, job.decoded_until_s)
        for k in [key[1] for key in self.held if key[0] == j]:
            self.route_held(j, k, final=True)  # a neighbour that never decoded does not hold them back
        self.run_stage2()
        for key in [key for key in self.held if key[0] == j]:
            del self.held[key]  # their stage-1 window never decoded
        # Windows that never decoded (truncated file) will not come: take them off the total.
        self.total -= (len(job.stage1) - len(job.step)) + (len(job.stage2) - job.routed)
        self.report()


def _timeline(job: _Job, engine: LoadedModel, plan: MappingPlan, min_window_s: float) -> Timeline:
    info = job.info
    stated = job.stated_s or float(info.duration_s)
    if not job.windows:
        if job.truncated and (job.decoded_until_s or 0.0) > 0.0:  # frames decoded, too few to map
            raise VideoError(f"{job.path}: only the first {job.decoded_until_s:.2f} s of {stated:.2f} s decode (the "
                             f"rest of the file is damaged or missing), less than one {min_window_s:g}-s mapping "
                             f"window. Copy or export the video again")
        raise VideoError(f"{job.path}: no frame could be decoded; the file is damaged or truncated at the start. "
                         f"Copy or export the video again")
    tl = Timeline(
        video={"id": os.path.splitext(os.path.basename(job.path))[0], "duration_s": float(info.duration_s),
               "fps": float(info.fps), "width": int(info.width), "height": int(info.height)},
        model={"name": engine.name, "revision": engine.revision, "precision": engine.precision}, workflow=plan.name,
        segments=merge_windows(job.windows), tasks=list(plan.tasks))
    if engine.ood is not None:
        from .ood import video_verdict

        tl.ood = video_verdict(job.ood, engine.ood)
    from .reliability import stamp

    stamp(tl, engine.reliability)  # which tags the model's card marks not reliable travel with the Timeline
    if job.damage:
        tl.warnings.append(job.damage)
    if job.truncated:
        tl.decoded_until_s = job.decoded_until_s
        tl.warnings.append(f"the video data stops at {job.decoded_until_s:.2f} s of {stated:.2f} s "
                           f"(truncated or damaged file): only that part was mapped")
    return tl


# ---------------------------------------------------------------------------------------------
# public API


def map_videos(paths: Sequence[str], mapping: Optional[str] = None, model=None, device: str = "cpu",
               batch_size: int = 32, progress: Optional[Progress] = None, cancel: Optional[Cancel] = None,
               stage1_window_s: Optional[float] = None, stage2_window_s: Optional[float] = None, dtype=None,
               workers: Optional[int] = None, queue_size: Optional[int] = None,
               stats: Optional[MappingStats] = None, precision: str = "float32") -> List[Timeline]:
    """Map several videos in one run (their windows share model batches) -> one Timeline per path.

    See `map_video` for the arguments. `workers`: decoding processes for long videos (default: one per
    core); `queue_size`: decoded clips buffered ahead of the model (default 2 x batch_size);
    `stats`: a `MappingStats` filled with timings."""
    from ..model.hub import check_device
    check_device(device)  # a one-line DeviceError before any probing or decoding
    stats = stats if stats is not None else MappingStats()
    t_start = time.perf_counter()
    engine = None
    plans = model_plans(model)  # read from the model's config, before loading its weights
    if plans is None:  # a Hub id: its taxonomy comes with the model
        engine = load_model(model, device=device, dtype=dtype, precision=precision)
        plans = engine.taxonomy.mapping_plans()
    mapping = check_mapping(mapping if mapping is not None else next(iter(plans)), plans)
    plan = plans[mapping]
    stage1_window_s = stage1_window_s or plan.stage1_window_s
    stage2_window_s = stage2_window_s or plan.stage2_window_s
    if not stage2_window_s > 0 or not stage1_window_s >= stage2_window_s:
        raise ValueError("window lengths must satisfy 0 < stage2_window_s <= stage1_window_s")
    jobs = [_make_job(str(p), plan, stage1_window_s, stage2_window_s) for p in paths]  # bad videos: before loading
    if engine is None:
        engine = load_model(model, device=device, dtype=dtype, precision=precision)
    if workers is None:
        from ..video import default_workers
        workers = default_workers()
    out: queue.Queue = queue.Queue(maxsize=queue_size or 2 * max(1, batch_size))
    stop = threading.Event()
    mapper = _Mapper(jobs, engine, plan, batch_size, stats, progress, stage2_window_s)
    thread = threading.Thread(target=_decode_thread, args=(jobs, engine, out, stop, stats, workers),
                              name="halsted-decode", daemon=True)
    with engine.lock:
        mapper.report()
        thread.start()
        try:
            while True:
                if cancel is not None and cancel():
                    raise MappingCancelled("mapping cancelled; nothing was saved. Start it again to map the video")
                t0 = time.perf_counter()
                try:
                    item = out.get(timeout=0.2)
                except queue.Empty:
                    stats.wait_s += time.perf_counter() - t0
                    continue
                stats.wait_s += time.perf_counter() - t0
                if isinstance(item, _Clip):
                    mapper.add_clip(item)
                elif isinstance(item, _VideoEnd):
                    mapper.end_of_video(item)
                elif isinstance(item, _DecodeFailed):
                    raise item.error
                else:  # _AllDecoded
                    break
        finally:
            stop.set()
            # The decoders poll `stop` between frames and end at once; a decoder stuck inside FFmpeg cannot
            # be interrupted, so do not wait on it forever (the thread is a daemon).
            thread.join(timeout=10.0)
    timelines = [_timeline(job, engine, plan, stage2_window_s) for job in jobs]
    for job, tl in zip(jobs, timelines):
        stats.video_s += float(job.info.duration_s)
        if job.truncated:
            warnings.warn(TruncatedVideoWarning(job.path, job.decoded_until_s, job.stated_s), stacklevel=2)
    stats.wall_s += time.perf_counter() - t_start
    return timelines


def map_video(path: str, mapping: Optional[str] = None, model=None, device: str = "cpu", batch_size: int = 32,
              progress: Optional[Progress] = None, cancel: Optional[Cancel] = None,
              stage1_window_s: Optional[float] = None, stage2_window_s: Optional[float] = None, dtype=None,
              **kwargs) -> Timeline:
    """Map one video -> `Timeline`.

    Args:
        path: a video file (anything FFmpeg decodes).
        mapping: one of the model's mapping plans (its taxonomy's; the Halsted taxonomy's: "suturing",
            "dissection", "full", "procedure" (stage 1 only)); None: the model's first (the demo model: suturing).
        model: a folder, a Hub id, None (the bundled demo model), a loaded (model, processor) pair or an
            `LoadedModel` (see `load_model`).
        device / dtype: where and in which precision the model runs (e.g. "cuda", torch.bfloat16).
        precision: "float32" (default: the same answers on every CPU) or "bfloat16" (a frame encoder's backbone
            under bfloat16 autocast on the CPU: faster where the CPU has bfloat16 instructions); the Timeline
            records it in `timeline.model["precision"]`.
        batch_size: clips per model call.
        progress: called as progress(done, total) in windows; `total` may shrink once stage 1 shows
            which stretches stage 2 can skip, and equals `done` at the end.
        cancel: polled between batches; when it returns True, `MappingCancelled` is raised.
        stage1_window_s / stage2_window_s: window lengths in seconds (None: the plan's).
    Raises VideoError (not a video, too short, nothing decodable), TaskError (unknown mapping),
    CheckpointError (model), MappingCancelled. A truncated video is mapped up to where its data stops:
    `timeline.decoded_until_s` says where, with a warning in `timeline.warnings` and a
    `TruncatedVideoWarning`."""
    return map_videos([path], mapping=mapping, model=model, device=device, batch_size=batch_size,
                      progress=progress, cancel=cancel, stage1_window_s=stage1_window_s,
                      stage2_window_s=stage2_window_s, dtype=dtype, **kwargs)[0]
