"""Scoring prediction tables (Halsted's and the baselines') the way the paper does, with 95% bootstrap CIs.

Input: long prediction tables (`predict.PRED_COLUMNS`: one row per clip and true tag). Output: plain
dicts (JSON-ready) of metrics per tag, task, specialty and annotation source, and Halsted vs SAIS-style.

Intervals: [point, low, high]. The resampling unit is whole videos when the evaluated set holds at least
`MIN_VIDEOS_FOR_VIDEO_CI` videos (clips of one video are correlated, so that is the honest unit), else
clips (with one test video per fold, a per-fold video bootstrap would have zero width); the report says which.

Temporal metrics treat each test video's clips of a task, in time order, as a sequence: consecutive clips
with the same category form one segment spanning [first start, last end). Temporal F1 matches a predicted
and a true segment of the same category at >= 10% overlap (IoU, `metrics.match_segments`); F1@{10,25,50}
and edit score are the action-segmentation conventions over the clip sequence (`metrics.segmental_counts`,
`metrics.edit_score`). Counts are summed over videos before the F1, as papers report it.
"""

from __future__ import annotations

from typing import Dict, List, Optional

import numpy as np
import pandas as pd

from .bootstrap import bootstrap_ci
from .metrics import accuracy, auroc, edit_score, f1_from_counts, match_segments, segmental_counts

MIN_VIDEOS_FOR_VIDEO_CI = 5
NONE = "<none>"  # the model emitted no such tag: wrong, and starts no predicted segment
KS = (0.10, 0.25, 0.50)


def ci_groups(preds: pd.DataFrame, unit: str = "auto") -> Optional[np.ndarray]:
    """Bootstrap groups: video ids ("video"), None for clips ("clip"), or "auto" (see module doc)."""
    if unit == "auto":
        unit = "video" if preds["video_id"].nunique() >= MIN_VIDEOS_FOR_VIDEO_CI else "clip"
    return preds["video_id"].to_numpy(dtype=object) if unit == "video" else None


def resolved_unit(preds: pd.DataFrame, unit: str = "auto") -> str:
    return unit if unit != "auto" else ("video" if preds["video_id"].nunique() >= MIN_VIDEOS_FOR_VIDEO_CI else "clip")


def _ci(values) -> List[float]:
    return [None if (v is None or (isinstance(v, float) and np.isnan(v))) else round(float(v), 6) for v in values]


def accuracy_ci(preds: pd.DataFrame, n_boot: int = 1000, unit: str = "auto", seed: int = 0) -> List[float]:
    if preds.empty:
        return [None, None, None]
    return _ci(bootstrap_ci(accuracy, preds["true"].to_numpy(dtype=object), preds["pred"].to_numpy(dtype=object),
                            n_boot=n_boot, seed=seed, groups=ci_groups(preds, unit)))


def auroc_ci(preds: pd.DataFrame, positive: str, n_boot: int = 1000, unit: str = "auto", seed: int = 0) -> List[float]:
    y = (preds["true"] == positive).to_numpy(dtype=float)
    s = preds["p_positive"].to_numpy(dtype=float)
    if len(y) == 0 or y.min() == y.max() or np.isnan(s).any():
        return [None, None, None]
    return _ci(bootstrap_ci(auroc, y, s, n_boot=n_boot, seed=seed, groups=ci_groups(preds, unit)))


def video_sequences(preds: pd.DataFrame):
    """Per video: (starts, ends, true labels, predicted labels) of one tag's clips in time order."""
    for vid, g in preds.sort_values(["video_id", "start_s"]).groupby("video_id", sort=True):
        g = g.drop_duplicates("start_s")
        yield vid, g["start_s"].to_numpy(float), g["end_s"].to_numpy(float), list(g["true"]), \
            [NONE if p is None or (isinstance(p, float) and np.isnan(p)) else p for p in g["pred"]]


def time_segments(starts, ends, labels, ignore=(NONE,)):
    """Runs of equal consecutive labels -> [(start_s, end_s, label)]."""
    out = []
    i = 0
    while i < len(labels):
        j = i
        while j + 1 < len(labels) and labels[j + 1] == labels[i]:
            j += 1
        if labels[i] not in ignore:
            out.append((float(starts[i]), float(ends[j]), labels[i]))
        i = j + 1
    return out


def temporal_metrics(preds: pd.DataFrame, n_boot: int = 1000, seed: int = 0) -> Dict[str, List[float]]:
    """Temporal F1 (>= 10% overlap, in [0, 1]), F1@{10,25,50} and edit score (in [0, 100]) of one tag.
    CIs resample videos (the metric's natural unit)."""
    per_video = []  # rows: temporal tp, fp, fn, then (tp, fp, fn) for each k, then edit
    for _, s, e, t, p in video_sequences(preds):
        row = list(match_segments(time_segments(s, e, t), time_segments(s, e, p), 0.1))
        for k in KS:
            row += list(segmental_counts(t, p, k, ignore=(NONE,)))
        row.append(edit_score(t, p, ignore=(NONE,)))
        per_video.append(row)
    if not per_video:
        return {}
    a = np.asarray(per_video, dtype=float)
    cols = [a[:, i] for i in range(a.shape[1])]

    def f1_cols(i0, scale):
        return lambda *c: f1_from_counts(c[i0].sum(), c[i0 + 1].sum(), c[i0 + 2].sum()) / scale

    out = {"temporal_f1": _ci(bootstrap_ci(f1_cols(0, 100.0), *cols, n_boot=n_boot, seed=seed))}
    for i, k in enumerate(KS):
        out[f"f1@{int(k * 100)}"] = _ci(bootstrap_ci(f1_cols(3 + 3 * i, 1.0), *cols, n_boot=n_boot, seed=seed))
    out["edit"] = _ci(bootstrap_ci(lambda *c: float(np.mean(c[-1])), *cols, n_boot=n_boot, seed=seed))
    return out


def tag_table(preds: pd.DataFrame, taxonomy, n_boot: int = 1000, unit: str = "auto", seed: int = 0,
              temporal: bool = True) -> List[dict]:
    """One dict per tag: n, accuracy CI, AUROC CI for binary tags, temporal metrics."""
    from .predictions import positive_category

    rows = []
    for tag in [t for t in taxonomy.all_tags if t in set(preds["tag"])]:
        g = preds[preds["tag"] == tag]
        cats = taxonomy.task_of_tag(tag).tags[tag]
        row = {"tag": tag, "task": taxonomy.task_of_tag(tag).name, "n": int(len(g)),
               "videos": int(g["video_id"].nunique()),
               "accuracy": accuracy_ci(g, n_boot, unit, seed)}
        pos = positive_category(cats)
        if pos is not None:
            row["auroc"] = auroc_ci(g, pos, n_boot, unit, seed)
            row["auroc_positive"] = pos
        if temporal:
            row.update(temporal_metrics(g, n_boot, seed))
        rows.append(row)
    return rows


def group_table(preds: pd.DataFrame, by: str, n_boot: int = 1000, unit: str = "auto", seed: int = 0) -> List[dict]:
    """Accuracy over all (clip, tag) rows of each value of `by` (task, specialty, annotation_source)."""
    out = []
    for key, g in preds.groupby(by, sort=True):
        out.append({by: key, "n": int(len(g)), "videos": int(g["video_id"].nunique()),
                    "accuracy": accuracy_ci(g, n_boot, unit, seed)})
    return out


def compare_systems(a: pd.DataFrame, b: pd.DataFrame, by: str = "task", n_boot: int = 1000, unit: str = "auto",
                    seed: int = 0) -> List[dict]:
    """System a vs b on the same rows, per value of `by`: both accuracies with CIs, whether the CIs separate,
    and the paired bootstrap CI of the difference (a - b)."""
    keys = ["fold", "clip", "tag"]
    m = a.merge(b[keys + ["pred"]], on=keys, suffixes=("", "_b"), how="inner")
    out = []
    for key, g in m.groupby(by, sort=True):
        ca = accuracy_ci(g, n_boot, unit, seed)
        cb = accuracy_ci(g.assign(pred=g["pred_b"]), n_boot, unit, seed)
        t = g["true"].to_numpy(dtype=object)
        diff = _ci(bootstrap_ci(lambda t_, p_, q_: accuracy(t_, p_) - accuracy(t_, q_), t,
                                g["pred"].to_numpy(dtype=object), g["pred_b"].to_numpy(dtype=object),
                                n_boot=n_boot, seed=seed, groups=ci_groups(g, unit)))
        separate = None
        if None not in ca and None not in cb:
            separate = "a" if ca[1] > cb[2] else ("b" if cb[1] > ca[2] else "no")
        out.append({by: key, "n": int(len(g)), "a": ca, "b": cb, "ci_separate": separate, "difference": diff,
                    "difference_excludes_0": None if None in diff else bool(diff[1] > 0 or diff[2] < 0)})
    return out


def headline_rows(preds: Dict[str, pd.DataFrame]) -> Dict[str, pd.DataFrame]:
    """Every system's table cut to human-labelled rows (data/atlas.py HUMAN_SOURCES); unchanged when the
    test rows have no human label at all (the report then names the sources it scored)."""
    from ..data.atlas import HUMAN_SOURCES

    h = preds["halsted"]
    if not h["annotation_source"].isin(HUMAN_SOURCES).any():
        return preds
    return {k: t[t["annotation_source"].isin(HUMAN_SOURCES)] for k, t in preds.items()}


def summarize(preds: Dict[str, pd.DataFrame], taxonomy, n_boot: int = 1000, unit: str = "auto", seed: int = 0) -> dict:
    """Everything the report shows for one set of folds (one fold, or all pooled).

    `preds`: {"halsted": table, "sais": table, "majority": table} on the same test rows.
    Headline numbers (tags, tasks, baselines, Halsted vs SAIS) count only human-labelled test rows, so
    machine labels (self-label, ai) never score a model; the by-source table shows every source."""
    from .baselines import uniform_chance

    every_source = preds["halsted"]
    preds = headline_rows(preds)
    h = preds["halsted"]
    out = {"ci_unit": resolved_unit(h, unit), "test_videos": sorted(h["video_id"].unique().tolist()),
           "n_clips": int(h[["fold", "clip"]].drop_duplicates().shape[0]),
           "tags": tag_table(h, taxonomy, n_boot, unit, seed),
           "tasks": group_table(h, "task", n_boot, unit, seed),
           "specialty": group_table(h, "specialty", n_boot, unit, seed),
           "annotation_source": group_table(every_source, "annotation_source", n_boot, unit, seed),
           "headline_sources": sorted(set(h["annotation_source"]))}
    for row in out["tags"]:
        row["chance_uniform"] = uniform_chance(taxonomy, row["tag"])
        acc = row["accuracy"][0]
        row["relative_improvement"] = None if acc is None else round(acc / row["chance_uniform"], 3)
    for system in ("majority", "sais"):
        if system in preds:
            by_tag = {r["tag"]: r for r in tag_table(preds[system], taxonomy, n_boot, unit, seed, temporal=False)}
            for row in out["tags"]:
                other = by_tag.get(row["tag"], {})
                row[f"{system}_accuracy"] = other.get("accuracy")
                if "auroc" in other:
                    row[f"{system}_auroc"] = other["auroc"]
    for row in out["tasks"]:
        cats = [len(taxonomy.task_of_tag(t).tags[t]) for t in taxonomy.task(row["task"]).tags]
        tag_rows = h[h["task"] == row["task"]]["tag"]
        # chance of the task = uniform chance of each row's tag, averaged over the task's rows
        row["chance_uniform"] = (round(float(np.mean([uniform_chance(taxonomy, t) for t in tag_rows])), 6)
                                 if len(tag_rows) else None)
        row["categories"] = cats
        acc = row["accuracy"][0]
        row["relative_improvement"] = (None if acc is None or not row["chance_uniform"]
                                       else round(acc / row["chance_uniform"], 3))
    if "sais" in preds:
        out["halsted_vs_sais"] = compare_systems(h, preds["sais"], "task", n_boot, unit, seed)
    if "majority" in preds:
        # one paired comparison gives both the majority's accuracy ("b") and the difference on the same tag
        # answers: "above the majority rate" is shown when the difference's CI excludes 0, a finer test than two
        # disjoint intervals (both vary with the same sampled videos)
        paired = {c["task"]: c for c in compare_systems(h, preds["majority"], "task", n_boot, unit, seed)}
        for row in out["tasks"]:
            row["chance_majority"] = paired.get(row["task"], {}).get("b")
            row["minus_majority"] = paired.get(row["task"], {}).get("difference")
        # per tag too: a tag is reliable only where its own difference's CI is above 0 (tag_reliability.py)
        by_tag = {c["tag"]: c for c in compare_systems(h, preds["majority"], "tag", n_boot, unit, seed)}
        for row in out["tags"]:
            row["minus_majority"] = by_tag.get(row["tag"], {}).get("difference")
    return out
