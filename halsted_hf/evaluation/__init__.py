"""Evaluation: metrics (accuracy, AUROC, temporal and segmental F1, edit score) and bootstrap CIs."""

from .bootstrap import bootstrap_ci
from .metrics import (accuracy, auroc, edit_score, f1_from_counts, levenshtein, match_segments, segmental_counts,
                      segmental_f1_at_k, segments_from_labels, temporal_f1)

__all__ = ["accuracy", "auroc", "bootstrap_ci", "edit_score", "f1_from_counts", "levenshtein", "match_segments",
           "segmental_counts", "segmental_f1_at_k", "segments_from_labels", "temporal_f1"]
