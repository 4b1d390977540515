"""The figures every front end shows: the timeline (dashboard Review page and the Space) and the
time-share bars, plus the category colours they and the overlay video share.

Colours belong to categories, not to rows: the taxonomy's categories, in taxonomy order, get hues
spread around the colour wheel by the golden angle, so "cautery" has one colour on every row, page,
overlay and Space, and two categories never share one. A category outside the taxonomy (an imported
timeline) gets a colour from a hash of its name: still the same everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import plotly.graph_objects as go

from .core.confidence import EXPLANATION, confidence_word
from .core.clock import clock_precise
from .mapping.reliability import NOT_RELIABLE, of_timeline
from .mapping.segment import subtract_spans, union_spans
from .mapping.timeline import Timeline
from .model.taxonomy import HALSTED_TAXONOMY, Taxonomy
from .palette import category_colour, category_rgb  # noqa: F401  (re-exported)

NOT_MAPPED = "not mapped at this stage"
NOT_MAPPED_COLOUR = "#d9d9d9"
ROW_PX = 34
LABEL_MIN_PX = 10  # a label that does not fit at this size is hidden (uniformtext): full text on hover


@dataclass
class TimelineFigure:
    """The figure and, per trace, each bar's start in seconds: a click event names (curve_number,
    point_index), which is all a page needs to seek the video, whatever plotly echoes back as x."""

    figure: go.Figure
    starts: List[List[float]]

    def start_of(self, point: dict) -> Optional[float]:
        try:
            return float(self.starts[point["curve_number"]][point["point_index"]])
        except (KeyError, IndexError, TypeError, ValueError):
            return None


def _rows(timeline: Timeline, taxonomy: Taxonomy) -> List[str]:
    present = {t for s in timeline.segments for t in s.tags}
    ordered = [t for t in taxonomy.all_tags if t in present]
    return ordered + sorted(present - set(ordered))


def _gap_reason(timeline: Timeline, tag: str) -> str:
    if all(s.stage == 2 for s in timeline.segments if tag in s.tags):
        return ("fine tags are mapped only inside the steps stage 1 found for them "
                "(e.g. phase inside suturing)")
    if timeline.decoded_until_s is not None:
        return "the video could not be decoded past here"
    return "no window of this stage covered this time"


def _gap_pieces(timeline: Timeline, tag: str, gaps: List[Tuple[float, float]]) -> List[Tuple[float, float, str]]:
    """The gaps of a tag's row, each with why it is grey. A clip may carry only some of its task's tags, so where
    the task did map the time with its other tags the model gave no answer for this one (a gap in the answer,
    not in mapping); elsewhere the row's reason (stage 2 only inside stage 1's steps, decoding ended, ...)."""
    why = _gap_reason(timeline, tag)
    task = next((s.task for s in timeline.segments if tag in s.tags), None)
    silent = [s for s in timeline.segments if s.task == task and tag not in s.tags]
    pieces = []
    for a, b in gaps:
        answered = union_spans([(max(a, s.start_s), min(b, s.end_s)) for s in silent if s.start_s < b and s.end_s > a])
        for x, y in answered:
            others = sorted({t for s in silent if s.start_s < y and s.end_s > x for t in s.tags})
            pieces.append((x, y, f"no {tag} answer: the model tagged this stretch with {', '.join(others)} only"))
        pieces += [(x, y, why) for x, y in subtract_spans((a, b), answered)]
    return sorted(p for p in pieces if p[1] - p[0] > 1e-3)


def _bar(row, spans, name, colour, text, hover, legend, group) -> go.Bar:
    return go.Bar(
        y=[row] * len(spans), x=[b - a for a, b in spans], base=[a for a, _ in spans], orientation="h",
        name=name, legendgroup=group, showlegend=legend, marker=dict(color=colour, line=dict(width=0)),
        text=text, textposition="inside", insidetextanchor="middle", constraintext="inside",
        hovertext=hover, hoverinfo="text",
        # a click selects a point; plotly would fade every other bar: keep them all opaque
        selected=dict(marker=dict(opacity=1.0)), unselected=dict(marker=dict(opacity=1.0)))


def timeline_figure(timeline: Timeline, taxonomy: Optional[Taxonomy] = None) -> TimelineFigure:
    """One row per tag (taxonomy order), one bar per segment coloured by its category; the time a row
    has no tag is a grey bar saying why; a legend lists each category once with its colour. A tag the
    Timeline's reliability record marks not reliable has its row labelled "(not reliable)" and the reason
    in its bars' tooltips."""
    taxonomy = taxonomy or HALSTED_TAXONOMY
    fig, starts, seen = go.Figure(), [], set()
    duration = max(timeline.duration_s, max((s.end_s for s in timeline.segments), default=0.0), 1e-3)
    rows = _rows(timeline, taxonomy)
    rel = of_timeline(timeline)  # a tag the model's card marks not reliable says so on its row and bars
    for row in rows:
        segs = timeline.select(tag=row)
        by_cat: Dict[str, list] = {}
        for seg in segs:
            by_cat.setdefault(seg.tags[row], []).append(seg)
        warn = "" if rel.is_reliable(row) else f"<br><b>{NOT_RELIABLE}</b>: {rel.reason(row)}"
        for cat, group in by_cat.items():
            spans = [(s.start_s, s.end_s) for s in group]
            hover = [f"<b>{row}: {cat}</b><br>{clock_precise(a)}–{clock_precise(b)}<br>confidence: "
                     f"{confidence_word(s.scores.get(row))}{warn}<br><i>click: play from here</i>"
                     for s, (a, b) in zip(group, spans)]
            fig.add_trace(_bar(row, spans, cat, category_colour(cat, taxonomy), [cat] * len(spans), hover,
                               cat not in seen, cat))
            starts.append([a for a, _ in spans])
            seen.add(cat)
        gaps = [g for span in subtract_spans((0.0, duration), union_spans([(s.start_s, s.end_s) for s in segs]))
                for g in [span] if g[1] - g[0] > 1e-3]
        if gaps:
            pieces = _gap_pieces(timeline, row, gaps)
            gaps = [(a, b) for a, b, _ in pieces]
            hover = [f"<b>{row}: {NOT_MAPPED}</b><br>{clock_precise(a)}–{clock_precise(b)}<br>{why}"
                     for a, b, why in pieces]
            fig.add_trace(_bar(row, gaps, NOT_MAPPED, NOT_MAPPED_COLOUR, None, hover, NOT_MAPPED not in seen,
                               NOT_MAPPED))
            starts.append([a for a, _ in gaps])
            seen.add(NOT_MAPPED)
    fig.update_layout(
        barmode="overlay", height=110 + ROW_PX * len(rows) + 22 * (1 + len(seen) // 6),
        margin=dict(l=10, r=10, t=10, b=10), clickmode="event+select", dragmode=False,
        uniformtext=dict(minsize=LABEL_MIN_PX, mode="hide"),
        xaxis=dict(title="seconds", range=[0, duration]),
        yaxis=dict(categoryorder="array", categoryarray=rows[::-1], type="category",
                   tickmode="array", tickvals=rows, ticktext=[rel.label(r) for r in rows]),
        legend=dict(orientation="h", yanchor="top", y=-0.12 - 0.6 / max(len(rows), 1), x=0,
                    title_text="category", itemclick=False, itemdoubleclick=False),
        hoverlabel=dict(align="left"))
    return TimelineFigure(fig, starts)


TIMELINE_CAPTION = ("One colour per category (legend below). Grey: " + NOT_MAPPED + ", or mapped without an "
                    "answer for that tag (hover a grey bar for which). Labels show where "
                    "they fit; hover a bar for the full text and its confidence. " + EXPLANATION)


def share_figure(values: Dict[str, float], title: str, unit: str,
                 taxonomy: Optional[Taxonomy] = None) -> Optional[go.Figure]:
    """Horizontal bars of time (unit "s") or time share (unit "%") per category, in the categories'
    colours; None when nothing was mapped (a page says so in a sentence instead of a bare axis)."""
    values = {k: v for k, v in values.items() if v and v > 0}
    if not values:
        return None
    fig = go.Figure(go.Bar(
        x=list(values.values()), y=list(values), orientation="h",
        marker_color=[category_colour(k, taxonomy) for k in values],
        text=[f"{v:.0%}" if unit == "%" else f"{v:.1f} s" for v in values.values()]))
    fig.update_layout(title=title, height=60 + 28 * len(values), margin=dict(l=10, r=10, t=40, b=10),
                      yaxis=dict(autorange="reversed"), xaxis_tickformat=".0%" if unit == "%" else None)
    return fig


def segments_table(timeline: Timeline, taxonomy: Optional[Taxonomy] = None):
    """The segments as a surgeon reads them (pandas DataFrame): start, end (m:ss), stage, task, then per
    tag its category and its confidence in words. Raw probabilities stay in the CSV / JSON exports."""
    import pandas as pd

    rows = _rows(timeline, taxonomy or HALSTED_TAXONOMY)
    name = of_timeline(timeline).label  # "extent (not reliable)" for a tag the model's card marks so
    records = []
    for s in sorted(timeline.segments, key=lambda s: (s.stage, s.start_s, s.task)):
        rec = {"start": clock_precise(s.start_s), "end": clock_precise(s.end_s), "stage": s.stage, "task": s.task}
        for tag in rows:
            rec[name(tag)] = s.tags.get(tag, "")
            rec[f"{name(tag)} confidence"] = confidence_word(s.scores.get(tag)) if tag in s.tags else ""
        records.append(rec)
    columns = ["start", "end", "stage", "task"] + [c for t in rows for c in (name(t), f"{name(t)} confidence")]
    return pd.DataFrame(records, columns=columns)
