"""Loaders that turn datasets into atlas rows (`halsted_hf.data.atlas`): an own atlas folder, HSA-27k
(through `datasets`), SAR-RARP50 and CholecT50. Each raises `DatasetError` (a `HalstedError`) naming the
file when a path, video or label file is wrong; see docs/datasets.md for formats and choices."""

from ._common import DatasetError, load_builtin_taxonomy
from .cholect50 import cholect50_taxonomy, iter_cholect50_rows, load_cholect50, read_frame_clip
from .folder import load_atlas_folder
from .hsa27k import ColumnMapping, iter_hsa27k_rows, load_hsa27k, open_hf_dataset
from .rarp50 import iter_rarp50_rows, load_rarp50, rarp50_taxonomy

__all__ = [
    "DatasetError", "load_builtin_taxonomy", "load_atlas_folder",
    "ColumnMapping", "open_hf_dataset", "iter_hsa27k_rows", "load_hsa27k",
    "rarp50_taxonomy", "iter_rarp50_rows", "load_rarp50",
    "cholect50_taxonomy", "iter_cholect50_rows", "load_cholect50", "read_frame_clip",
]
