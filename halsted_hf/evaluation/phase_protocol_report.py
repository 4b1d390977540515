"""The protocol's report: the field's mean +- std with and without relaxed boundaries, beside the project's
95% bootstrap CIs (whole videos resampled), per phase and per video; report.json and REPORT.md."""

from __future__ import annotations

import json
import math
import os
from typing import Dict, List, Optional, Sequence

import numpy as np

from ..core.io import atomic_write_text
from .bootstrap import bootstrap_ci
from .phase_protocol import (PhaseProtocol, VideoScores, per_phase_means, phase_ids, relaxed_correct, score_video,
                             summarize)

METRICS = ("accuracy", "precision", "recall", "jaccard")
VARIANTS = ("strict", "relaxed")


def protocol_report(labels: Dict[str, object], predicted: Dict[str, Sequence[Optional[str]]], protocol: PhaseProtocol,
                    n_boot: int = 1000, seed: int = 0) -> dict:
    """Score every labelled video. `labels`: {video: PhaseLabels at the protocol's rate}; `predicted`:
    {video: the predicted category (or None) at each of its label times}."""
    scores: Dict[str, List[VideoScores]] = {variant: [] for variant in VARIANTS}
    phases: Sequence[str] = ()
    for video, lab in labels.items():
        phases = lab.phases
        pred = phase_ids(predicted[video], phases, f"predictions for {video}")
        scores["strict"].append(score_video(video, lab.phase_ids, pred, len(phases)))
        correct = relaxed_correct(lab.times_s, lab.phase_ids, pred, phases, protocol)
        scores["relaxed"].append(score_video(video, lab.phase_ids, pred, len(phases), correct))
    report = {"protocol": protocol.name, "dataset": protocol.dataset, "relax_s": protocol.relax_s, "fps": protocol.fps,
              "videos": len(labels), "phases": list(phases), "n_boot": n_boot, "ci_unit": "video"}
    index = np.arange(len(labels))
    for variant, videos in scores.items():
        summary = summarize(videos)
        report[variant] = {}
        for metric in METRICS + ("pooled accuracy",):
            mean, std = summary[metric]
            _, low, high = bootstrap_ci(lambda idx, m=metric, v=videos: summarize([v[i] for i in idx])[m][0],
                                        index, n_boot=n_boot, seed=seed)
            report[variant][metric] = {"mean": _num(mean), "std": _num(std), "ci": [_num(low), _num(high)]}
        report[variant]["per_phase"] = {m: dict(zip(phases, _floats(per_phase_means(videos, m))))
                                        for m in METRICS[1:]}
    report["phases_without_truth"] = [p for p, v in report["strict"]["per_phase"]["recall"].items() if v is None]
    report["per_video"] = [{"video": s.video, "frames": s.frames, "accuracy": s.accuracy,
                            "relaxed accuracy": r.accuracy}
                           for s, r in zip(scores["strict"], scores["relaxed"])]
    return report


def _num(x: float) -> Optional[float]:
    """NaN (undefined: no value to average) as None, so report.json stays strict JSON."""
    return None if math.isnan(x) else float(x)


def _floats(values) -> List[Optional[float]]:
    return [_num(x) for x in values]


def _cell(entry: dict) -> str:
    mean, std, (low, high) = entry["mean"], entry["std"], entry["ci"]
    if mean is None:
        return "n/a"
    spread = "" if std is None else f" ± {std:.1f}"
    ci = "" if low is None else f" ({low:.1f}-{high:.1f})"
    return f"{mean:.1f}{spread}{ci}"


def report_markdown(report: dict, command: str = "") -> str:
    lines = [f"# Phase recognition, {report['protocol']} protocol", "",
             f"{report['videos']} videos, frames scored at {report['fps']:g} fps; relaxed boundaries of "
             f"{report['relax_s']:g} s (docs/evaluation.md, \"The field's protocol\"). Percent: mean ± std as the "
             f"papers report it (accuracy over videos; precision, recall and Jaccard over phases of the per-phase "
             f"means over videos), then the 95% bootstrap CI ({report['n_boot']} replicates, whole videos resampled).",
             ""]
    if command:
        lines += [f"Command: `{command}`", ""]
    lines += ["| metric | strict | relaxed (±%g s) |" % report["relax_s"], "| --- | --- | --- |"]
    for metric in METRICS + ("pooled accuracy",):
        lines.append(f"| {metric} | {_cell(report['strict'][metric])} | {_cell(report['relaxed'][metric])} |")
    lines += ["", "## Per phase (mean over videos)", "",
              "| phase | precision | recall | Jaccard | relaxed precision | relaxed recall | relaxed Jaccard |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    for phase in report["phases"]:
        cells = [report[v]["per_phase"][m][phase] for v in VARIANTS for m in METRICS[1:]]
        lines.append(f"| {phase} | " + " | ".join("n/a" if c is None else f"{c:.1f}" for c in cells) + " |")
    if report["phases_without_truth"]:
        lines += ["", "No video has these phases, so they are in no mean: "
                      f"{', '.join(report['phases_without_truth'])}."]
    lines += ["", "## Per video", "", "| video | frames | accuracy | relaxed accuracy |", "| --- | --- | --- | --- |"]
    for row in report["per_video"]:
        lines.append(f"| {row['video']} | {row['frames']} | {row['accuracy']:.1f} | {row['relaxed accuracy']:.1f} |")
    return "\n".join(lines) + "\n"


def write_protocol_report(report: dict, out_dir: str, command: str = "") -> str:
    """OUT/report.json and OUT/REPORT.md (written last); returns the REPORT.md path."""
    os.makedirs(out_dir, exist_ok=True)
    atomic_write_text(os.path.join(out_dir, "report.json"), json.dumps(report, indent=2, allow_nan=False) + "\n")
    path = os.path.join(out_dir, "REPORT.md")
    atomic_write_text(path, report_markdown(report, command))
    return path

