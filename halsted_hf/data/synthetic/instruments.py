"""Vectorised drawing primitives and the look of each surgical instrument.

Images are float32 arrays (H, W, 3) with values 0..255; points are (x, y) in pixels. Every primitive
works on the bounding box of its shape only, with anti-aliased edges and cylinder shading, so a
frame with several instruments costs well under a millisecond at 160x120.

Each base instrument has its own silhouette (jaws, blades, hook, paddle, tube, stapler) and its own
colour band at the wrist, so a small model can tell 27 instruments apart at 112x112; co-occurring
pairs ("bipolar forceps–monopolar scissors") are drawn as two instruments, left arm then right arm.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

import numpy as np

from ...model.taxonomy import CO_OCCURRENCE

Point = Tuple[float, float]


# ---- primitives -----------------------------------------------------------------------------------
def _bbox(img: np.ndarray, xs: Sequence[float], ys: Sequence[float], pad: float):
    h, w = img.shape[:2]
    x0, x1 = max(0, int(math.floor(min(xs) - pad))), min(w, int(math.ceil(max(xs) + pad)) + 1)
    y0, y1 = max(0, int(math.floor(min(ys) - pad))), min(h, int(math.ceil(max(ys) + pad)) + 1)
    return x0, x1, y0, y1


def _blend(img, x0, x1, y0, y1, alpha, color, shade=None):
    region = img[y0:y1, x0:x1]
    col = np.asarray(color, np.float32)
    src = col if shade is None else col * shade[..., None]
    region += alpha[..., None] * (src - region)


def segment(img: np.ndarray, p0: Point, p1: Point, radius: float, color, alpha: float = 1.0,
            shade: bool = True) -> None:
    """A capsule (thick line with round ends) from p0 to p1, shaded like a cylinder."""
    x0, x1, y0, y1 = _bbox(img, (p0[0], p1[0]), (p0[1], p1[1]), radius + 1.5)
    if x0 >= x1 or y0 >= y1:
        return
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    dx, dy = p1[0] - p0[0], p1[1] - p0[1]
    L2 = dx * dx + dy * dy
    t = np.zeros_like(xx) if L2 < 1e-9 else np.clip(((xx - p0[0]) * dx + (yy - p0[1]) * dy) / L2, 0.0, 1.0)
    d = np.hypot(xx - (p0[0] + t * dx), yy - (p0[1] + t * dy))
    a = np.clip(radius + 0.5 - d, 0.0, 1.0) * alpha
    sh = (1.2 - 0.55 * np.clip(d / max(radius, 0.5), 0, 1) ** 2) if shade else None
    _blend(img, x0, x1, y0, y1, a, color, sh)


def disk(img: np.ndarray, c: Point, rx: float, color, alpha: float = 1.0, ry: Optional[float] = None,
         angle: float = 0.0, soft: float = 0.5) -> None:
    """A filled (rotated) ellipse with a soft edge of `soft` pixels."""
    ry = rx if ry is None else ry
    r = max(rx, ry)
    x0, x1, y0, y1 = _bbox(img, (c[0],), (c[1],), r + soft + 1)
    if x0 >= x1 or y0 >= y1:
        return
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    ca, sa = math.cos(angle), math.sin(angle)
    u = ((xx - c[0]) * ca + (yy - c[1]) * sa) / max(rx, 1e-3)
    v = (-(xx - c[0]) * sa + (yy - c[1]) * ca) / max(ry, 1e-3)
    d = (np.sqrt(u * u + v * v) - 1.0) * min(rx, ry)  # ~ pixels outside the edge
    a = np.clip(0.5 - d / max(soft, 0.5), 0.0, 1.0) * alpha
    _blend(img, x0, x1, y0, y1, a, color)


def glow(img: np.ndarray, c: Point, sigma: float, color, strength: float) -> None:
    """Additive Gaussian light (cautery sparks): brightens without hiding what is underneath."""
    x0, x1, y0, y1 = _bbox(img, (c[0],), (c[1],), 3 * sigma)
    if x0 >= x1 or y0 >= y1 or strength <= 0:
        return
    gy = np.exp(-0.5 * ((np.arange(y0, y1, dtype=np.float32) - c[1]) / sigma) ** 2)
    gx = np.exp(-0.5 * ((np.arange(x0, x1, dtype=np.float32) - c[0]) / sigma) ** 2)
    img[y0:y1, x0:x1] += (strength * np.outer(gy, gx))[..., None] * np.asarray(color, np.float32)


def polyline(img, points: Sequence[Point], radius: float, color, alpha: float = 1.0, shade: bool = True) -> None:
    for p, q in zip(points[:-1], points[1:]):
        segment(img, p, q, radius, color, alpha, shade)


def rotate(v: Point, angle: float) -> Point:
    c, s = math.cos(angle), math.sin(angle)
    return (v[0] * c - v[1] * s, v[0] * s + v[1] * c)


# ---- instruments ----------------------------------------------------------------------------------
ROBOT_SHAFT = (38, 38, 42)       # da Vinci shafts are black
LAP_SHAFT = (150, 152, 158)      # laparoscopic / assistant instruments are bare metal
METAL = (200, 202, 210)


@dataclass(frozen=True)
class Look:
    """How one base instrument is drawn. Lengths are fractions of the frame width."""

    # tip: jaws | curved | fenestrated | scissors | hook | spatula | clip | stapler | sealer | tube | driver
    tip: str
    band: Tuple[int, int, int]   # colour ring at the wrist (a cue distinct per instrument)
    jaw: Tuple[int, int, int] = METAL
    length: float = 0.085        # jaw length
    width: float = 0.012         # jaw radius
    shaft: Tuple[int, int, int] = ROBOT_SHAFT
    spread: float = 0.5          # jaw half-angle when fully open, radians


LOOKS = {
    "bipolar dissector": Look("curved", (40, 90, 220), length=0.075, width=0.010),
    "bipolar forceps": Look("fenestrated", (30, 60, 200), length=0.09, width=0.013),
    "bipolar grasper": Look("jaws", (70, 140, 255), length=0.08, width=0.016),
    "cadiere forceps": Look("fenestrated", (240, 140, 30), length=0.11, width=0.011),
    "cautery spatula": Look("spatula", (240, 240, 60), jaw=(225, 225, 230), length=0.07, width=0.02),
    "cautery hook": Look("hook", (250, 250, 250), length=0.075, width=0.008),
    "clip applier": Look("clip", (170, 70, 200), length=0.08, width=0.012),
    "clipper": Look("clip", (60, 200, 90), length=0.07, width=0.014, shaft=LAP_SHAFT),
    "fenestrated forceps": Look("fenestrated", (250, 90, 150), length=0.08, width=0.014),
    "fenestrated grasper": Look("fenestrated", (255, 200, 60), length=0.10, width=0.017),
    "grasper": Look("jaws", (200, 200, 200), length=0.09, width=0.013, shaft=LAP_SHAFT),
    "hook monopolar": Look("hook", (255, 120, 40), length=0.09, width=0.009),
    "maryland grasper": Look("curved", (120, 220, 255), length=0.09, width=0.012),
    "monopolar scissors": Look("scissors", (255, 170, 20), length=0.085, width=0.008, spread=0.35),
    "needle driver": Look("driver", (230, 190, 60), length=0.055, width=0.017),
    "prograsp forceps": Look("jaws", (255, 255, 255), jaw=(175, 178, 185), length=0.11, width=0.019),
    "scissors": Look("scissors", (90, 90, 90), length=0.10, width=0.007, shaft=LAP_SHAFT, spread=0.35),
    "shears": Look("scissors", (230, 40, 40), length=0.075, width=0.010, spread=0.45),
    "stapler": Look("stapler", (40, 160, 160), jaw=(225, 205, 90), length=0.17, width=0.024, spread=0.25),
    "suction": Look("tube", (235, 235, 235), jaw=(225, 225, 232), length=0.05, width=0.017, shaft=LAP_SHAFT),
    "vessel sealer": Look("sealer", (30, 120, 230), jaw=(60, 110, 200), length=0.10, width=0.02, spread=0.35),
}


def split_instrument(name: str) -> Tuple[str, ...]:
    """"bipolar forceps–monopolar scissors" -> ("bipolar forceps", "monopolar scissors") (left arm, right arm)."""
    return tuple(p.strip() for p in name.split(CO_OCCURRENCE))


def draw_instrument(img: np.ndarray, name: str, entry: Point, tip: Point, opening: float = 0.0,
                    scale: Optional[float] = None, clip_color=None) -> None:
    """Draw one base instrument whose shaft comes from `entry` (off-screen port) to its `tip`.

    opening: 0 closed .. 1 fully open jaws. scale: pixels per frame width (defaults to the image width).
    clip_color: for clip appliers, the clip loaded between the jaws (None = no clip loaded).
    """
    look = LOOKS[name]
    S = float(scale or img.shape[1])
    dx, dy = tip[0] - entry[0], tip[1] - entry[1]
    norm = math.hypot(dx, dy) or 1.0
    u = (dx / norm, dy / norm)
    n = (-u[1], u[0])
    L, r = look.length * S, look.width * S
    wrist = (tip[0] - u[0] * L, tip[1] - u[1] * L)
    shaft_r = 0.024 * S if look.tip != "stapler" else 0.03 * S
    segment(img, entry, wrist, shaft_r, look.shaft)
    band0 = (wrist[0] - u[0] * 0.05 * S, wrist[1] - u[1] * 0.05 * S)
    segment(img, band0, (wrist[0] - u[0] * 0.015 * S, wrist[1] - u[1] * 0.015 * S), shaft_r * 1.05, look.band)
    segment(img, (wrist[0] - u[0] * 0.015 * S, wrist[1] - u[1] * 0.015 * S), wrist, shaft_r * 0.7, (90, 90, 96))
    o = float(np.clip(opening, 0.0, 1.0)) * look.spread
    kind = look.tip
    if kind == "tube":
        segment(img, wrist, tip, r, look.jaw)
        disk(img, tip, r * 0.6, (40, 20, 20))
    elif kind == "spatula":
        segment(img, wrist, tip, r * 0.35, look.jaw)
        disk(img, (tip[0] - u[0] * r * 0.6, tip[1] - u[1] * r * 0.6), r * 1.2, look.jaw, ry=r * 0.55,
             angle=math.atan2(u[1], u[0]))
    elif kind == "hook":
        bend = (tip[0] + n[0] * 0.035 * S, tip[1] + n[1] * 0.035 * S)
        segment(img, wrist, tip, r, look.jaw)
        segment(img, tip, bend, r, look.jaw)
        segment(img, bend, (bend[0] - u[0] * 0.015 * S, bend[1] - u[1] * 0.015 * S), r, look.jaw)
    else:
        for side in (1, -1):
            d = rotate(u, side * o)
            end = (wrist[0] + d[0] * L, wrist[1] + d[1] * L)
            rr = r * (0.6 if kind == "scissors" else 1.0)
            if kind in ("curved", "scissors"):
                # jaws bend sideways: Maryland dissector and curved scissor blades
                mid = (wrist[0] + d[0] * L * 0.55, wrist[1] + d[1] * L * 0.55)
                end = (end[0] + n[0] * 0.03 * S, end[1] + n[1] * 0.03 * S)
                polyline(img, [wrist, mid, end], rr, look.jaw)
            else:
                segment(img, wrist, end, rr, look.jaw)
            if kind == "fenestrated":
                c = (wrist[0] + d[0] * L * 0.6, wrist[1] + d[1] * L * 0.6)
                disk(img, c, r * 0.9, (35, 25, 25), ry=r * 0.45, angle=math.atan2(d[1], d[0]))
            elif kind == "stapler" and side == 1:
                segment(img, (wrist[0] + d[0] * L * 0.1, wrist[1] + d[1] * L * 0.1), end, r * 0.55, look.band)
            elif kind == "sealer":
                segment(img, (wrist[0] + d[0] * L * 0.3, wrist[1] + d[1] * L * 0.3), end, r * 0.45, (235, 235, 240))
        if kind == "clip" and clip_color is not None:
            c = (wrist[0] + u[0] * L * 0.75, wrist[1] + u[1] * L * 0.75)
            draw_clip(img, c, math.atan2(n[1], n[0]), 0.035 * S, clip_color)


def draw_clip(img, c: Point, angle: float, size: float, color) -> None:
    """A surgical clip: a short V across a vessel, as left on tissue by a clip applier."""
    d = (math.cos(angle) * size, math.sin(angle) * size)
    e = rotate(d, 0.35)
    segment(img, (c[0] - d[0], c[1] - d[1]), (c[0] + d[0], c[1] + d[1]), max(1.0, size * 0.22), color)
    segment(img, (c[0] - e[0], c[1] - e[1]), (c[0] + e[0], c[1] + e[1]), max(1.0, size * 0.18), color)


def draw_needle(img, center: Point, radius: float, tip_angle: float, span: float, sweep: float,
                hidden=None, scale: float = 160.0) -> Tuple[Point, Point]:
    """A curved suture needle: an arc of `span` radians on a circle, tip at `tip_angle`, the body
    trailing behind against the sweep direction (sign of `sweep`). `hidden(angle) -> alpha` says how
    much of each part shows (0 = under tissue). Returns (tip point, tail point)."""
    k = 8
    sgn = 1.0 if sweep >= 0 else -1.0
    angles = [tip_angle - sgn * span * i / k for i in range(k + 1)]
    pts = [(center[0] + radius * math.cos(a), center[1] + radius * math.sin(a)) for a in angles]
    r = max(0.9, 0.008 * scale)
    for i in range(k):
        a = 1.0 if hidden is None else hidden(0.5 * (angles[i] + angles[i + 1]))
        if a > 0.02:
            segment(img, pts[i], pts[i + 1], r * (0.75 if i == 0 else 1.0), (225, 228, 235), alpha=a)
    return pts[0], pts[-1]
