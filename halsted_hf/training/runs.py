"""A training RUN folder, as `halsted train` writes it and evaluation reads it:

    RUN/run.json                 {"args": {"atlas": ..., "cache": ...}, "taxonomy": ...}
    RUN/fold-K/split.json        {"train": [video ids], "val": [...], "test": [...]}
    RUN/fold-K/best/             a Hub-layout model (`halsted_hf.model.registry.create`)

Here, in training, so that both training (the per-task baseline trains on a run's folds) and evaluation
read it without training importing evaluation.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Dict, List, Optional

from ..core.errors import HalstedError


class RunError(HalstedError):
    """A RUN folder that cannot be evaluated; the message says which file is missing or wrong."""


@dataclass
class Fold:
    name: str                      # "fold-0"
    path: str
    split: Dict[str, List[str]]    # train / val / test video ids
    model_dir: str


@dataclass
class Run:
    path: str
    name: str
    info: dict
    folds: List[Fold] = field(default_factory=list)

    def arg(self, *keys: str) -> Optional[str]:
        """First of `keys` found in run.json's args (or top level): the trainer's names may vary."""
        for where in (self.info, self.info.get("args") or {}):
            for k in keys:
                if where.get(k):
                    return where[k]
        return None


def load_run(path: str, fold: str = "all") -> Run:
    """Read RUN/run.json and its folds (`fold`: "all" or an index). Raises RunError with what is missing."""
    if not os.path.isdir(path):
        raise RunError(f"{path}: no such run folder; pass the --out folder of `halsted train`")
    info_path = os.path.join(path, "run.json")
    info = {}
    if os.path.exists(info_path):
        with open(info_path) as f:
            info = json.load(f)
    names = sorted((d for d in os.listdir(path) if d.startswith("fold-") and os.path.isdir(os.path.join(path, d))),
                   key=lambda d: int(d.split("-", 1)[1]) if d.split("-", 1)[1].isdigit() else 1 << 30)
    if fold != "all":
        names = [n for n in names if n == f"fold-{fold}"]
        if not names:
            raise RunError(f"{path}: no fold-{fold} folder; use --fold all or one of the fold-K folders there")
    run = Run(path=os.path.abspath(path), name=os.path.basename(os.path.abspath(path)), info=info)
    for name in names:
        fdir = os.path.join(path, name)
        split_path = os.path.join(fdir, "split.json")
        best = os.path.join(fdir, "best")
        if not os.path.exists(split_path) or not os.path.exists(os.path.join(best, "config.json")):
            continue  # a fold still training (no best checkpoint yet) is not evaluated
        with open(split_path) as f:
            split = json.load(f)
        if not split.get("test"):
            raise RunError(f"{split_path}: no test videos; a split needs 'train', 'val' and 'test' video lists")
        overlap = set(split["test"]) & (set(split.get("train", [])) | set(split.get("val", [])))
        if overlap:
            raise RunError(f"{split_path}: video(s) {sorted(overlap)[:5]} are both in test and train/val; "
                           f"re-run `halsted train` (whole videos must be held out)")
        run.folds.append(Fold(name=name, path=fdir, split=split, model_dir=best))
    if not run.folds:
        raise RunError(f"{path}: no fold-K folder with split.json and a best/ checkpoint; has training finished "
                       f"a first epoch?")
    return run
