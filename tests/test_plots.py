"""The shared figures (halsted_hf/plots.py): category colours stable across rows, pages and the overlay
video, a legend with each category once, gaps explained, labels that fit, empty charts as a sentence."""

from __future__ import annotations

import numpy as np

from halsted_hf.core.confidence import confidence_word
from halsted_hf.mapping.segment import Segment
from halsted_hf.mapping.timeline import Timeline
from halsted_hf.model.taxonomy import HALSTED_TAXONOMY
from halsted_hf.plots import (NOT_MAPPED, NOT_MAPPED_COLOUR, category_colour, category_rgb, share_figure,
                              timeline_figure)


def _timeline() -> Timeline:
    segs = [Segment(0, 30, 1, "macro-activity", {"procedure": "prostatectomy", "step": "suturing"}, {"step": 0.9}),
            Segment(30, 60, 1, "macro-activity", {"procedure": "prostatectomy", "step": "dissection"}, {"step": 0.6}),
            Segment(0, 10, 2, "proficiency", {"phase": "driving", "proficiency": "high"}, {"phase": 0.95}),
            Segment(10, 20, 2, "proficiency", {"phase": "withdrawal", "proficiency": "low"}, {"phase": 0.3}),
            Segment(30, 40, 2, "micro-activity", {"action": "cautery", "arm": "right", "instrument": "grasper"})]
    return Timeline({"id": "v", "duration_s": 60.0}, {"name": "m", "revision": "r"}, "full", segs)


def test_every_category_of_the_taxonomy_has_its_own_colour_the_same_on_every_call():
    cats = {c for tag in HALSTED_TAXONOMY.all_tags for c in HALSTED_TAXONOMY.task_of_tag(tag).tags[tag]}
    colours = {c: category_colour(c) for c in cats}
    assert len(set(colours.values())) == len(cats)
    assert all(category_colour(c) == colours[c] for c in cats)
    assert category_colour("not in any taxonomy") == category_colour("not in any taxonomy")


def test_one_colour_per_category_across_rows_and_each_category_once_in_the_legend():
    fig = timeline_figure(_timeline()).figure
    legend = [t.name for t in fig.data if t.showlegend]
    assert len(legend) == len(set(legend)) and {"cautery", "right", "driving", NOT_MAPPED} <= set(legend)
    for trace in fig.data:
        expected = NOT_MAPPED_COLOUR if trace.name == NOT_MAPPED else category_colour(trace.name)
        assert trace.marker.color == expected
    # two rows never share a colour (both were orange once)
    assert category_colour("cautery") != category_colour("right")


def test_rows_follow_the_taxonomy_and_gaps_say_not_mapped_at_this_stage():
    fig = timeline_figure(_timeline()).figure
    assert list(fig.layout.yaxis.categoryarray)[::-1] == ["procedure", "step", "action", "arm", "instrument",
                                                          "phase", "proficiency"]
    gaps = [t for t in fig.data if t.name == NOT_MAPPED and t.y[0] == "phase"]
    assert len(gaps) == 1 and list(gaps[0].base) == [20.0] and list(gaps[0].x) == [40.0]
    assert "only inside the steps" in gaps[0].hovertext[0]
    assert not [t for t in fig.data if t.name == NOT_MAPPED and t.y[0] == "step"]  # stage 1 covers it all


def test_labels_hide_when_they_do_not_fit_and_hover_has_the_text_in_words():
    fig = timeline_figure(_timeline()).figure
    assert fig.layout.uniformtext.mode == "hide" and fig.layout.uniformtext.minsize >= 8
    phase = [t for t in fig.data if t.name == "withdrawal"][0]
    assert "phase: withdrawal" in phase.hovertext[0] and "confidence: low" in phase.hovertext[0]
    assert "0.3" not in phase.hovertext[0]  # raw numbers only in the exports


def test_a_click_fades_nothing_and_maps_back_to_the_segment_start():
    tf = timeline_figure(_timeline())
    assert all(t.unselected.marker.opacity == 1 and t.selected.marker.opacity == 1 for t in tf.figure.data)
    i = next(i for i, t in enumerate(tf.figure.data) if t.name == "dissection")
    assert tf.start_of({"curve_number": i, "point_index": 0}) == 30.0
    assert tf.start_of({"curve_number": 99, "point_index": 0}) is None


def test_an_empty_share_chart_is_none_so_the_page_writes_a_sentence():
    assert share_figure({"handling": 0.0, "driving": 0.0}, "Time per phase", "s") is None
    fig = share_figure({"driving": 3.0, "handling": 0.0}, "Time per phase", "s")
    assert list(fig.data[0].y) == ["driving"] and fig.data[0].marker.color[0] == category_colour("driving")


def test_confidence_words():
    assert [confidence_word(p) for p in (0.2, 0.5, 0.79, 0.8, None, float("nan"))] == \
        ["low", "medium", "medium", "high", "unknown", "unknown"]


def test_the_overlay_draws_each_category_in_its_timeline_colour():
    from halsted_hf.mapping.overlay import _Band

    band = _Band(640, 360)
    frame = np.zeros((360, 640, 3), np.uint8)
    out = band.draw(frame.copy(), {"step": "suturing", "phase": "driving"})
    pixels = {tuple(int(v) for v in p) for p in out[-band.h:].reshape(-1, 3)}
    for cat in ("suturing", "driving"):
        r, g, b = category_rgb(cat)
        assert any(abs(p[0] - r) <= 2 and abs(p[1] - g) <= 2 and abs(p[2] - b) <= 2 for p in pixels), cat


def test_the_segments_table_shows_words_not_raw_scores():
    from halsted_hf.plots import segments_table

    table = segments_table(_timeline())
    row = table[table["phase"] == "withdrawal"].iloc[0]
    assert row["start"] == "0:10.0" and row["phase confidence"] == "low"
    assert not any(str(c).endswith("_score") for c in table.columns)



def test_a_gap_where_the_task_answered_without_the_tag_says_so():
    """A clip may carry only some of its task's tags: where the proficiency task mapped a stretch with a phase and
    no proficiency, the proficiency row's grey bar says the model gave no answer there, not "not mapped"."""
    tl = _timeline()
    tl.segments.append(Segment(20, 25, 2, "proficiency", {"phase": "needle handling"}, {"phase": 0.7}))
    fig = timeline_figure(tl).figure
    [gaps] = [t for t in fig.data if t.name == NOT_MAPPED and t.y[0] == "proficiency"]
    by_start = dict(zip(gaps.base, gaps.hovertext))
    assert set(by_start) == {20.0, 25.0}
    assert "no proficiency answer" in by_start[20.0] and "phase" in by_start[20.0]
    assert "only inside the steps" in by_start[25.0]  # after it: nothing of the task mapped there
