"""Confidence in words: what a surgeon reads instead of a raw probability.

A tag's score in a Timeline is the model's probability of that category; when the model folder has a
calibration (halsted_hf/evaluation/calibration.py: one temperature per task, fitted on validation
windows) the probability is calibrated at mapping time, so "high" means "right about 8 times in 10 or
more on held-out videos". Raw numbers stay in the exports (CSV, JSON); pages, tooltips, subtitles and
the Space show the word. Thresholds are documented in docs/evaluation.md.
"""

from __future__ import annotations

import json
import math
import os
from typing import Dict, Optional

# Lower bounds of "medium" and "high", on the calibrated probability.
MEDIUM_FROM = 0.5
HIGH_FROM = 0.8

EXPLANATION = (f"Confidence is the model's calibrated probability in words: high at {HIGH_FROM:.0%} or more "
               f"(on held-out videos about {round(HIGH_FROM * 10)} in 10 such tags or more are right), medium from "
               f"{MEDIUM_FROM:.0%} to {HIGH_FROM:.0%}, low below {MEDIUM_FROM:.0%} (treat as a guess).")


def confidence_word(probability: Optional[float]) -> str:
    """"low", "medium" or "high"; "unknown" when there is no probability (an imported timeline)."""
    if probability is None or not math.isfinite(float(probability)):
        return "unknown"
    p = float(probability)
    return "high" if p >= HIGH_FROM else "medium" if p >= MEDIUM_FROM else "low"


# ---- calibration, as mapping applies it (fitted by halsted_hf/evaluation/calibration.py) ----------
CALIBRATION_FILE = "calibration.json"
EPS = 1e-6


def scale(p, temperature: float):
    """Probabilities after top-label temperature scaling: sigmoid(logit(p) / T) (numpy arrays or floats)."""
    import numpy as np

    p = np.clip(np.asarray(p, dtype=np.float64), EPS, 1 - EPS)
    return 1.0 / (1.0 + np.exp(-np.log(p / (1 - p)) / float(temperature)))


def load_calibration(model_dir: Optional[str]) -> Dict[str, float]:
    """{task: temperature} from a model folder's calibration.json; {} when it has none."""
    path = os.path.join(model_dir, CALIBRATION_FILE) if model_dir else ""
    if not path or not os.path.isfile(path):
        return {}
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    return {str(k): float(v) for k, v in (data.get("temperatures") or {}).items() if float(v) > 0}
