"""Out-of-distribution check: does a video look like the surgery the model was trained on?

What the model folder carries (written by `halsted fit-ood`, halsted_hf/mapping/ood_fit.py):
  ood.json  the threshold, the false-alarm rate it was chosen for, the windows and videos it was fitted and
            thresholded on, and how a window is described;
  ood.npz   the description of the training windows, in two parts: their embeddings and their colours. Each
            part is a mean and a principal-component model of the spread around it (mean, components,
            variances, residual variance; the colour part's arrays are prefixed `colour_`).

A window is described by what mapping already has: the frozen vision tower's clip embedding (VideoMAE) or
the mean of its per-frame features (frame encoder), and the colour statistics of its decoded frames
(`colour_descriptor`). Nothing is decoded or encoded twice.

A part's score is the window's squared Mahalanobis distance to the training windows, divided by the
dimension, under a probabilistic-PCA covariance: the top principal components with their own variances and
one shared variance for everything else (the shrunk covariance of few windows in many dimensions; a small
file). Each part has its own threshold, the (1 - rate / parts) quantile of held-out in-distribution windows'
scores; a window's score is the larger part score in units of its part's threshold, so 1 is the line and a
single in-distribution window crosses it with probability about `rate` (the union bound).

A video is flagged when the median of its stage-1 windows' scores (the windows that tile every video, in
every mapping) is above 1, and borderline when it is above `BORDERLINE` but not above 1; a whole video's median
crosses far more rarely than a window. Stretches: runs of
stage-1 windows above 1, reported even when the video as a whole is not flagged. A description written
before the colour part (one `threshold`, no `parts`) loads as its embedding part alone.

Pure numpy; torch tensors are converted where they arrive.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np

from ..core.errors import CheckpointError
# the arithmetic is a Hub file, so the stand-alone pipeline scores windows exactly as mapping does
from ..model.ood_halsted import (ARRAY_PREFIX as _PREFIX, BORDERLINE, MESSAGE, OOD_ARRAYS, OOD_FILE,  # noqa: F401
                                 PARTS, STRETCH_MESSAGE, colour_descriptor, distance_per_dimension,
                                 read_description, window_descriptor)

# components kept at most (the file stays small: 1280 x 64 float32 is 330 kB for the Lite0 frame encoder)
MAX_COMPONENTS = 64


def encoder_fingerprint(folder: str) -> str:
    """A short content id of the vision tower's stored weights (the `video_encoder.*` tensors of the folder's
    safetensors files, whatever dtype mapping later loads them in): the description is valid for exactly that
    tower. A model retrained with its encoder frozen keeps it; one whose encoder changed needs a refit."""
    import glob
    import hashlib

    from safetensors import safe_open

    digest = hashlib.sha256()
    for path in sorted(glob.glob(os.path.join(folder, "*.safetensors"))):
        with safe_open(path, "pt") as f:
            for name in sorted(k for k in f.keys() if k.startswith("video_encoder.")):
                digest.update(name.encode())
                digest.update(f.get_tensor(name).float().numpy().tobytes())
    return digest.hexdigest()[:12]


def check_matches(ood: "OodCheck", folder: str) -> None:
    """Refuse a description fitted on another vision tower (a stale ood.json after retraining the encoder)."""
    want = (ood.info or {}).get("encoder")
    if want and want != encoder_fingerprint(folder):
        raise CheckpointError(f"{os.path.join(folder, OOD_FILE)} describes another vision encoder "
                              f"(fingerprint {want}) than this model's: refit it with "
                              f"`halsted fit-ood --model {folder} --atlas ATLAS` "
                              f"(the atlas the model was trained on), or delete {OOD_FILE} and {OOD_ARRAYS}")


@dataclass
class OodModel:
    """One described part (the embeddings, or the colours) of the training windows, and its threshold."""
    mean: np.ndarray  # (D,)
    components: np.ndarray  # (K, D), orthonormal rows
    variances: np.ndarray  # (K,)
    residual_variance: float
    threshold: float = math.inf
    info: Optional[Dict[str, Any]] = None  # what ood.json says (rate, data, counts)

    @classmethod
    def fit(cls, x: np.ndarray, max_components: int = MAX_COMPONENTS) -> "OodModel":
        """Mean and probabilistic-PCA spread of `x` (N, D) embeddings."""
        x = np.asarray(x, dtype=np.float64)
        n, d = x.shape
        if n < 3:
            raise ValueError(f"{n} windows are too few to describe a distribution; fit on at least 3")
        mean = x.mean(axis=0)
        _, s, vt = np.linalg.svd(x - mean, full_matrices=False)
        eig = s ** 2 / (n - 1)
        k = int(min(max_components, n - 1, d))
        total = float(eig.sum())
        # variance not explained by the kept components, spread over the remaining dimensions; floored so
        # a direction the training windows never moved in does not make every new window infinitely far
        rest = float(eig[k:].sum()) / max(d - k, 1)
        floor = 1e-3 * total / d
        return cls(mean=mean, components=vt[:k], variances=np.maximum(eig[:k], floor),
                   residual_variance=max(rest, floor))

    def scores(self, embeds) -> np.ndarray:
        """(B,) squared Mahalanobis distances / D of each window's descriptor."""
        x = window_descriptor(embeds)
        if x.shape[1] != self.mean.shape[0]:
            raise CheckpointError(f"the out-of-distribution description is for {self.mean.shape[0]}-d embeddings, "
                                  f"this model gives {x.shape[1]}-d ones: refit it with `halsted fit-ood`")
        return distance_per_dimension(x, self.mean, self.components, self.variances, self.residual_variance)


def part_descriptors(name: str, embeds, clips, tower_size: Optional[int] = None) -> np.ndarray:
    """A part's (B, D) window descriptors. `tower_size`: the vision tower's feature width; the per-frame
    features of a model with a motion stream go on with grey thumbnails (config.temporal_motion_size), which
    the embedding part leaves out (the colour part describes the pixels)."""
    if name == "embedding":
        return window_descriptor(embeds if tower_size is None else embeds[..., :tower_size])
    if clips is None:
        raise ValueError("the colour part of the out-of-distribution check needs the windows' decoded frames")
    return colour_descriptor(clips)


@dataclass
class OodCheck:
    """What mapping uses: the described parts, each an OodModel with its own threshold. Scores are in units
    of the threshold, so the check's own line is 1."""
    parts: Dict[str, OodModel]
    info: Optional[Dict[str, Any]] = None  # what ood.json says
    threshold: float = 1.0

    def scores(self, embeds, clips=None) -> np.ndarray:
        """(B,) the larger of each window's part scores, each divided by its part's threshold; `embeds` as
        `LoadedModel.encode` returns them, `clips` the B decoded windows (T, H, W, 3) uint8."""
        return self.scores_from({name: part_descriptors(name, embeds, clips, part.mean.shape[0])
                                 for name, part in self.parts.items()})

    def scores_from(self, descriptors: Dict[str, np.ndarray]) -> np.ndarray:
        """The same from part -> (B, D) descriptors already computed."""
        return np.max([part.scores(descriptors[name]) / part.threshold for name, part in self.parts.items()], axis=0)

    def save(self, folder: str, info: Dict[str, Any]) -> str:
        from ..core.io import atomic_write_text

        arrays = {}
        for name, part in self.parts.items():
            pre = _PREFIX[name]
            arrays.update({pre + "mean": part.mean.astype(np.float32),
                           pre + "components": part.components.astype(np.float32),
                           pre + "variances": part.variances.astype(np.float32),
                           pre + "residual_variance": np.float32(part.residual_variance)})
        tmp = os.path.join(folder, OOD_ARRAYS + ".tmp.npz")
        np.savez(tmp, **arrays)
        os.replace(tmp, os.path.join(folder, OOD_ARRAYS))
        data = dict(info, arrays=OOD_ARRAYS, parts={
            name: {"threshold": float(part.threshold), "dimension": int(part.mean.shape[0]),
                   "components": int(part.components.shape[0])} for name, part in self.parts.items()})
        path = os.path.join(folder, OOD_FILE)
        atomic_write_text(path, json.dumps(data, indent=2) + "\n")
        self.info = data
        return path


def load_ood(folder: str) -> Optional[OodCheck]:
    """The folder's OOD description, or None when it has none (mapping then says nothing about it)."""
    path = os.path.join(folder, OOD_FILE)
    try:
        read = read_description(folder)
        if read is None:
            return None
        info, arrays = read
        parts = {n: OodModel(mean=p["mean"], components=p["components"], variances=p["variances"],
                             residual_variance=p["residual_variance"], threshold=p["threshold"])
                 for n, p in arrays.items()}
        return OodCheck(parts, info=info)
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise CheckpointError(f"{path}: unreadable out-of-distribution description ({err}); "
                              f"refit it with `halsted fit-ood --model {folder} --atlas ATLAS` or delete "
                              f"{OOD_FILE} and {OOD_ARRAYS}") from err


def video_verdict(windows: Sequence[Tuple[float, float, float]], model: "OodCheck | OodModel") -> Dict[str, Any]:
    """The Timeline's `ood` field from (start_s, end_s, score) of a video's stage-1 windows."""
    from ..model.ood_halsted import video_verdict as verdict

    return verdict(windows, model.threshold, model.info)
