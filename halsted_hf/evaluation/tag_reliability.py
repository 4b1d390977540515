"""Which tags a model reads, from its card's evaluation: `reliability.json` in the model folder.

A tag is reliable when its accuracy on held-out videos is above the majority rate (always answering the training
clips' most frequent category) with a paired 95% CI, over whole videos, whose lower end is above 0. Front ends
mark the others "not reliable" and keep them out of headline numbers (mapping/reliability.py reads the file).

    {"unit": "video", "videos": 12, "command": "...",
     "tags": {"phase": {"reliable": true, "accuracy": 0.957, "majority": 0.61, "difference": [0.347, 0.30, 0.39],
                        "reason": "above its majority rate: +34.7 points (30.0 to 39.0) on 12 held-out videos"}}}
"""

from __future__ import annotations

import json
import os
from typing import Optional

from ..core.io import atomic_write_text

RELIABILITY_FILE = "reliability.json"


def _points(ci) -> str:
    return f"{100 * ci[0]:+.1f} points ({100 * ci[1]:.1f} to {100 * ci[2]:.1f})"


def tag_verdict(row: dict, videos: int, unit: str) -> dict:
    """One tag's entry from a report's pooled tag row (evaluation/evaluate.py `summarize`)."""
    diff, majority = row.get("minus_majority"), row.get("majority_accuracy")
    where = f"on {videos} held-out video{'s' if videos != 1 else ''}" + ("" if unit == "video" else f" (CI by {unit})")
    entry = {"accuracy": row["accuracy"][0], "majority": majority[0] if majority else None, "difference": diff}
    if not diff or None in diff:
        entry.update(reliable=False, reason=f"no majority baseline to compare with {where}")
    elif diff[1] > 0:
        entry.update(reliable=True, reason=f"above its majority rate: {_points(diff)} {where}")
    else:
        entry.update(reliable=False, reason=f"not above its majority rate: {_points(diff)} {where}")
    return entry


def reliability_record(report: dict, command: Optional[str] = None) -> dict:
    """The record for the model a `halsted evaluate --model` report scored."""
    run = next(iter(report["runs"].values()))
    pooled = run["pooled"]
    videos, unit = len(pooled["test_videos"]), pooled["ci_unit"]
    return {"unit": unit, "videos": videos, "command": command,
            "tags": {row["tag"]: tag_verdict(row, videos, unit) for row in pooled["tags"]}}


def write_reliability(model_dir: str, report: dict, command: Optional[str] = None) -> str:
    record = reliability_record(report, command)
    return atomic_write_text(os.path.join(model_dir, RELIABILITY_FILE), json.dumps(record, indent=2) + "\n")
