"""Calibration: one temperature per task, fitted on validation predictions, stored in the model folder
(calibration.json) and applied at mapping time, so the confidence words a surgeon reads (low / medium /
high, halsted_hf/core/confidence.py) mean what they say.

What is scaled is the probability the model gives the category it emitted (a tag's `score`). Categories
of several words have no full distribution over the alternatives, so the scaling is top-label (binary)
temperature scaling: p -> sigmoid(logit(p) / T), with T minimising the negative log-likelihood of
"the emitted category is right" on the validation windows. T > 1 softens an overconfident model, T < 1
sharpens an underconfident one; the emitted category never changes.

Expected calibration error (ECE): clips binned by confidence into 10 equal-width bins; the mean over
bins of |accuracy - mean confidence| weighted by the bin's share of clips.
"""

from __future__ import annotations

import os
from typing import Dict, List, Optional

import numpy as np

from ..core.confidence import CALIBRATION_FILE, EPS, load_calibration, scale  # noqa: F401 (applied at mapping time)
from ..core.io import atomic_write_json
from .tables import markdown_table, pyplot

# log-spaced grid, then a finer grid around the best: NLL in T is smooth and has one minimum here
_T_GRID = np.exp(np.linspace(np.log(0.05), np.log(50.0), 400))


def _nll(p: np.ndarray, correct: np.ndarray, temperature: float) -> float:
    q = np.clip(scale(p, temperature), EPS, 1 - EPS)
    return float(-np.mean(correct * np.log(q) + (1 - correct) * np.log(1 - q)))


def fit_temperature(confidence, correct) -> float:
    """The T minimising the NLL of `correct` (0/1) under the scaled `confidence`; 1.0 without data, and 1.0 when
    every validation answer is right (or every one wrong): the NLL then falls without end as T -> 0 (or rises
    as T grows), so the fit would sharpen every score to 1 on the strength of no error seen -- a model 100% right
    on its validation videos was not shown to be right always."""
    p = np.asarray(confidence, dtype=np.float64)
    y = np.asarray(correct, dtype=np.float64)
    keep = np.isfinite(p)
    p, y = p[keep], y[keep]
    if len(p) == 0 or y.min() == y.max():
        return 1.0
    best = min(_T_GRID, key=lambda t: _nll(p, y, t))
    fine = best * np.exp(np.linspace(-0.03, 0.03, 61))
    return float(min(fine, key=lambda t: _nll(p, y, t)))


def expected_calibration_error(confidence, correct, bins: int = 10) -> float:
    p = np.asarray(confidence, dtype=np.float64)
    y = np.asarray(correct, dtype=np.float64)
    keep = np.isfinite(p)
    p, y = p[keep], y[keep]
    if len(p) == 0:
        return float("nan")
    which = np.minimum((p * bins).astype(int), bins - 1)
    return float(sum(abs(y[which == b].mean() - p[which == b].mean()) * (which == b).mean()
                     for b in range(bins) if (which == b).any()))


def reliability(confidence, correct, bins: int = 10) -> List[dict]:
    """Per non-empty bin: its range, tag answers, mean confidence and accuracy (the reliability diagram)."""
    p = np.asarray(confidence, dtype=np.float64)
    y = np.asarray(correct, dtype=np.float64)
    keep = np.isfinite(p)
    p, y = p[keep], y[keep]
    which = np.minimum((p * bins).astype(int), bins - 1)
    return [{"lo": b / bins, "hi": (b + 1) / bins, "n": int((which == b).sum()),
             "confidence": float(p[which == b].mean()), "accuracy": float(y[which == b].mean())}
            for b in range(bins) if (which == b).any()]


def _correct(preds) -> np.ndarray:
    return (preds["pred"].astype(str) == preds["true"].astype(str)).to_numpy(dtype=np.float64)


def fit_task_temperatures(validation) -> Dict[str, float]:
    """One temperature per task from validation predictions (evaluation/predictions.py's rows: task, true,
    pred, score)."""
    return {task: fit_temperature(part["score"].to_numpy(), _correct(part))
            for task, part in validation.groupby("task", sort=True)}


def calibration_rows(temperatures: Dict[str, float], test, measured_on: str = "held-out videos") -> List[dict]:
    """Per task on held-out predictions: tag answers, T, ECE before and after scaling, the reliability
    bins before and after (for the report), and which videos the ECE is measured on."""
    rows = []
    for task, part in test.groupby("task", sort=True):
        t = temperatures.get(task, 1.0)
        p, y = part["score"].to_numpy(dtype=np.float64), _correct(part)
        rows.append({"task": task, "n": int(np.isfinite(p).sum()), "temperature": t,
                     "ece_before": expected_calibration_error(p, y),
                     "ece_after": expected_calibration_error(scale(p, t), y),
                     "bins_before": reliability(p, y), "bins_after": reliability(scale(p, t), y),
                     "measured_on": measured_on})
    return rows


def save_calibration(model_dir: str, temperatures: Dict[str, float], fitted_on: str) -> str:
    """Write calibration.json into the model folder (mapping applies it; see load_calibration)."""
    path = os.path.join(model_dir, CALIBRATION_FILE)
    return atomic_write_json(path, {"method": "top-label temperature scaling (NLL on validation windows)",
                                    "fitted_on": fitted_on,
                                    "temperatures": {k: float(v) for k, v in sorted(temperatures.items())}}, indent=1)


def plot_reliability(rows: List[dict], path: str) -> str:
    """The reliability diagram: accuracy against mean confidence per bin, one panel per task, before
    (raw) and after temperature scaling; the diagonal is perfect calibration."""
    plt = pyplot()
    fig, axes = plt.subplots(1, max(len(rows), 1), figsize=(3.2 * max(len(rows), 1), 3.2), squeeze=False)
    for ax, r in zip(axes[0], rows):
        ax.plot([0, 1], [0, 1], color="#999999", lw=1, ls="--")
        for key, label, colour in (("bins_before", f"raw (ECE {r['ece_before']:.3f})", "#e45756"),
                                   ("bins_after", f"T={r['temperature']:.2f} (ECE {r['ece_after']:.3f})", "#4c78a8")):
            ax.plot([b["confidence"] for b in r[key]], [b["accuracy"] for b in r[key]], "o-", color=colour,
                    label=label, ms=3)
        ax.set(title=r["task"], xlabel="confidence", xlim=(0, 1), ylim=(0, 1))
        ax.legend(fontsize=7, loc="upper left")
    axes[0][0].set_ylabel("accuracy")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def calibration_markdown(rows: List[dict], figure: Optional[str] = None) -> str:
    """The report's calibration section: ECE per task before and after scaling, and the diagram."""
    where = rows[0].get("measured_on", "held-out videos") if rows else "held-out videos"
    out = ["## Calibration (temperature scaling, fitted on validation windows)", "",
           f"ECE measured on {where}.", "",
           markdown_table(["task", "tag answers", "temperature", "ECE before", "ECE after"],
                  [[r["task"], r["n"], f"{r['temperature']:.2f}", f"{r['ece_before']:.3f}", f"{r['ece_after']:.3f}"]
                   for r in rows]), ""]
    if figure:
        out += [f"![reliability diagram]({figure})", ""]
    return "\n".join(out)


def calibrate_model(model_dir: str, validation, held_out=None, fitted_on: str = "validation windows") -> List[dict]:
    """Fit one temperature per task on `validation` predictions, store them in the model folder
    (mapping applies them from then on) and return calibration_rows on `held_out` (or on `validation`
    when no held-out predictions are given) for the report."""
    temperatures = fit_task_temperatures(validation)
    save_calibration(model_dir, temperatures, fitted_on)
    if held_out is None:  # said in the report: an ECE on the windows the temperatures were fitted on flatters them
        return calibration_rows(temperatures, validation, measured_on=f"the {fitted_on} the temperatures were "
                                "fitted on (the atlas has no other videos): an optimistic figure")
    return calibration_rows(temperatures, held_out, measured_on="the atlas's other videos (held out from fitting)")
