"""The out-of-distribution check's arithmetic, as a Hub file: the package's mapping (halsted_hf/mapping/ood.py:
fitting, loading, refusing a stale description) and the stand-alone pipeline score windows and videos with these
same functions. Pure numpy; no package imports.

A window is described by parts (its embedding: the clip embedding or the mean of its per-frame features; its
colours); a part's score is the squared Mahalanobis distance / dimension under a probabilistic-PCA covariance, in
units of the part's threshold; a window's score is the larger part's. A video is flagged when the median of its
stage-1 windows' scores is above 1; stretches are runs of stage-1 windows above 1.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

OOD_FILE = "ood.json"
OOD_ARRAYS = "ood.npz"
PARTS = ("embedding", "colour")  # what a window is described by, in this order
ARRAY_PREFIX = {"embedding": "", "colour": "colour_"}  # the arrays' names in ood.npz (the embedding's predate parts)
MESSAGE = "does not look like the surgery this model was trained on"
STRETCH_MESSAGE = "parts do not look like the surgery this model was trained on"
BORDERLINE_MESSAGE = "is close to the line between the surgery this model was trained on and other footage"
# a video whose score is above this (and at most 1, the line) is "borderline", not a pass: the threshold is an
# estimate from a few dozen videos, and a score just under it says little more than one just over it
BORDERLINE = 0.8


def window_descriptor(embeds) -> np.ndarray:
    """(B, D) float64 window descriptors: (B, D) clip embeddings as they are, (B, T, D) per-frame features
    averaged over the frames (torch tensors are converted)."""
    x = embeds.detach().float().cpu().numpy() if hasattr(embeds, "detach") else np.asarray(embeds)
    x = x.astype(np.float64)
    return x.mean(axis=1) if x.ndim == 3 else x


def colour_descriptor(clips) -> np.ndarray:
    """(B, 8) colour statistics of B clips (T, H, W, 3) uint8, as the model sees them: the mean and spread of
    each RGB channel and of the saturation over all the window's pixels."""
    out = np.zeros((len(clips), 8))
    for i, clip in enumerate(clips):
        x = np.asarray(clip, dtype=np.float32).reshape(-1, 3) / 255.0
        top = x.max(axis=1)
        sat = np.where(top > 0, (top - x.min(axis=1)) / np.maximum(top, 1e-6), 0.0)
        out[i] = [*x.mean(axis=0), *x.std(axis=0), sat.mean(), sat.std()]
    return out


def distance_per_dimension(x: np.ndarray, mean: np.ndarray, components: np.ndarray, variances: np.ndarray,
                           residual_variance: float) -> np.ndarray:
    """(B,) squared Mahalanobis distances / D of (B, D) descriptors under a probabilistic-PCA covariance: the
    kept components with their own variances, one shared variance for the rest."""
    x = np.asarray(x, dtype=np.float64) - mean
    proj = x @ components.T
    resid = (x * x).sum(axis=1) - (proj * proj).sum(axis=1)
    d2 = (proj * proj / variances).sum(axis=1) + np.maximum(resid, 0.0) / residual_variance
    return d2 / x.shape[1]


def read_description(folder: str) -> Optional[Tuple[Dict[str, Any], Dict[str, Dict[str, Any]]]]:
    """(what ood.json says, {part: mean, components, variances, residual_variance, threshold}) of a model
    folder, in PARTS order; None when it has none. A description written before the colour part (one
    `threshold`) is its embedding part alone. Unreadable files raise OSError, ValueError, KeyError or TypeError."""
    path = os.path.join(folder, OOD_FILE)
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        info = json.load(f)
    thresholds = ({n: float(p["threshold"]) for n, p in info["parts"].items()} if "parts" in info
                  else {"embedding": float(info["threshold"])})
    if not set(thresholds) <= set(PARTS):
        raise ValueError(f"unknown parts {sorted(set(thresholds) - set(PARTS))}")
    parts = {}
    with np.load(os.path.join(folder, info.get("arrays", OOD_ARRAYS)), allow_pickle=False) as z:
        for name in sorted(thresholds, key=PARTS.index):
            pre = ARRAY_PREFIX[name]
            parts[name] = {"mean": z[pre + "mean"].astype(np.float64),
                           "components": z[pre + "components"].astype(np.float64),
                           "variances": z[pre + "variances"].astype(np.float64),
                           "residual_variance": float(z[pre + "residual_variance"]), "threshold": thresholds[name]}
    return info, parts


def video_verdict(windows: Sequence[Tuple[float, float, float]], threshold: float = 1.0,
                  info: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """The Timeline's `ood` field from (start_s, end_s, score) of a video's stage-1 windows."""
    rows = sorted(windows)
    scores = np.array([s for _, _, s in rows], dtype=np.float64)
    score = float(np.median(scores)) if len(scores) else float("nan")
    flagged = bool(len(scores) and score > threshold)
    stretches: List[Dict[str, float]] = []
    for a, b, s in rows:
        if s <= threshold:
            continue
        if stretches and a <= stretches[-1]["end_s"] + 1e-6:
            stretches[-1]["end_s"] = max(stretches[-1]["end_s"], b)
            stretches[-1]["score"] = max(stretches[-1]["score"], s)
        else:
            stretches.append({"start_s": a, "end_s": b, "score": s})
    borderline = bool(not flagged and len(scores) and score > BORDERLINE * threshold)
    message = MESSAGE if flagged else BORDERLINE_MESSAGE if borderline else STRETCH_MESSAGE if stretches else ""
    return {"flagged": flagged, "borderline": borderline, "message": message,
            "score": round(score, 4), "threshold": round(float(threshold), 4),
            "false_alarm_rate": (info or {}).get("false_alarm_rate"),
            "stretches": [{k: round(float(v), 4) for k, v in s.items()} for s in stretches],
            "windows": [{"start_s": round(a, 4), "end_s": round(b, 4), "score": round(float(s), 4)}
                        for a, b, s in rows]}
