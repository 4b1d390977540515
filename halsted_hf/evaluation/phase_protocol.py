"""The phase-recognition field's evaluation protocol (Cholec80, M2CAI16-workflow, AutoLaparo papers), numpy only.

It follows the evaluation script published with the M2CAI 2016 workflow challenge and revised for Cholec80
(MATLAB `Main.m` / `Evaluate.m`, which most phase papers on these datasets report with):

- per video: accuracy, and per phase precision, recall and Jaccard, in percent; a phase absent from a video's
  ground truth has no value there (NaN, left out of every mean);
- over videos: accuracy mean +- std (sample std, as MATLAB's `std`); precision, recall and Jaccard are first
  averaged per phase over the videos, then mean +- std over the phases;
- relaxed boundaries (`relax_s`, 10 s): within the first 10 s of each ground-truth phase segment a prediction
  of the phase before it (a late transition) counts as right, within its last 10 s one of the phase after it
  (an early transition); for Cholec80's gallbladder dissection / packaging and cleaning / retraction, which
  may alternate, a jump of two phases is forgiven too. True positives of a phase are the frames of the union
  of its predicted and true frames that count as right, so relaxed precision and recall can exceed 100 and are
  capped there.

Where the script is ambiguous this module says what it does: windows are measured in seconds (the frames whose
time lies within `relax_s` of the segment's first or last frame), so sparse label sequences (the CholecT50
copy here) relax the same span of time as dense ones; a frame with no prediction is wrong and never forgiven;
precision is undefined (NaN) in a video where the phase is never predicted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, FrozenSet, List, Optional, Sequence, Tuple

import numpy as np

NO_PREDICTION = -1
# (late, early): phase-id differences (prediction - truth) forgiven at a segment's start and at its end.
GENERAL_RULE: Tuple[FrozenSet[int], FrozenSet[int]] = (frozenset({-1}), frozenset({1}))
# Cholec80's revision: these phases may alternate with each other, so two-phase jumps are forgiven as well.
DISSECTION_PACKAGING = (frozenset({-1}), frozenset({1, 2}))
CLEANING_RETRACTION = (frozenset({-1, -2}), frozenset({1, 2}))
CHOLEC80_RULES = {"gallbladder dissection": DISSECTION_PACKAGING, "gallbladder packaging": DISSECTION_PACKAGING,
                  "cleaning and coagulation": CLEANING_RETRACTION, "gallbladder retraction": CLEANING_RETRACTION,
                  "gallbladder extraction": CLEANING_RETRACTION}  # CholecT50's name for the last phase


@dataclass(frozen=True)
class PhaseProtocol:
    """A published evaluation: the dataset format its labels come in, the relaxed-boundary width, the
    per-phase relaxation rules (by phase name; others follow `GENERAL_RULE`) and the rate frames are scored at."""

    name: str
    dataset: str
    relax_s: float = 10.0
    fps: float = 1.0
    rules: Dict[str, Tuple[FrozenSet[int], FrozenSet[int]]] = field(default_factory=dict)

    def rule(self, phase: str) -> Tuple[FrozenSet[int], FrozenSet[int]]:
        return self.rules.get(phase, GENERAL_RULE)


PROTOCOLS = {
    "cholec80": PhaseProtocol("cholec80", "cholec80", rules=CHOLEC80_RULES),
    "m2cai16": PhaseProtocol("m2cai16", "m2cai16", rules=CHOLEC80_RULES),
    "autolaparo": PhaseProtocol("autolaparo", "autolaparo"),
    "cholect50": PhaseProtocol("cholect50", "cholect50", rules=CHOLEC80_RULES),
}


def relaxed_correct(times_s: Sequence[float], truth: Sequence[int], pred: Sequence[int], phases: Sequence[str],
                    protocol: PhaseProtocol) -> np.ndarray:
    """Per frame: right, or forgiven by the relaxed boundary of its ground-truth phase segment."""
    t, g, p = np.asarray(times_s, dtype=float), np.asarray(truth), np.asarray(pred)
    correct = p == g
    if not len(g):
        return correct
    diff = np.where(p == NO_PREDICTION, np.iinfo(np.int32).min, p - g)  # no prediction matches no rule
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    for first, last in zip(starts, np.r_[starts[1:], len(g)] - 1):
        late, early = protocol.rule(phases[g[first]])
        span = slice(first, last + 1)
        near_start = t[span] - t[first] < protocol.relax_s - 1e-9
        near_end = t[last] - t[span] < protocol.relax_s - 1e-9
        forgiven = (near_start & np.isin(diff[span], list(late))) | (near_end & np.isin(diff[span], list(early)))
        correct[span] |= forgiven
    return correct


@dataclass
class VideoScores:
    """One video's numbers in percent; per-phase arrays hold NaN where the phase has no value."""

    video: str
    frames: int
    accuracy: float
    precision: np.ndarray
    recall: np.ndarray
    jaccard: np.ndarray


def score_video(video: str, truth: Sequence[int], pred: Sequence[int], num_phases: int,
                correct: Optional[np.ndarray] = None) -> VideoScores:
    """Accuracy and per-phase precision / recall / Jaccard; `correct` (from `relaxed_correct`) gives the
    relaxed numbers, None the strict ones (right = same phase)."""
    g, p = np.asarray(truth), np.asarray(pred)
    ok = (p == g) if correct is None else np.asarray(correct, dtype=bool)
    precision, recall, jaccard = (np.full(num_phases, np.nan) for _ in range(3))
    for k in range(num_phases):
        in_truth, in_pred = g == k, p == k
        if not in_truth.any():
            continue  # the script's NaN: a phase this video does not have is left out of the means
        union = in_truth | in_pred
        tp = float(ok[union].sum())
        jaccard[k] = min(100.0, 100.0 * tp / union.sum())
        recall[k] = min(100.0, 100.0 * tp / in_truth.sum())
        if in_pred.any():
            precision[k] = min(100.0, 100.0 * tp / in_pred.sum())
    return VideoScores(video, len(g), 100.0 * float(ok.mean()), precision, recall, jaccard)


def _mean_std(values: Sequence[float]) -> Tuple[float, float]:
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    if not len(v):
        return float("nan"), float("nan")
    return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0


def per_phase_means(videos: Sequence[VideoScores], metric: str) -> np.ndarray:
    """Each phase's mean over the videos that have a value for it (NaN where none has)."""
    stacked = np.vstack([getattr(v, metric) for v in videos])
    counts = (~np.isnan(stacked)).sum(axis=0)
    sums = np.nansum(stacked, axis=0)
    return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def summarize(videos: Sequence[VideoScores]) -> Dict[str, Tuple[float, float]]:
    """{metric: (mean, std)}: accuracy over videos; precision, recall, Jaccard over phases of per-phase means.
    `pooled accuracy` (all frames of all videos together, no std) is there too, because some papers report it."""
    out = {"accuracy": _mean_std([v.accuracy for v in videos])}
    for metric in ("precision", "recall", "jaccard"):
        out[metric] = _mean_std(per_phase_means(videos, metric))
    frames = sum(v.frames for v in videos)
    out["pooled accuracy"] = (sum(v.accuracy * v.frames for v in videos) / frames if frames else float("nan"),
                              float("nan"))
    return out


def phase_ids(categories: Sequence[Optional[str]], phases: Sequence[str], where: str) -> np.ndarray:
    """Predicted categories as phase ids (None: no prediction); a category outside `phases` is an error."""
    index = {p: i for i, p in enumerate(phases)}
    unknown = sorted({c for c in categories if c is not None and c not in index})
    if unknown:
        raise ValueError(f"{where}: predicted phase(s) {unknown} are not this protocol's phases {list(phases)}; "
                         f"was the model trained on this dataset's taxonomy?")
    return np.array([NO_PREDICTION if c is None else index[c] for c in categories], dtype=int)


def labels_from_segments(segments: Sequence, tag: str, times_s: Sequence[float]) -> List[Optional[str]]:
    """The category of `tag` at each time, from time spans with tags (a Timeline's `select(tag=...)`, or any
    objects with start_s, end_s and tags): the span holding the time, [start_s, end_s); None where none does."""
    spans = sorted((s.start_s, s.end_s, s.tags[tag]) for s in segments if tag in s.tags)
    starts = np.array([s[0] for s in spans])
    out: List[Optional[str]] = []
    for t in times_s:
        i = int(np.searchsorted(starts, t, side="right")) - 1
        out.append(spans[i][2] if i >= 0 and t < spans[i][1] else None)
    return out
