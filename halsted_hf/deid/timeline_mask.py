"""Nothing is mapped where de-identification removed the picture: a Timeline's segments cut out of the removed
stretches (a black or blurred frame is not surgery, and any tag the model gave it would be invented)."""

from __future__ import annotations

import dataclasses
from typing import List, Sequence, Tuple

MIN_PIECE_S = 0.2  # a sliver left between a segment's edge and a stretch is dropped, not kept as a segment


def _cut(a: float, b: float, stretches: Sequence[Tuple[float, float]]) -> List[Tuple[float, float]]:
    pieces = [(a, b)]
    for s, e in stretches:
        pieces = [p for x, y in pieces for p in ((x, min(y, s)), (max(x, e), y)) if p[1] - p[0] > 1e-9]
    return [(x, y) for x, y in pieces if y - x >= MIN_PIECE_S]


def without_stretches(timeline, stretches: Sequence[Tuple[float, float]]):
    """A copy of `timeline` with every segment cut out of `stretches` ([(start_s, end_s)]) and the stretches
    recorded as `removed_stretches` (a top-level key of its JSON), with one warning saying so."""
    stretches = sorted((float(s), float(e)) for s, e in stretches)
    if not stretches:
        return timeline
    segments = [dataclasses.replace(seg, start_s=x, end_s=y)
                for seg in timeline.segments for x, y in _cut(seg.start_s, seg.end_s, stretches)]
    from ..core.clock import clock

    note = ("not mapped where de-identification removed the picture: "
            + ", ".join(f"{clock(s)}-{clock(e)}" for s, e in stretches))
    return dataclasses.replace(timeline, segments=segments, warnings=[*timeline.warnings, note],
                               extra={**timeline.extra, "removed_stretches": [[s, e] for s, e in stretches]})
