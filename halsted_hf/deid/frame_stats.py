"""Cheap colour and texture statistics of a frame, the part of the out-of-body features an ImageNet encoder
does not weigh: the inside of an abdomen is red-orange, saturated, lit from one point and mostly smooth;
a room, a face, a drape or a monitor is not. Pure numpy on the small frame the encoder also sees."""

from __future__ import annotations

import numpy as np

HUE_BINS = 8
NAMES = (
    [f"rgb_mean_{c}" for c in "rgb"] + [f"rgb_std_{c}" for c in "rgb"]
    + ["sat_mean", "sat_std", "val_mean", "val_std", "red_share", "dark_share", "bright_share", "grey_share"]
    + [f"hue_{i}" for i in range(HUE_BINS)]
    + ["grad_mean", "grad_std", "edge_share", "lap_abs_mean", "centre_minus_border"]
)
SIZE = len(NAMES)


def frame_stats(frame: np.ndarray) -> np.ndarray:
    """(SIZE,) float32 statistics of one (H, W, 3) uint8 RGB frame."""
    x = np.asarray(frame, dtype=np.float32) / 255.0
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    top, low = x.max(axis=2), x.min(axis=2)
    sat = np.where(top > 1e-6, (top - low) / np.maximum(top, 1e-6), 0.0)
    hue = _hue(r, g, b, top, low)
    coloured = sat > 0.15
    hist = np.bincount((hue[coloured] * HUE_BINS).astype(int).clip(0, HUE_BINS - 1), minlength=HUE_BINS)
    hist = hist / max(1, coloured.sum())
    grey = x.mean(axis=2)
    gy, gx = np.gradient(grey)
    grad = np.hypot(gx, gy)
    lap = grey[1:-1, 1:-1] * 4 - grey[:-2, 1:-1] - grey[2:, 1:-1] - grey[1:-1, :-2] - grey[1:-1, 2:]
    h, w = grey.shape
    centre = grey[h // 4: 3 * h // 4, w // 4: 3 * w // 4].mean()
    border = ((grey.sum() - grey[h // 4: 3 * h // 4, w // 4: 3 * w // 4].sum())
              / max(1, grey.size - (h // 2) * (w // 2)))
    out = [
        *x.reshape(-1, 3).mean(axis=0), *x.reshape(-1, 3).std(axis=0),
        sat.mean(), sat.std(), top.mean(), top.std(),
        float(((r > g + 0.08) & (r > b + 0.08)).mean()),  # red-dominant pixels: tissue and blood
        float((top < 0.08).mean()), float((top > 0.92).mean()), float((sat < 0.1).mean()),
        *hist,
        grad.mean(), grad.std(), float((grad > 0.08).mean()), float(np.abs(lap).mean()), centre - border,
    ]
    return np.asarray(out, dtype=np.float32)


def _hue(r, g, b, top, low) -> np.ndarray:
    """Hue in [0, 1) (0 = red), as HSV defines it."""
    span = np.maximum(top - low, 1e-6)
    h = np.where(top == r, (g - b) / span % 6, np.where(top == g, (b - r) / span + 2, (r - g) / span + 4))
    return (h / 6.0) % 1.0
