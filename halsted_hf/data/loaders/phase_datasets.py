"""Per-frame phase labels of every phase dataset with a loader, by name: what the field's evaluation
protocol (`halsted_hf/evaluation/phase_protocol.py`) scores predictions against."""

from __future__ import annotations

from typing import Callable, Dict, Optional, Sequence

import numpy as np

from ._common import DatasetError
from .autolaparo import autolaparo_phase_labels
from .cholec80 import cholec80_phase_labels
from .cholect50 import cholect50_taxonomy, find_cholect50_videos, read_cholect50_labels
from .m2cai16 import m2cai16_phase_labels
from .phase_files import PhaseLabels


def cholect50_phase_labels(root: str, splits: Optional[Sequence[str]] = None) -> Dict[str, PhaseLabels]:
    """{"VID68": PhaseLabels} from the labelled frames (1 fps; a sparse copy keeps its gaps)."""
    if splits is not None:
        raise DatasetError("CholecT50 folders carry no published split here; pass no split")
    phases = tuple(cholect50_taxonomy().task("phase").tags["phase"])
    out = {}
    for name, _, label_file in find_cholect50_videos(root):
        _, frames = read_cholect50_labels(label_file)
        frames = [fr for fr in frames if fr.phase is not None]
        if not frames:
            raise DatasetError(f"{label_file}: no frame carries a phase")
        out[name] = PhaseLabels(name, np.array([fr.frame for fr in frames], dtype=float),
                                np.array([phases.index(fr.phase) for fr in frames]), phases)
    return out


PHASE_DATASETS: Dict[str, Callable[..., Dict[str, PhaseLabels]]] = {
    "cholec80": cholec80_phase_labels, "m2cai16": m2cai16_phase_labels,
    "autolaparo": autolaparo_phase_labels, "cholect50": cholect50_phase_labels,
}


def read_phase_labels(dataset: str, root: str, splits: Optional[Sequence[str]] = None,
                      **options) -> Dict[str, PhaseLabels]:
    """{video name: PhaseLabels} of a dataset folder in `dataset`'s format, for the videos of `splits`;
    `options` go to the dataset's reader (Cholec80's `split_scheme`, M2CAI16's and AutoLaparo's `label_fps`)."""
    if dataset not in PHASE_DATASETS:
        raise DatasetError(f"no phase dataset {dataset!r}; known: {sorted(PHASE_DATASETS)}")
    return PHASE_DATASETS[dataset](root, splits=splits, **options)
