"""How a decoded frame is turned and mirrored to stand upright, from its display matrix."""

from __future__ import annotations

import math
from typing import Tuple

import numpy as np


def orientation(frame) -> Tuple[int, bool]:
    """(k, mirror): the frame is upright after `np.fliplr` (when mirror) and then `np.rot90(., k)`.

    Read from the whole display matrix, not only its angle: a mirrored video (a front camera, an
    endoscope's image flip, ffmpeg's -display_hflip) has a matrix of determinant -1, whose "rotation"
    of 180 degrees would turn the picture upside down instead of mirroring it back.
    Matches the ffmpeg CLI's autorotation for all eight right-angle orientations (tested)."""
    matrix = None
    for item in frame.side_data:
        # PyAV up to 18.1.0 iterates the side data itself; from 18.1.1 on, its types (a mapping's keys)
        side = item if hasattr(item, "type") else frame.side_data[item]
        if side.type.name == "DISPLAYMATRIX":
            matrix = np.frombuffer(bytes(side), dtype="<i4", count=9) / 65536.0
            break
    if matrix is None:  # no matrix on the frame: PyAV's angle (0 when none)
        return int(round(frame.rotation / 90.0)) % 4, False
    a, b, c, d = matrix[0], matrix[1], matrix[3], matrix[4]
    mirror = a * d - b * c < 0
    k = int(round(math.degrees(math.atan2(c, -a if mirror else a)) / 90.0)) % 4
    return k, mirror
