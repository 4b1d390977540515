"""The operative field: a tissue canvas per procedure (palette, texture, organ shapes) and the camera.

Each procedure has a fixed layout of organs (so it is recognisable across videos) drawn with its
specialty's palette and a texture of its own (folds, fibres, spots, lobules, vessels); each video
jitters positions, sizes and colours. The canvas is twice the frame size: the camera pans and zooms
over it, so the same organ appears at different places and scales, and no single pixel gives the
procedure away.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, Tuple

import numpy as np

from .instruments import disk, segment

RGB = Tuple[int, int, int]


def value_noise(rng: np.random.Generator, h: int, w: int, cell: float) -> np.ndarray:
    """Smooth random field (h, w) in [0, 1]: a random grid every `cell` pixels, smoothstep-interpolated."""
    gh, gw = int(h / cell) + 3, int(w / cell) + 3
    grid = rng.random((gh, gw), dtype=np.float32)
    y = np.arange(h, dtype=np.float32) / cell
    x = np.arange(w, dtype=np.float32) / cell
    y0, x0 = y.astype(int), x.astype(int)
    fy, fx = y - y0, x - x0
    fy, fx = fy * fy * (3 - 2 * fy), fx * fx * (3 - 2 * fx)
    a = grid[y0][:, x0] * (1 - fx) + grid[y0][:, x0 + 1] * fx
    b = grid[y0 + 1][:, x0] * (1 - fx) + grid[y0 + 1][:, x0 + 1] * fx
    return a * (1 - fy[:, None]) + b * fy[:, None]


@dataclass(frozen=True)
class Organ:
    """An organ on the canvas, in canvas fractions: centre, radii, angle (rad), colour, shape."""

    x: float
    y: float
    rx: float
    ry: float
    angle: float
    color: RGB
    shape: str = "blob"  # blob | tube (cylinder shading, stripes) | spots (many small lesions) | ring


@dataclass(frozen=True)
class ProcedureLook:
    base: RGB
    texture: str                 # folds | fibres | spots | lobules | smooth | alveoli
    organs: Tuple[Organ, ...]
    vessels: float = 0.5         # how many visible vessels (0..1)


def _o(x, y, rx, ry, a, color, shape="blob"):
    return Organ(x, y, rx, ry, a, color, shape)


FAT, BOWEL, VESSEL = (234, 204, 118), (208, 128, 116), (150, 40, 45)
LOOKS: Dict[str, ProcedureLook] = {
    # bariatric: pale stomach with rugal folds, fat, small bowel loops
    "gastric bypass": ProcedureLook((222, 176, 150), "folds", (
        _o(.35, .45, .28, .2, .3, (228, 168, 150)), _o(.72, .7, .22, .08, -.4, BOWEL, "tube"),
        _o(.8, .25, .18, .14, 0, FAT))),
    # cardiac: dark myocardium, yellow epicardial fat, white pericardium edges
    "atrial closure": ProcedureLook((140, 42, 48), "fibres", (
        _o(.5, .5, .3, .24, .2, (105, 30, 55)), _o(.2, .2, .18, .1, .5, (235, 226, 214)),
        _o(.8, .78, .16, .12, 0, (222, 190, 92)))),
    "IMA harvest": ProcedureLook((196, 92, 88), "fibres", (
        _o(.5, .3, .45, .05, .15, (235, 225, 215), "tube"), _o(.5, .7, .45, .05, .15, (235, 225, 215), "tube"),
        _o(.45, .5, .4, .035, .15, VESSEL, "tube"))),
    "mitral stitching": ProcedureLook((150, 50, 50), "smooth", (
        _o(.5, .5, .26, .22, 0, (236, 222, 196), "ring"), _o(.5, .5, .13, .1, 0, (40, 12, 15)),
        _o(.15, .8, .15, .12, 0, (226, 196, 100)))),
    # colorectal: yellow mesenteric fat, colon with haustra
    "right colectomy": ProcedureLook(FAT, "lobules", (
        _o(.35, .4, .35, .1, .6, (206, 124, 104), "tube"), _o(.7, .65, .25, .08, -.3, (214, 140, 128), "tube"),
        _o(.6, .2, .2, .04, .1, VESSEL, "tube"))),
    "total mesorectal excision": ProcedureLook((226, 196, 120), "lobules", (
        _o(.5, .55, .22, .32, 0, (196, 120, 92)), _o(.5, .55, .3, .4, 0, (238, 220, 190), "ring"),
        _o(.15, .3, .1, .25, .2, (180, 70, 70)))),
    # general: liver and gallbladder / pale peritoneum with a hernia defect
    "laparoscopic cholecystectomy": ProcedureLook((120, 48, 40), "smooth", (
        _o(.55, .55, .16, .3, .7, (112, 140, 64)), _o(.2, .85, .3, .12, 0, FAT),
        _o(.5, .2, .5, .1, .05, (100, 38, 32)))),
    "laparoscopic hernia": ProcedureLook((226, 198, 188), "smooth", (
        _o(.5, .5, .16, .12, 0, (60, 35, 40)), _o(.5, .5, .22, .17, 0, (240, 228, 220), "ring"),
        _o(.2, .25, .25, .03, .7, VESSEL, "tube"))),
    # gynecology: pink uterus, purple endometriotic lesions, fibroids
    "endometriosis": ProcedureLook((218, 178, 170), "smooth", (
        _o(.5, .5, .45, .4, 0, (110, 50, 120), "spots"), _o(.25, .7, .12, .09, 0, (150, 96, 146)),
        _o(.75, .3, .1, .08, 0, (160, 70, 110)))),
    "hysterectomy": ProcedureLook((210, 150, 150), "smooth", (
        _o(.5, .5, .26, .3, 0, (214, 126, 144)), _o(.15, .5, .1, .05, .2, (160, 100, 150)),
        _o(.85, .5, .1, .05, -.2, (160, 100, 150)))),
    "myomectomy": ProcedureLook((206, 122, 138), "fibres", (
        _o(.5, .5, .3, .3, 0, (214, 126, 144)), _o(.45, .45, .14, .13, 0, (238, 228, 218)),
        _o(.7, .7, .07, .07, 0, (238, 228, 218)))),
    # hepatobiliary: lobulated yellow pancreas, pink duodenum, green bile duct
    "pancreaticoduodenectomy": ProcedureLook((228, 188, 128), "lobules", (
        _o(.5, .5, .35, .12, -.2, (232, 196, 136)), _o(.2, .4, .12, .3, .2, BOWEL, "tube"),
        _o(.7, .25, .18, .03, .4, (96, 132, 62), "tube"))),
    # thoracic: spongy pink-grey lung with anthracotic spots; fissures and hilar vessels differ
    "right middle lobectomy": ProcedureLook((206, 158, 170), "alveoli", (
        _o(.5, .35, .5, .015, .3, (120, 80, 90), "tube"), _o(.5, .65, .5, .015, -.3, (120, 80, 90), "tube"),
        _o(.5, .5, .4, .4, 0, (60, 58, 70), "spots"))),
    "right upper lobectomy": ProcedureLook((200, 152, 166), "alveoli", (
        _o(.5, .3, .5, .015, 0, (120, 80, 90), "tube"), _o(.3, .75, .12, .04, .6, (80, 90, 160), "tube"),
        _o(.5, .5, .4, .4, 0, (60, 58, 70), "spots"))),
    "segmentectomy": ProcedureLook((204, 156, 170), "alveoli", (
        _o(.62, .45, .22, .2, .3, (140, 90, 130)), _o(.3, .7, .12, .04, -.5, (80, 90, 160), "tube"),
        _o(.5, .5, .4, .4, 0, (60, 58, 70), "spots"))),
    # urology: yellow periprostatic fat, pale bladder dome, reddish prostate
    "prostatectomy": ProcedureLook((232, 205, 150), "lobules", (
        _o(.5, .25, .35, .2, 0, (226, 176, 156)), _o(.5, .65, .18, .16, 0, (192, 106, 92)),
        _o(.2, .6, .04, .3, .1, VESSEL, "tube"))),
}

TEXTURE_CELL = {"folds": 10, "fibres": 6, "spots": 12, "lobules": 7, "smooth": 24, "alveoli": 4}


def make_canvas(procedure: str, height: int, width: int, rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray]:
    """Render a procedure's field: (canvas float32 (h, w, 3) 0..255, perfusion float32 (h, w) 0..1).

    `perfusion` marks vessels and well-perfused tissue: what fluorescence (ICG) imaging lights up.
    """
    look = LOOKS[procedure]
    h, w = height, width
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)

    def jitter(s):
        return 1.0 + rng.uniform(-s, s)

    base = np.asarray(look.base, np.float32) * np.array([jitter(.06), jitter(.06), jitter(.06)], np.float32)
    cell = TEXTURE_CELL[look.texture] * w / 320
    tex = value_noise(rng, h, w, max(cell, 1.5))
    low = value_noise(rng, h, w, w / 5)
    if look.texture == "folds":  # rugae: warped sine stripes
        tex = 0.5 + 0.5 * np.sin((yy / h * 18 + 3 * low) * math.pi)
    elif look.texture == "fibres":  # muscle fibres along a diagonal
        tex = 0.5 + 0.5 * np.sin(((xx + yy * 0.6) / w * 40 + 4 * low) * math.pi) * 0.6 + 0.4 * tex - 0.2
    shade = 0.78 + 0.3 * low + 0.18 * (tex - 0.5)
    canvas = base[None, None, :] * shade[..., None]
    perf = np.zeros((h, w), np.float32)
    for organ in look.organs:
        _draw_organ(canvas, perf, organ, h, w, rng, tex)
    if look.texture == "alveoli":  # spongy lung: fine bright/dark speckle
        canvas *= (0.9 + 0.2 * value_noise(rng, h, w, max(2.0, w / 110)))[..., None]
    # vessels: thin contour lines of a smooth field look like branching vessels
    vn = value_noise(rng, h, w, w / 7)
    vessel = np.exp(-((vn - 0.5) ** 2) / 0.00035) * look.vessels
    canvas += vessel[..., None] * (np.array(VESSEL, np.float32) - canvas) * 0.8
    perf = np.clip(perf + vessel, 0, 1)
    # wet highlights: small specular spots
    spec = np.clip((value_noise(rng, h, w, max(4.0, w / 24)) - 0.88) * 5, 0, 1)
    canvas += spec[..., None] * (255 - canvas) * 0.6
    return np.clip(canvas, 0, 255).astype(np.float32), perf


def _draw_organ(canvas, perf, organ: Organ, h: int, w: int, rng, tex) -> None:
    cx, cy = (organ.x + rng.uniform(-.05, .05)) * w, (organ.y + rng.uniform(-.05, .05)) * h
    rx, ry = organ.rx * w * rng.uniform(.9, 1.1), organ.ry * w * rng.uniform(.9, 1.1)
    angle = organ.angle + rng.uniform(-.15, .15)
    color = np.clip(np.asarray(organ.color, np.float32) * rng.uniform(.93, 1.07, 3), 0, 255)
    if organ.shape == "spots":  # many small lesions / anthracotic dots inside an ellipse
        n = int(40 * rx * ry / (w * w * 0.1) + 8)
        for _ in range(n):
            a, r = rng.uniform(0, 2 * math.pi), math.sqrt(rng.random())
            p = (cx + r * rx * math.cos(a), cy + r * ry * math.sin(a))
            disk(canvas, p, rng.uniform(.006, .016) * w, color, alpha=0.85)
        return
    if organ.shape == "ring":  # an annulus: the field shows through the middle
        inside = canvas[int(min(h - 1, max(0, cy))), int(min(w - 1, max(0, cx)))].copy()
        disk(canvas, (cx, cy), rx, color, ry=ry, angle=angle, soft=2)
        disk(canvas, (cx, cy), rx * 0.72, inside, ry=ry * 0.72, angle=angle, soft=2)
        return
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ca, sa = math.cos(angle), math.sin(angle)
    u = ((xx - cx) * ca + (yy - cy) * sa) / rx
    v = (-(xx - cx) * sa + (yy - cy) * ca) / ry
    r2 = u * u + v * v
    edge = np.clip((1 - np.sqrt(r2)) * min(rx, ry) / 2.0, 0, 1)
    if organ.shape == "tube":  # cylinder shading across, haustra-like bands along
        shade = (1.1 - 0.45 * v * v) * (0.92 + 0.08 * np.cos(u * 9))
        perf += edge * 0.8
    else:  # dome shading with the canvas texture showing through
        shade = 1.08 - 0.3 * r2 + 0.15 * (tex - 0.5)
        perf += edge * 0.35
    canvas += edge[..., None] * (color[None, None, :] * shade[..., None] - canvas)


# ---- anatomy targets of stitches ------------------------------------------------------------------
ANATOMY_COLOR: Dict[str, RGB] = {
    "bile duct": (100, 138, 62), "bladder": (232, 184, 168), "urethra": (198, 100, 118), "colon": (206, 136, 96),
    "left atrium": (104, 28, 52), "mitral annulus": (240, 230, 204), "pancreas": (232, 196, 118),
    "peritoneum": (236, 222, 214), "small intestine": (222, 136, 138), "stomach": (214, 168, 132),
    "uterus": (212, 110, 146), "vagina": (170, 88, 128),
}


def anatomy_colors(anatomy: str) -> Tuple[RGB, RGB]:
    """Colours left and right of the wound; an anastomosis "a–b" shows a on the left, b on the right."""
    parts = [p.strip() for p in anatomy.split("–")]
    return ANATOMY_COLOR[parts[0]], ANATOMY_COLOR[parts[-1]]


def draw_target(img: np.ndarray, c, rx: float, ry: float, slit_angle: float, anatomy: str) -> None:
    """The tissue a stitch goes into: an elliptic patch split by a wound (dark slit) at `slit_angle`.

    The patch keeps the frame's shading (lighting, smoke, camera) by modulating its colour with the
    luminance below it.
    """
    h, w = img.shape[:2]
    x0, x1 = max(0, int(c[0] - rx - 2)), min(w, int(c[0] + rx + 3))
    y0, y1 = max(0, int(c[1] - ry - 2)), min(h, int(c[1] + ry + 3))
    if x0 >= x1 or y0 >= y1:
        return
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    dx, dy = xx - c[0], yy - c[1]
    r = np.sqrt((dx / rx) ** 2 + (dy / ry) ** 2)
    alpha = np.clip((1 - r) * min(rx, ry) / 2.5, 0, 1)
    # side of the wound line (direction slit_angle): left / right part of an anastomosis
    side = dx * math.sin(slit_angle) - dy * math.cos(slit_angle) < 0
    left, right = anatomy_colors(anatomy)
    color = np.where(side[..., None], np.asarray(left, np.float32), np.asarray(right, np.float32))
    region = img[y0:y1, x0:x1]
    lum = region.mean(axis=2, keepdims=True)
    texture = np.clip(lum / max(float(lum.mean()), 1.0), 0.75, 1.25) * (1.1 - 0.4 * r[..., None] ** 4)  # dark rim
    region += alpha[..., None] * (color * texture - region)
    d = (math.cos(slit_angle) * ry * 0.8, math.sin(slit_angle) * ry * 0.8)
    segment(img, (c[0] - d[0], c[1] - d[1]), (c[0] + d[0], c[1] + d[1]), max(1.0, rx * 0.06), (90, 20, 25),
            shade=False)
