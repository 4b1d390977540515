"""The procedure script: what happens when in each synthetic video (the ground truth), planned cheaply.

Planning is separate from rendering: `plan_atlas` decides, for every video, the procedure(s), the
timeline of steps, the dissection actions (action, arm, instrument) and the stitches (phases,
proficiency, anatomy, extent, direction), all as integer frame intervals so that labels are exact.
Rendering (render.py) only draws what the script says. Tests check taxonomy coverage on plans of
12 videos without drawing a pixel.

Imbalance follows the real atlas (Table 2 of the paper): prostatectomy dominates, dissection clips
outnumber suturing clips, and frequent actions (retraction, cautery) outnumber rare ones (mesh,
fluorescence). Coverage of every category is forced early, with probability `FORCE`, from one RNG
that runs through all videos in order: the same seed gives the same plan.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ...model.taxonomy import CO_OCCURRENCE, HALSTED_TAXONOMY, SPECIALTY_OF_PROCEDURE, Taxonomy
from ..atlas import make_row

SYNTH_VERSION = "1.0"
FORCE = 0.6  # chance that a pick goes to a not-yet-seen category while some remain

# ---- procedures -----------------------------------------------------------------------------------
DOMINANT_PROCEDURE = "prostatectomy"  # 469 of 616 atlas videos: one synthetic video in four
# Procedures whose atlas videos are annotated for dissection only (no anatomy of Table 3 is sutured).
DISSECTION_ONLY = {"IMA harvest", "total mesorectal excision", "laparoscopic cholecystectomy", "endometriosis",
                   "right middle lobectomy", "right upper lobectomy", "segmentectomy"}
# Relative time in suturing vs dissection for procedures with both steps (suturing-centred ones in Table 2).
SUTURING_WEIGHT = {"gastric bypass": 2.0, "atrial closure": 2.0, "mitral stitching": 2.5, "right colectomy": 1.5,
                   "myomectomy": 2.0, "laparoscopic hernia": 0.8, "hysterectomy": 0.8,
                   "pancreaticoduodenectomy": 1.5, "prostatectomy": 0.8}
# Anatomy a stitch plausibly targets in each procedure; together they cover all 18 categories.
SUTURE_ANATOMY = {
    "gastric bypass": ("stomach", "small intestine–stomach", "stomach–small intestine", "small intestine"),
    "atrial closure": ("left atrium",),
    "mitral stitching": ("mitral annulus",),
    "right colectomy": ("colon", "small intestine"),
    "laparoscopic hernia": ("peritoneum",),
    "hysterectomy": ("vagina", "uterus", "peritoneum"),
    "myomectomy": ("uterus",),
    "pancreaticoduodenectomy": ("pancreas–small intestine", "bile duct–small intestine", "small intestine–bile duct",
                                "pancreas", "bile duct", "small intestine"),
    "prostatectomy": ("bladder–urethra", "urethra", "bladder", "peritoneum"),
}

# ---- dissection actions ---------------------------------------------------------------------------
ACTION_WEIGHT = {
    "retraction": 20, "cautery": 15, "hook": 9, "push/peel": 9, "spread": 6, "cold cut": 5, "hot cut": 6,
    "clip": 4, "idle": 5, "camera move": 5, "tug": 3, "other": 3, "sponge": 2, "extraction": 2, "assistant": 2,
    "stapler": 2, "tube": 1, "mesh": 1, "fluorescence": 1,
}
GRASPERS = ("grasper", "prograsp forceps", "cadiere forceps", "fenestrated grasper", "fenestrated forceps",
            "bipolar grasper", "bipolar forceps", "maryland grasper")
ACTION_INSTRUMENTS = {
    "retraction": GRASPERS + ("cadiere forceps–bipolar grasper", "fenestrated grasper–bipolar grasper"),
    "cautery": ("cautery hook", "hook monopolar", "cautery spatula", "bipolar forceps", "bipolar dissector",
                "bipolar grasper", "monopolar scissors", "vessel sealer", "bipolar forceps–cautery hook",
                "bipolar forceps–monopolar scissors", "bipolar forceps–vessel sealer"),
    "hook": ("cautery hook", "hook monopolar", "bipolar forceps–cautery hook"),
    "hot cut": ("monopolar scissors", "shears", "vessel sealer", "bipolar forceps–monopolar scissors",
                "bipolar grasper–monopolar scissors", "bipolar forceps–vessel sealer"),
    "cold cut": ("scissors", "shears", "monopolar scissors"),
    "spread": ("maryland grasper", "bipolar dissector", "scissors", "bipolar forceps", "monopolar scissors"),
    "push/peel": ("bipolar forceps", "cautery spatula", "maryland grasper", "grasper", "fenestrated grasper",
                  "suction", "bipolar forceps–monopolar scissors"),
    "clip": ("clip applier", "clipper"),
    "stapler": ("stapler",),
    "extraction": ("grasper", "fenestrated grasper", "prograsp forceps"),
    "fluorescence": ("bipolar forceps", "grasper", "maryland grasper"),
    "idle": GRASPERS + ("needle driver", "monopolar scissors", "bipolar forceps–monopolar scissors"),
    "mesh": ("grasper", "needle driver", "prograsp forceps"),
    "sponge": ("grasper", "fenestrated grasper", "cadiere forceps"),
    "tube": ("grasper", "prograsp forceps", "needle driver"),
    "tug": ("grasper", "prograsp forceps", "cadiere forceps", "bipolar grasper", "fenestrated forceps",
            "cadiere forceps–bipolar grasper"),
    "assistant": ("suction", "grasper"),
    "other": GRASPERS + ("needle driver", "suction", "scissors"),
    "camera move": (),
}
ACTION_SECONDS = {  # typical (min, max) duration of one action segment
    "clip": (2.5, 6), "stapler": (5, 10), "camera move": (2, 5), "idle": (2, 6), "fluorescence": (3, 8),
    "extraction": (4, 10), "mesh": (4, 10), "cold cut": (2, 6), "hot cut": (2, 7), "cautery": (2, 8),
}
DEFAULT_SECONDS = (2.5, 10)
NO_ARM_ACTIONS = {"assistant"}      # the bedside assistant's instrument enters through its own port
BARE_ACTIONS = {"camera move"}      # the camera moves; no instrument is tagged

# ---- suturing -------------------------------------------------------------------------------------
PHASE_SECONDS = {  # (high, low proficiency) ranges: low proficiency is slower
    "needle handling": ((2.0, 4.0), (4.0, 8.0)),
    "driving": ((2.0, 3.5), (3.5, 7.0)),
    "withdrawal": ((1.5, 3.0), (3.0, 6.0)),
}
PHASE_ORDER = ("needle handling", "driving", "withdrawal")
P_HIGH = 0.65                       # share of high-proficiency stitches
P_PHASE_FLIP = 0.15                 # a phase's proficiency differs from its stitch's
EXTENT_WEIGHT = {"single": 6, "double": 2.5, "surface": 1.5}
DIRECTION_WEIGHT = {"in": 4.5, "out": 4, "both": 1.5}


@dataclass
class Interval:
    """A labelled interval [start, end) in frames of one task, plus rendering hints."""

    start: int
    end: int
    task: str
    tags: Dict[str, str]
    params: Dict[str, object] = field(default_factory=dict)


@dataclass
class Step:
    start: int
    end: int
    procedure: str
    specialty: str
    step: str  # "dissection" | "suturing"


@dataclass
class Stitch:
    """One needle handling -> driving -> withdrawal cycle; `phases` are its task-3 intervals."""

    anatomy: str
    extent: str
    direction: str
    phases: List[Interval]

    @property
    def driving(self) -> Interval:
        return next(p for p in self.phases if p.tags["phase"] == "driving")


@dataclass
class VideoScript:
    video_id: str
    index: int
    render_seed: int
    fps: float
    n_frames: int
    steps: List[Step]
    actions: List[Interval]
    stitches: List[Stitch]

    @property
    def duration_s(self) -> float:
        return self.n_frames / self.fps

    @property
    def procedures(self) -> List[str]:
        return list(dict.fromkeys(s.procedure for s in self.steps))

    def seconds(self, frame: int) -> float:
        return round(frame / self.fps, 6)

    def step_at(self, frame: int) -> Step:
        for step in self.steps:
            if step.start <= frame < step.end:
                return step
        return self.steps[-1]

    # ---- ground truth as a Timeline (mapping/timeline.py) and as atlas rows -------------------
    def fine_intervals(self) -> List[Interval]:
        """Stage-2 ground truth: actions, phases and needle drivings (context task), by start."""
        out = list(self.actions)
        for stitch in self.stitches:
            out += stitch.phases
            d = stitch.driving
            out.append(Interval(d.start, d.end, "context",
                                {"anatomy": stitch.anatomy, "extent": stitch.extent, "direction": stitch.direction}))
        order = {"micro-activity": 0, "proficiency": 1, "context": 2}
        return sorted(out, key=lambda iv: (iv.start, order.get(iv.task, 9)))

    def to_timeline(self) -> dict:
        segments = []
        for s in self.steps:
            tags = {"specialty": s.specialty, "procedure": s.procedure, "step": s.step}
            segments.append(self._segment(s.start, s.end, 1, "macro-activity", tags))
        for iv in self.fine_intervals():
            segments.append(self._segment(iv.start, iv.end, 2, iv.task, iv.tags))
        return {
            "video": {"id": self.video_id, "duration_s": self.seconds(self.n_frames), "fps": float(self.fps),
                      "frames": self.n_frames},
            "model": {"name": "ground truth", "revision": f"halsted-synthetic-{SYNTH_VERSION}"},
            "workflow": "ground truth",
            "segments": segments,
        }

    def _segment(self, start: int, end: int, stage: int, task: str, tags: Dict[str, str]) -> dict:
        return {"start_s": self.seconds(start), "end_s": self.seconds(end), "stage": stage, "task": task,
                "tags": dict(tags), "scores": {k: 1.0 for k in tags}}

    def atlas_rows(self, video_path: str, taxonomy: Taxonomy = HALSTED_TAXONOMY,
                   windows: Optional["WindowSpec"] = None) -> List[dict]:
        """Clip samples for all four tasks: task 1 tiles each step with 5-20 s clips (`clips1` in the
        plan); tasks 2, 3, 4 use the action, phase and driving intervals themselves (1-20 s each).
        With `windows`, every interval also yields sliding sub-windows (see `sub_windows`): several
        clips per segment, so that a dozen videos give thousands of training samples."""
        rows = []
        intervals = self.macro_clips + self.fine_intervals()
        if windows is not None:
            intervals = [w for iv in intervals for w in sub_windows(iv, windows, self.fps, self.steps)]
        for iv in intervals:
            step = self.step_at(iv.start)
            rows.append(make_row(self.video_id, video_path, self.seconds(iv.start), self.seconds(iv.end), iv.task,
                                 taxonomy.task(iv.task).instruction, iv.tags, specialty=step.specialty,
                                 procedure=step.procedure, annotation_source="manual", dataset="synthetic"))
        return rows

    macro_clips: List[Interval] = field(default_factory=list)


# ---- dense sampling -------------------------------------------------------------------------------
@dataclass(frozen=True)
class WindowSpec:
    """Sliding sub-windows per labelled segment, in seconds: `fine` = (length, stride) for tasks 2-4
    (actions, phases, drivings), `macro` = (length, stride) inside each step for task 1."""

    fine: Tuple[float, float] = (4.0, 2.0)
    macro: Tuple[float, float] = (8.0, 4.0)


def sub_windows(iv: Interval, spec: WindowSpec, fps: float, steps: Sequence[Step] = ()) -> List[Interval]:
    """The interval itself plus windows of `length` s every `stride` s inside it (same labels).

    Task 1 windows slide over the whole step that holds the clip (once, from the step's first clip),
    so macro windows are not limited to the 5-20 s tiling. A window never crosses its segment: its
    label is exact. Segments shorter than a window give only themselves."""
    length, stride = spec.macro if iv.task == "macro-activity" else spec.fine
    lo, hi = iv.start, iv.end
    if iv.task == "macro-activity":
        step = next((s for s in steps if s.start <= iv.start < s.end), None)
        if step is not None:
            if step.start != iv.start:  # the step's first clip emits the step's windows
                return [iv]
            lo, hi = step.start, step.end
    n, k = _frames(length, fps), _frames(stride, fps)
    out = [iv]
    for s in range(lo, hi - n + 1, k):
        if (s, s + n) != (iv.start, iv.end):
            out.append(Interval(s, s + n, iv.task, dict(iv.tags), dict(iv.params)))
    return out


# ---- planning -------------------------------------------------------------------------------------
class _Picker:
    """Weighted choice that, while some categories of a tag are unseen, picks one of them with p=FORCE."""

    def __init__(self, rng: np.random.Generator, force: float = FORCE):
        self.rng, self.force = rng, force
        self.seen: Dict[str, set] = {}

    def unseen(self, tag: str, candidates: Sequence[str]) -> List[str]:
        seen = self.seen.setdefault(tag, set())
        return [c for c in candidates if c not in seen]

    def weighted(self, candidates: Sequence[str], weights: Optional[Dict[str, float]] = None) -> str:
        w = np.array([(weights or {}).get(c, 1.0) for c in candidates], dtype=float)
        return candidates[int(self.rng.choice(len(candidates), p=w / w.sum()))]

    def pick(self, tag: str, candidates: Sequence[str], weights: Optional[Dict[str, float]] = None,
             force: Optional[float] = None) -> str:
        unseen = self.unseen(tag, candidates)
        if unseen and self.rng.random() < (self.force if force is None else force):
            choice = unseen[int(self.rng.integers(len(unseen)))]
        else:
            choice = self.weighted(candidates, weights)
        self.mark(tag, choice)
        return choice

    def mark(self, tag: str, value: str) -> None:
        self.seen.setdefault(tag, set()).add(value)


def _frames(seconds: float, fps: float) -> int:
    return max(1, int(round(seconds * fps)))


def assign_procedures(videos: int, rng: np.random.Generator) -> List[List[str]]:
    """Procedures of each video. Every fourth video is the dominant prostatectomy; the others take the
    remaining procedures in a seeded order, two per video (a combined case, the second after the first)
    while more procedures are uncovered than single videos remain; then draws weighted like Table 2."""
    others = [p for p in SPECIALTY_OF_PROCEDURE if p != DOMINANT_PROCEDURE]
    queue = [others[i] for i in rng.permutation(len(others))]
    # tempered Table-2 video counts for draws once everything is covered
    weights = {p: 1.0 for p in others}
    weights[DOMINANT_PROCEDURE] = 4.0
    plan = []
    for i in range(videos):
        if i % 4 == 0:
            plan.append([DOMINANT_PROCEDURE])
            continue
        first = queue.pop(0) if queue else _choice(rng, list(weights), weights)
        procs = [first]
        slots_left = sum(1 for j in range(i + 1, videos) if j % 4)
        if len(queue) > slots_left:
            procs.append(queue.pop(0))
        plan.append(procs)
    return plan


def _choice(rng, items, weights):
    w = np.array([weights[i] for i in items], dtype=float)
    return items[int(rng.choice(len(items), p=w / w.sum()))]


def _plan_steps(procedure: str, start: int, end: int, fps: float, rng) -> List[Tuple[str, int, int]]:
    """Alternate dissection and suturing steps of about 40-100 s (dissection-only procedures: one step)."""
    seconds = (end - start) / fps
    if procedure in DISSECTION_ONLY or seconds < 20:
        kind = "dissection" if procedure in DISSECTION_ONLY or SUTURING_WEIGHT[procedure] < 1.5 else "suturing"
        return [(kind, start, end)]
    k = max(2, int(round(seconds / 70)))
    kinds = ["dissection" if j % 2 == 0 else "suturing" for j in range(k)]
    w = np.array([(SUTURING_WEIGHT[procedure] if kd == "suturing" else 1.0) * rng.uniform(0.7, 1.3) for kd in kinds])
    cuts = start + np.round(np.cumsum(w / w.sum()) * (end - start)).astype(int)
    edges = [start] + cuts.tolist()
    edges[-1] = end
    return [(kinds[j], edges[j], edges[j + 1]) for j in range(k) if edges[j + 1] > edges[j]]


def _plan_dissection(start: int, end: int, fps: float, picker: _Picker) -> List[Interval]:
    rng = picker.rng
    instrument_actions: Dict[str, List[str]] = {}
    for action, insts in ACTION_INSTRUMENTS.items():
        for inst in insts:
            instrument_actions.setdefault(inst, []).append(action)
    actions_all = list(ACTION_WEIGHT)
    min_len, max_len = int(math.ceil(fps)), int(math.floor(20 * fps))
    out: List[Interval] = []
    t = start
    while end - t >= min_len:
        unseen_inst = picker.unseen("instrument", list(instrument_actions))
        if unseen_inst and rng.random() < FORCE:
            inst = unseen_inst[int(rng.integers(len(unseen_inst)))]
            action = picker.pick("action", instrument_actions[inst], ACTION_WEIGHT)
            picker.mark("instrument", inst)
        else:
            action = picker.pick("action", actions_all, ACTION_WEIGHT)
            insts = ACTION_INSTRUMENTS[action]
            inst = picker.pick("instrument", insts) if insts else None
        lo, hi = ACTION_SECONDS.get(action, DEFAULT_SECONDS)
        n = _frames(rng.uniform(lo, hi), fps)
        if end - (t + n) < min_len:  # too little left for another clip: this one takes the rest
            n = end - t
        n = min(n, max_len)
        tags = {"action": action}
        if action not in BARE_ACTIONS:
            if action not in NO_ARM_ACTIONS:
                arm = ("both" if CO_OCCURRENCE in inst
                       else picker.pick("arm", ["left", "right"], {"left": 4, "right": 6}))
                picker.mark("arm", arm)
                tags["arm"] = arm
            tags["instrument"] = inst
        out.append(Interval(t, t + n, "micro-activity", tags))
        t += n
    return out


def _plan_suturing(procedure: str, start: int, end: int, fps: float, picker: _Picker) -> List[Stitch]:
    rng = picker.rng
    stitches: List[Stitch] = []
    t = start + _frames(rng.uniform(0.5, 2.0), fps)
    while True:
        high = rng.random() < P_HIGH
        phases, u = [], t
        for name in PHASE_ORDER:
            phase_high = high if rng.random() >= P_PHASE_FLIP else not high
            lo, hi = PHASE_SECONDS[name][0 if phase_high else 1]
            n = max(int(math.ceil(fps)), _frames(rng.uniform(lo, hi), fps))
            phases.append(Interval(u, u + n, "proficiency",
                                   {"phase": name, "proficiency": "high" if phase_high else "low"}))
            u += n
        if u > end:
            break
        anatomy = picker.pick("anatomy", SUTURE_ANATOMY[procedure], force=1.0)
        extent = picker.pick("extent", list(EXTENT_WEIGHT), EXTENT_WEIGHT)
        direction = picker.pick("direction", list(DIRECTION_WEIGHT), DIRECTION_WEIGHT)
        stitches.append(Stitch(anatomy, extent, direction, phases))
        t = u + _frames(rng.uniform(0.3, 1.5), fps)  # carrying the needle to the next bite: unlabelled
    return stitches


def _macro_clips(steps: List[Step], fps: float, rng) -> List[Interval]:
    """Tile each step with task-1 clips of 5-20 s; a remainder under 1 s is dropped."""
    clips = []
    for s in steps:
        t = s.start
        while s.end - t >= int(math.ceil(fps)):
            n = min(_frames(rng.uniform(5, 20), fps), s.end - t)
            clips.append(Interval(t, t + n, "macro-activity",
                                  {"specialty": s.specialty, "procedure": s.procedure, "step": s.step}))
            t += n
    return clips


def video_id_of(seed: int, index: int) -> str:
    return f"synth-s{seed}-v{index:03d}"


def plan_atlas(videos: int, minutes: float, seed: int, fps: float = 8.0) -> List[VideoScript]:
    """Plan `videos` synthetic procedures of `minutes` each (cheap: no pixels). Deterministic in its args."""
    if videos < 1:
        raise ValueError(f"videos must be at least 1, got {videos}")
    if minutes * 60 < 2:
        raise ValueError(f"minutes must give at least 2 seconds of video, got {minutes}")
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x5A17]))
    picker = _Picker(rng)
    n_frames = int(round(minutes * 60 * fps))
    scripts = []
    for i, procs in enumerate(assign_procedures(videos, rng)):
        edges = [0, n_frames]
        if len(procs) == 2:
            edges = [0, int(round(n_frames * rng.uniform(0.45, 0.6))), n_frames]
        steps: List[Step] = []
        for p, a, b in zip(procs, edges[:-1], edges[1:]):
            for kind, s, e in _plan_steps(p, a, b, fps, rng):
                steps.append(Step(s, e, p, SPECIALTY_OF_PROCEDURE[p], kind))
        actions, stitches = [], []
        for s in steps:
            if s.step == "dissection":
                actions += _plan_dissection(s.start, s.end, fps, picker)
            else:
                stitches += _plan_suturing(s.procedure, s.start, s.end, fps, picker)
        render_seed = int(np.random.SeedSequence([int(seed), i]).generate_state(1)[0])
        script = VideoScript(video_id_of(seed, i), i, render_seed, float(fps), n_frames, steps, actions, stitches)
        script.macro_clips = _macro_clips(steps, fps, rng)
        scripts.append(script)
    _repair_anatomy(scripts)
    return scripts


def _repair_anatomy(scripts: List[VideoScript]) -> None:
    """Give anatomy targets that no stitch got (a procedure with many targets and few stitches) to a
    stitch of the most frequent target, in a procedure where the missing one is plausible if there is
    such a stitch, else anywhere. Deterministic."""
    counts: Dict[str, int] = {a: 0 for task in HALSTED_TAXONOMY.tasks for a in task.tags.get("anatomy", ())}
    stitches = [(s, st) for s in scripts for st in s.stitches]
    for _, st in stitches:
        counts[st.anatomy] += 1
    for missing in [a for a, n in counts.items() if n == 0]:
        # a plausible donor if there is one; else any stitch (all 18 targets must appear somewhere)
        spare = [(counts[st.anatomy], -i, st, missing in SUTURE_ANATOMY[s.step_at(st.driving.start).procedure])
                 for i, (s, st) in enumerate(stitches) if counts[st.anatomy] > 1]
        donors = [d for d in spare if d[3]] or spare
        if donors:
            st = max(donors, key=lambda d: (d[3], d[0], d[1]))[2]
            counts[st.anatomy] -= 1
            st.anatomy = missing
            counts[missing] += 1


def coverage(scripts: Sequence[VideoScript], taxonomy: Taxonomy = HALSTED_TAXONOMY) -> Dict[str, Dict[str, int]]:
    """Clip counts per tag and category over the plans' atlas rows (what the atlas will contain)."""
    counts: Dict[str, Dict[str, int]] = {tag: {c: 0 for c in cats} for task in taxonomy.tasks
                                         for tag, cats in task.tags.items()}
    for script in scripts:
        for iv in script.macro_clips + script.fine_intervals():
            for tag, cat in iv.tags.items():
                counts[tag][cat] += 1
    return counts


def missing_categories(scripts: Sequence[VideoScript], taxonomy: Taxonomy = HALSTED_TAXONOMY) -> Dict[str, List[str]]:
    return {tag: [c for c, n in cats.items() if n == 0] for tag, cats in coverage(scripts, taxonomy).items()
            if any(n == 0 for n in cats.values())}
