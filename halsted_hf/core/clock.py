"""Times as a surgeon reads them: whole seconds in sentences and summaries, tenths where a segment is picked."""

from __future__ import annotations


def clock(seconds: float) -> str:
    """Whole seconds: 0:41, 58:10, 1:02:03."""
    s = int(round(max(0.0, float(seconds))))
    h, m, sec = s // 3600, s % 3600 // 60, s % 60
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def clock_precise(seconds: float) -> str:
    """Minutes and tenths of a second, as the timeline and the corrections show a segment: 0:41.5, 62:03.0."""
    m, s = divmod(float(seconds), 60.0)
    return f"{int(m)}:{s:04.1f}"
