"""Loaders that turn datasets into atlas rows (`halsted_hf.data.atlas`): an own atlas folder, HSA-27k
(through `datasets`), SAR-RARP50, CholecT50 and the phase datasets Cholec80, M2CAI16-workflow and
AutoLaparo (whose per-frame phases `read_phase_labels` also gives, for the field's evaluation protocol).
Each raises `DatasetError` (a `HalstedError`) naming the file when a path, video or label file is wrong;
see docs/datasets.md for formats and choices."""

from ._common import DatasetError, load_builtin_taxonomy
from .autolaparo import autolaparo_taxonomy, iter_autolaparo_rows, load_autolaparo
from .cholec80 import cholec80_taxonomy, iter_cholec80_rows, load_cholec80
from .cholect50 import cholect50_taxonomy, iter_cholect50_rows, load_cholect50, read_frame_clip
from .folder import load_atlas_folder
from .hsa27k import ColumnMapping, iter_hsa27k_rows, load_hsa27k, open_hf_dataset
from .m2cai16 import iter_m2cai16_rows, load_m2cai16, m2cai16_taxonomy
from .phase_datasets import PHASE_DATASETS, read_phase_labels
from .phase_files import PhaseLabels
from .rarp50 import iter_rarp50_rows, load_rarp50, rarp50_taxonomy

__all__ = [
    "DatasetError", "load_builtin_taxonomy", "load_atlas_folder",
    "ColumnMapping", "open_hf_dataset", "iter_hsa27k_rows", "load_hsa27k",
    "rarp50_taxonomy", "iter_rarp50_rows", "load_rarp50",
    "cholect50_taxonomy", "iter_cholect50_rows", "load_cholect50", "read_frame_clip",
    "cholec80_taxonomy", "iter_cholec80_rows", "load_cholec80", "m2cai16_taxonomy", "iter_m2cai16_rows",
    "load_m2cai16", "autolaparo_taxonomy", "iter_autolaparo_rows", "load_autolaparo",
    "PhaseLabels", "PHASE_DATASETS", "read_phase_labels",
]
