"""Training and evaluation clips are the mapping workflow's fixed windows: same lengths as `halsted map`,
inside their ground-truth segments, and a clip's duration no longer tells its label."""

from __future__ import annotations

import json

import numpy as np

from halsted_hf.data.atlas import make_row, tags_of, to_frame
from halsted_hf.data.windows import mapping_windows, merge_segments, segment_windows, window_lengths


def _auroc(y, s) -> float:
    """Mann-Whitney AUROC (ties count half): how well the score `s` separates y=1 from y=0."""
    y, s = np.asarray(y, bool), np.asarray(s, float)
    pos, neg = s[y], s[~y]
    return float(((pos[:, None] > neg[None]).sum() + 0.5 * (pos[:, None] == neg[None]).sum()) / (len(pos) * len(neg)))


def test_window_lengths_are_the_mapping_workflows():
    from halsted_hf.data.loaders.cholect50 import cholect50_taxonomy
    from halsted_hf.mapping.workflow import plan_stage1
    from halsted_hf.model.taxonomy import HALSTED_TAXONOMY

    lengths = window_lengths()
    full = HALSTED_TAXONOMY.plan("full")
    assert set(lengths) == {"macro-activity", "micro-activity", "proficiency", "context"} == set(full.tasks)
    assert lengths["macro-activity"] == plan_stage1(100.0)[0][1] == 30.0  # the stage-1 window `halsted map` uses
    assert all(lengths[t] == full.stage2_window_s == 2.5 for t in lengths if t != "macro-activity")
    assert window_lengths(cholect50_taxonomy()) == {"phase": 16.0, "action-triplet": 16.0}  # its own plans


def test_segment_window_rules():
    # a long segment: windows inside it every half window (1.25 s), centred: 4 windows span 6.25 of 7 s
    assert segment_windows(10.0, 17.0, 2.5, 100.0) == [(10.375, 12.875), (11.625, 14.125), (12.875, 15.375),
                                                        (14.125, 16.625)]
    assert segment_windows(10.0, 12.5, 2.5, 100.0) == [(10.0, 12.5)]
    # a short segment: one window centred on it, moved (not shortened) to stay inside the annotated video
    assert segment_windows(10.0, 11.0, 2.5, 100.0) == [(9.25, 11.75)]
    assert segment_windows(0.0, 1.0, 2.5, 100.0) == [(0.0, 2.5)]
    assert segment_windows(99.0, 100.0, 2.5, 100.0) == [(97.5, 100.0)]
    # a video annotated over less than one window: the whole span, as mapping maps a short video
    assert segment_windows(2.0, 5.0, 30.0, 20.0) == [(0.0, 20.0)]


def test_rows_tiling_a_segment_merge_and_short_segments_keep_their_labels():
    rows = [make_row("v", "v.mp4", s, s + 5, "macro-activity", "map procedure type",
                     {"procedure": "prostatectomy", "step": "dissection"}) for s in range(0, 60, 5)]
    rows += [make_row("v", "v.mp4", 60, 100, "macro-activity", "map procedure type",
                      {"procedure": "prostatectomy", "step": "suturing"})]
    rows += [make_row("v", "v.mp4", 61, 62, "map suturing activity", "map suturing activity",
                      {"phase": "driving", "proficiency": "high"})]  # a task named by its instruction
    df = to_frame(rows)
    merged = merge_segments(df[df.task == "macro-activity"])
    assert [(r.start_s, r.end_s) for r in merged.itertuples()] == [(0, 60), (60, 100)]
    w = mapping_windows(df)
    macro = w[w.task == "macro-activity"]
    assert [(r.start_s, r.end_s, tags_of(r.tags)["step"]) for r in macro.itertuples()] == [
        (0, 30, "dissection"), (15, 45, "dissection"), (30, 60, "dissection"), (65, 95, "suturing")]
    fine = w[w.task != "macro-activity"]
    assert [(r.start_s, r.end_s) for r in fine.itertuples()] == [(60.25, 62.75)]
    assert tags_of(fine.iloc[0].tags) == {"phase": "driving", "proficiency": "high"}
    # tasks the workflow does not map (other taxonomies) are left as they are
    other = to_frame([make_row("c", "c", 0, 16, "phase", "map phase", {"phase": "preparation"})])
    assert mapping_windows(other)[["start_s", "end_s"]].values.tolist() == [[0, 16]]


def test_clip_duration_no_longer_predicts_any_tag_on_the_synthetic_atlas():
    from halsted_hf.data.synthetic import plan_atlas

    scripts = plan_atlas(12, 2, seed=0)
    raw = to_frame([r for s in scripts for r in s.atlas_rows(f"videos/{s.video_id}.mp4")])
    clips = mapping_windows(raw)

    def duration_auroc(df, tag, category):
        rows = df[[tag in tags_of(t) for t in df.tags]]
        y = [tags_of(t)[tag] == category for t in rows.tags]
        return _auroc(y, rows.end_s - rows.start_s)

    # the leak the windows remove: on whole segments, duration alone tells low from high proficiency
    assert abs(duration_auroc(raw, "proficiency", "low") - 0.5) > 0.4
    lengths = window_lengths()
    for task, g in clips.groupby("task"):  # one duration per task: it cannot predict any tag
        assert np.allclose(g.end_s - g.start_s, lengths[task]), task
    for tag, category in [("proficiency", "low"), ("phase", "driving"), ("step", "suturing"),
                          ("action", "retraction")]:
        assert duration_auroc(clips, tag, category) == 0.5
    # every window lies in its video, and windows of long segments inside a segment with exactly their labels
    segments = [(s.video_id, iv.task, iv.start / s.fps, iv.end / s.fps, iv.tags) for s in scripts for iv in
                s.fine_intervals()] + [(s.video_id, "macro-activity", st.start / s.fps, st.end / s.fps,
                                        {"specialty": st.specialty, "procedure": st.procedure, "step": st.step})
                                       for s in scripts for st in s.steps]
    duration = {s.video_id: s.duration_s for s in scripts}
    inside = 0
    for r in clips.itertuples():
        assert 0 <= r.start_s and r.end_s <= duration[r.video_id] + 1e-6
        tags = tags_of(r.tags)
        mine = [(a, b) for v, t, a, b, tg in segments if v == r.video_id and t == r.task and tg == tags]
        assert any(a - 1e-6 <= r.start_s and r.end_s <= b + 1e-6 or  # inside its segment, or centred on it
                   (r.start_s - 1e-6 <= a and b <= r.end_s + 1e-6) for a, b in mine), r
        inside += any(a - 1e-6 <= r.start_s and r.end_s <= b + 1e-6 for a, b in mine)
    assert inside > 0.5 * len(clips)
    assert set(json.dumps(tags_of(t), sort_keys=True) for t in raw.tags) == \
        set(json.dumps(tags_of(t), sort_keys=True) for t in clips.tags)  # no label is lost
