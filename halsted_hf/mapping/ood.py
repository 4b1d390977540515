"""Out-of-distribution check: does a video look like the surgery the model was trained on?

What the model folder carries (written by `halsted fit-ood`, halsted_hf/mapping/ood_fit.py):
  ood.json  the threshold, the false-alarm rate it was chosen for, the windows and videos it was fitted and
            thresholded on, and how a window is described;
  ood.npz   the description of the training windows: the mean of their embeddings and a principal-component
            model of the spread around it (mean, components, variances, residual variance).

A window's embedding is what mapping already computes: the frozen vision tower's clip embedding (VideoMAE)
or the mean of its per-frame features (frame encoder). Nothing is encoded twice.

A window's score is its squared Mahalanobis distance to the training windows, divided by the embedding's
dimension (so 1 is "as far as a typical training window"), under a probabilistic-PCA covariance: the top
principal components with their own variances, and one shared variance for everything else. That is the
shrunk covariance of few windows in many dimensions, and it fits in a small file.

A video is flagged when the median of its stage-1 windows' scores (the windows that tile every video, in
every mapping) is above the threshold; the threshold is the (1 - rate) quantile of held-out in-distribution
windows' scores, so a single in-distribution window crosses it with probability about `rate` and a whole
video's median far more rarely. Stretches: runs of stage-1 windows above the threshold, reported even
when the video as a whole is not flagged.

Pure numpy; torch tensors are converted where they arrive.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import CheckpointError

OOD_FILE = "ood.json"
OOD_ARRAYS = "ood.npz"
MESSAGE = "does not look like the surgery this model was trained on"
STRETCH_MESSAGE = "parts do not look like the surgery this model was trained on"
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


def check_matches(ood: "OodModel", folder: str) -> None:
    """Refuse a description fitted on another vision tower (a stale ood.json after retraining the encoder)."""
    want = (ood.info or {}).get("encoder")
    if want and want != encoder_fingerprint(folder):
        raise CheckpointError(f"{os.path.join(folder, OOD_FILE)} describes another vision encoder (fingerprint {want}) "
                              f"than this model's: refit it with `halsted fit-ood --model {folder} --atlas ATLAS` "
                              f"(the atlas the model was trained on), or delete {OOD_FILE} and {OOD_ARRAYS}")


def window_descriptor(embeds) -> np.ndarray:
    """(B, D) float64 window descriptors from what `LoadedModel.encode` returns: (B, D) clip embeddings as they
    are, (B, T, D) per-frame features averaged over the frames."""
    x = embeds.detach().float().cpu().numpy() if hasattr(embeds, "detach") else np.asarray(embeds)
    x = x.astype(np.float64)
    return x.mean(axis=1) if x.ndim == 3 else x


@dataclass
class OodModel:
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
            raise CheckpointError(f"the out-of-distribution description is for {self.mean.shape[0]}-d embeddings, this "
                                  f"model gives {x.shape[1]}-d ones: refit it with `halsted fit-ood`")
        x = x - self.mean
        proj = x @ self.components.T
        resid = (x * x).sum(axis=1) - (proj * proj).sum(axis=1)
        d2 = (proj * proj / self.variances).sum(axis=1) + np.maximum(resid, 0.0) / self.residual_variance
        return d2 / x.shape[1]

    # ---- the model folder's files -------------------------------------------------------------
    def save(self, folder: str, info: Dict[str, Any]) -> str:
        from ..io import atomic_write_text

        tmp = os.path.join(folder, OOD_ARRAYS + ".tmp.npz")
        np.savez(tmp, mean=self.mean.astype(np.float32), components=self.components.astype(np.float32),
                 variances=self.variances.astype(np.float32),
                 residual_variance=np.float32(self.residual_variance))
        os.replace(tmp, os.path.join(folder, OOD_ARRAYS))
        data = dict(info, threshold=float(self.threshold), arrays=OOD_ARRAYS,
                    dimension=int(self.mean.shape[0]), components=int(self.components.shape[0]))
        path = os.path.join(folder, OOD_FILE)
        atomic_write_text(path, json.dumps(data, indent=2) + "\n")
        self.info = data
        return path


def load_ood(folder: str) -> Optional[OodModel]:
    """The folder's OOD description, or None when it has none (mapping then says nothing about it)."""
    path = os.path.join(folder, OOD_FILE)
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            info = json.load(f)
        with np.load(os.path.join(folder, info.get("arrays", OOD_ARRAYS)), allow_pickle=False) as z:
            return OodModel(mean=z["mean"].astype(np.float64), components=z["components"].astype(np.float64),
                            variances=z["variances"].astype(np.float64),
                            residual_variance=float(z["residual_variance"]), threshold=float(info["threshold"]),
                            info=info)
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise CheckpointError(f"{path}: unreadable out-of-distribution description ({err}); "
                              f"refit it with `halsted fit-ood --model {folder} --atlas ATLAS` or delete "
                              f"{OOD_FILE} and {OOD_ARRAYS}") from err


def video_verdict(windows: Sequence[Tuple[float, float, float]], model: OodModel) -> Dict[str, Any]:
    """The Timeline's `ood` field from (start_s, end_s, score) of a video's stage-1 windows."""
    rows = sorted(windows)
    scores = np.array([s for _, _, s in rows], dtype=np.float64)
    score = float(np.median(scores)) if len(scores) else float("nan")
    flagged = bool(len(scores) and score > model.threshold)
    stretches: List[Dict[str, float]] = []
    for a, b, s in rows:
        if s <= model.threshold:
            continue
        if stretches and a <= stretches[-1]["end_s"] + 1e-6:
            stretches[-1]["end_s"] = max(stretches[-1]["end_s"], b)
            stretches[-1]["score"] = max(stretches[-1]["score"], s)
        else:
            stretches.append({"start_s": a, "end_s": b, "score": s})
    info = model.info or {}
    return {"flagged": flagged, "message": MESSAGE if flagged else (STRETCH_MESSAGE if stretches else ""),
            "score": round(score, 4), "threshold": round(float(model.threshold), 4),
            "false_alarm_rate": info.get("false_alarm_rate"),
            "stretches": [{k: round(float(v), 4) for k, v in s.items()} for s in stretches],
            "windows": [{"start_s": round(a, 4), "end_s": round(b, 4), "score": round(float(s), 4)}
                        for a, b, s in rows]}
