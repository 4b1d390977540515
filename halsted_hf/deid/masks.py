"""Fixed masks: rectangles painted black on every frame, where a camera burns patient data into the picture."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence, Tuple

import numpy as np

from ..core.errors import HalstedError


@dataclass(frozen=True)
class Mask:
    x: int
    y: int
    w: int
    h: int

    @classmethod
    def parse(cls, text: str) -> "Mask":
        """'x,y,w,h' in pixels of the upright frame."""
        try:
            x, y, w, h = (int(v) for v in str(text).split(","))
        except ValueError:
            raise HalstedError(f"--mask {text!r} is not x,y,w,h in whole pixels (e.g. --mask 0,0,320,40)") from None
        if x < 0 or y < 0 or w < 1 or h < 1:
            raise HalstedError(f"--mask {text!r}: x and y must be 0 or more, w and h at least 1")
        return cls(x, y, w, h)

    def check_fits(self, width: int, height: int) -> None:
        if self.x >= width or self.y >= height:
            raise HalstedError(f"--mask {self.as_text()} lies outside the {width}x{height} frame; "
                               f"give x,y inside it")

    def as_text(self) -> str:
        return f"{self.x},{self.y},{self.w},{self.h}"

    @property
    def box(self) -> Tuple[int, int, int, int]:
        return self.x, self.y, self.w, self.h


def apply_masks(frame: np.ndarray, masks: Sequence[Mask]) -> np.ndarray:
    for m in masks:
        frame[m.y:m.y + m.h, m.x:m.x + m.w] = 0
    return frame
