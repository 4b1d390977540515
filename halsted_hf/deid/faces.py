"""Faces in the frames that are kept: found with OpenCV's Haar cascades and blurred.

The cascades ship inside the opencv-python-headless 4.x wheel (`cv2.data.haarcascades`; 5.x no longer ships
them, hence the pin <5): frontal faces, and profiles facing either way (the profile cascade on the mirrored
frame too). Detection runs on a grey copy at most `DETECT_WIDTH` wide; a box is grown by `GROW` before it is
blurred so hair, ears and jaw go too. benchmarks/deid_faces.py measures it (and CenterFace, ONNX) for recall and
speed; the figures: docs/benchmarks.md, "De-identification".

The frontal cascade also fires on tissue (a blurred patch of surgery in about one in seven real in-body frames,
docs/benchmarks.md). Where the out-of-body classifier is sure the camera is inside (`confirm=True`), a face
counts only when the eye cascade finds an eye in its upper half: false alarms on tissue fall to about 1%, while
a face set into the picture is still found. Elsewhere every detection is blurred: recall first.
"""

from __future__ import annotations

import os
from typing import List, Tuple

import numpy as np

Box = Tuple[int, int, int, int]  # x, y, w, h in pixels of the frame
DETECT_WIDTH = 640
GROW = 0.25
CASCADES = ("haarcascade_frontalface_default.xml", "haarcascade_profileface.xml", "haarcascade_eye.xml")
EYE_MIN_PX = 60  # a face box narrower than this is doubled in size before the eye cascade looks at it


def _cv2():
    try:
        import cv2
    except ImportError:
        from ..core.errors import HalstedError

        raise HalstedError("face blurring needs OpenCV: pip install 'opencv-python-headless>=4.8,<5'") from None
    return cv2


class FaceDetector:
    """`detect(frame)` -> face boxes; `name` and `version` go into the report."""

    def __init__(self, min_neighbors: int = 5, min_size_px: int = 20):
        cv2 = self.cv2 = _cv2()
        folder = getattr(getattr(cv2, "data", None), "haarcascades", "")
        paths = [os.path.join(folder, n) for n in CASCADES]
        missing = [p for p in paths if not os.path.isfile(p)]
        if missing:
            from ..core.errors import HalstedError

            raise HalstedError(f"OpenCV {cv2.__version__} ships no Haar cascades ({os.path.basename(missing[0])}): "
                               f"install opencv-python-headless 4.x (pip install 'opencv-python-headless>=4.8,<5')")
        self.frontal, self.profile, self.eye = (cv2.CascadeClassifier(p) for p in paths)
        self.min_neighbors, self.min_size_px = int(min_neighbors), int(min_size_px)
        self.name = "opencv-haar-cascades (frontalface_default + profileface)"
        self.version = cv2.__version__

    def detect(self, frame: np.ndarray, confirm: bool = False) -> List[Box]:
        """Face boxes in a (H, W, 3) RGB frame; `confirm`: frontal faces with an eye only (see the module doc)."""
        cv2 = self.cv2
        h, w = frame.shape[:2]
        scale = min(1.0, DETECT_WIDTH / float(w))
        grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        if scale < 1.0:
            grey = cv2.resize(grey, (int(round(w * scale)), int(round(h * scale))), interpolation=cv2.INTER_AREA)
        grey = cv2.equalizeHist(grey)
        gw = grey.shape[1]
        size = (self.min_size_px, self.min_size_px)
        found = [tuple(b) for b in self.frontal.detectMultiScale(grey, 1.1, self.min_neighbors, minSize=size)]
        if confirm:
            return merge_boxes([tuple(int(round(v / scale)) for v in b) for b in found if self._has_eye(grey, b)])
        found += [tuple(b) for b in self.profile.detectMultiScale(grey, 1.1, self.min_neighbors, minSize=size)]
        found += [(gw - x - bw, y, bw, bh) for x, y, bw, bh in
                  self.profile.detectMultiScale(cv2.flip(grey, 1), 1.1, self.min_neighbors, minSize=size)]
        return merge_boxes([tuple(int(round(v / scale)) for v in b) for b in found])


    def _has_eye(self, grey: np.ndarray, box) -> bool:
        x, y, w, h = box
        upper = grey[y:y + h // 2 + h // 8, x:x + w]
        if w < EYE_MIN_PX:
            upper = self.cv2.resize(upper, (upper.shape[1] * 2, upper.shape[0] * 2))
        return len(self.eye.detectMultiScale(upper, 1.1, 3)) > 0


def merge_boxes(boxes: List[Box]) -> List[Box]:
    """One box per face: boxes that overlap (the three cascades often find the same face) become their union."""
    out: List[List[int]] = []
    for x, y, w, h in sorted(boxes):
        for o in out:
            if x < o[0] + o[2] and o[0] < x + w and y < o[1] + o[3] and o[1] < y + h:
                x1, y1 = max(o[0] + o[2], x + w), max(o[1] + o[3], y + h)
                o[0], o[1] = min(o[0], x), min(o[1], y)
                o[2], o[3] = x1 - o[0], y1 - o[1]
                break
        else:
            out.append([x, y, w, h])
    return [tuple(o) for o in out]


def blur_boxes(frame: np.ndarray, boxes: List[Box], grow: float = GROW) -> np.ndarray:
    """Blur each (grown) box beyond recognition: shrink the region to 8 pixels across, then blow it back up
    and smooth it; what is left is a few colours, not a face."""
    cv2 = _cv2()
    h, w = frame.shape[:2]
    for x, y, bw, bh in boxes:
        gx, gy = int(bw * grow), int(bh * grow)
        x0, y0, x1, y1 = max(0, x - gx), max(0, y - gy), min(w, x + bw + gx), min(h, y + bh + gy)
        if x1 - x0 < 2 or y1 - y0 < 2:
            continue
        region = frame[y0:y1, x0:x1]
        tiny = cv2.resize(region, (8, max(1, round(8 * (y1 - y0) / (x1 - x0)))), interpolation=cv2.INTER_AREA)
        big = cv2.resize(tiny, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
        frame[y0:y1, x0:x1] = cv2.GaussianBlur(big, (0, 0), max(1.0, (x1 - x0) / 16))
    return frame
