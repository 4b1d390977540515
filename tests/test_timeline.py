"""Timeline: JSON round trip, merge rules, tiling, exports (CSV, DataFrame, WebVTT) and the dashboard's
summaries on a hand-made timeline whose answers are worked out by hand in the comments."""

import csv
import io
import json
import os
import random
import re

import pandas as pd
import pytest

from halsted_hf.core.errors import HalstedError
from halsted_hf.mapping.merging import merge_windows
from halsted_hf.mapping.segment import Segment
from halsted_hf.mapping.timeline import Timeline

URO = {"specialty": "urology", "procedure": "prostatectomy"}


def w(a, b, stage, task, tags, scores=None):
    return (a, b, stage, task, tags, scores if scores is not None else {t: 0.9 for t in tags})


def hand_timeline():
    """120 s of video. Stage 1: 0-60 dissection, 60-90 suturing (prostatectomy), 90-120 suturing but
    called hysterectomy. Stage 2: micro-activity in 0-50 only; proficiency and context in 60-120."""
    windows = [
        w(0, 30, 1, "macro-activity", {**URO, "step": "dissection"}, {"procedure": 0.9, "step": 0.95}),
        w(30, 60, 1, "macro-activity", {**URO, "step": "dissection"}, {"procedure": 0.7, "step": 0.95}),
        w(60, 90, 1, "macro-activity", {**URO, "step": "suturing"}, {"procedure": 0.8, "step": 0.99}),
        w(90, 120, 1, "macro-activity", {"specialty": "urology", "procedure": "hysterectomy", "step": "suturing"},
          {"procedure": 0.4, "step": 0.99}),
        w(0, 10, 2, "micro-activity", {"action": "retraction", "arm": "left", "instrument": "grasper"}),
        w(10, 20, 2, "micro-activity", {"action": "retraction", "arm": "left", "instrument": "grasper"}),
        w(20, 45, 2, "micro-activity", {"action": "cautery", "arm": "right", "instrument": "cautery hook"}),
        w(45, 50, 2, "micro-activity", {"action": "retraction", "arm": "left"}),
    ]
    phases = [  # (start, phase, proficiency or None), 5 s windows; 110-120 is one 10 s window
        (60, "needle handling", "high"), (65, "driving", "high"), (70, "driving", "low"), (75, "withdrawal", "high"),
        (80, "needle handling", "low"), (85, "driving", "low"), (90, "withdrawal", "low"), (95, "driving", "high"),
        (100, "driving", "high"), (105, "withdrawal", "high"),
    ]
    for a, phase, prof in phases:
        windows.append(w(a, a + 5, 2, "proficiency", {"phase": phase, "proficiency": prof},
                         {"phase": 0.9, "proficiency": 0.82}))
    windows.append(w(110, 120, 2, "proficiency", {"phase": "needle handling"}, {"phase": 0.6}))
    ctx = [(65, 75, "urethra", "single", "in"), (85, 90, "bladder", "double", "out"),
           (95, 100, "urethra", "single", "in"), (100, 105, "urethra", "single", "in")]
    for a, b, anatomy, extent, direction in ctx:
        windows.append(w(a, b, 2, "context", {"anatomy": anatomy, "extent": extent, "direction": direction}))
    return Timeline(video={"id": "vid-1", "duration_s": 120.0, "fps": 30.0},
                    model={"name": "halsted-demo", "revision": "abc123"}, workflow="full",
                    segments=merge_windows(windows))


# ---- merge rules ----------------------------------------------------------------------------------------
def test_adjacent_identical_windows_merge_with_duration_weighted_scores():
    segs = merge_windows([w(0, 30, 1, "macro-activity", {"step": "suturing"}, {"step": 0.9}),
                          w(30, 40, 1, "macro-activity", {"step": "suturing"}, {"step": 0.5})])
    # one segment 0-40; score (0.9*30 + 0.5*10) / 40 = 32/40 = 0.8
    assert len(segs) == 1
    assert (segs[0].start_s, segs[0].end_s) == (0, 40)
    assert segs[0].scores["step"] == pytest.approx(0.8)


def test_different_tags_gaps_and_tasks_do_not_merge():
    segs = merge_windows([
        w(0, 5, 2, "proficiency", {"phase": "driving"}),
        w(5, 10, 2, "proficiency", {"phase": "driving", "proficiency": "low"}),  # tags differ
        w(12, 15, 2, "proficiency", {"phase": "driving", "proficiency": "low"}),  # 2 s gap
        w(0, 10, 2, "context", {"anatomy": "urethra"}),                           # other task, same time
        w(10, 15, 1, "macro-activity", {"step": "suturing"}),
    ])
    spans = [(s.stage, s.task, s.start_s, s.end_s) for s in segs]
    assert spans == [(1, "macro-activity", 10, 15), (2, "context", 0, 10), (2, "proficiency", 0, 5),
                     (2, "proficiency", 5, 10), (2, "proficiency", 12, 15)]


def test_float_drift_still_touches_and_order_does_not_matter():
    step = 2.5
    ws = [w(i * step, (i + 1) * step + 1e-9 * (i % 2), 2, "proficiency", {"phase": "driving"}) for i in range(40)]
    random.Random(0).shuffle(ws)
    segs = merge_windows(ws)
    assert len(segs) == 1 and segs[0].start_s == 0 and segs[0].end_s == pytest.approx(100)


def test_overlapping_windows_are_refused():
    with pytest.raises(ValueError, match="overlap"):
        merge_windows([w(0, 5, 2, "proficiency", {"phase": "driving"}),
                       w(4, 8, 2, "proficiency", {"phase": "driving"})])


@pytest.mark.parametrize("seed", range(5))
def test_merged_segments_tile_the_windows_maximally(seed):
    rng = random.Random(seed)
    t, ws = 0.0, []
    while t < 200:
        d = rng.choice([2.0, 2.5, 3.0, 5.0])
        ws.append(w(t, t + d, 2, "proficiency", {"phase": rng.choice(["driving", "withdrawal"])},
                    {"phase": rng.random()}))
        t += d
    segs = merge_windows(ws)
    assert segs[0].start_s == 0 and segs[-1].end_s == pytest.approx(t)
    for a, b in zip(segs, segs[1:]):
        assert b.start_s == a.end_s            # no gap, no overlap
        assert a.tags != b.tags                # maximal: neighbours differ
    for (a, b, _, _, tags, _) in ws:           # each window lies in one segment with its tags
        [seg] = [s for s in segs if s.start_s <= a and b <= s.end_s]
        assert seg.tags == tags
    Timeline({"id": "x"}, {}, "suturing", segs).validate()


# ---- JSON -----------------------------------------------------------------------------------------------
def test_json_round_trip_keeps_everything(tmp_path):
    tl = hand_timeline()
    tl.decoded_until_s = 118.2
    tl.warnings = ["video truncated at 118.2 s; mapped what decodes"]
    tl.extra = {"created": "2025-01-01T00:00:00Z"}
    data = json.loads(tl.to_json())
    assert list(data)[:4] == ["video", "model", "workflow", "segments"]
    assert set(data["segments"][0]) == {"start_s", "end_s", "stage", "task", "tags", "scores"}
    assert data["decoded_until_s"] == 118.2 and data["created"] == "2025-01-01T00:00:00Z"
    assert Timeline.from_json(tl.to_json()) == tl
    path = tmp_path / "out" / "timeline.json"
    assert tl.save(str(path)) == str(path)
    assert Timeline.load(str(path)) == tl
    assert os.listdir(path.parent) == ["timeline.json"]  # the temp file was renamed, nothing left over


def test_design_md_example_loads():
    text = """{"video": {"id": "...", "duration_s": 3600.0, "fps": 30.0},
     "model": {"name": "...", "revision": "..."}, "workflow": "suturing",
     "segments": [{"start_s": 0.0, "end_s": 30.0, "stage": 1, "task": "macro-activity",
                   "tags": {"procedure": "prostatectomy", "step": "suturing"},
                   "scores": {"procedure": 0.93, "step": 0.99}}]}"""
    tl = Timeline.from_json(text)
    assert tl.segments == [Segment(0.0, 30.0, 1, "macro-activity", {"procedure": "prostatectomy", "step": "suturing"},
                                   {"procedure": 0.93, "step": 0.99})]
    assert json.loads(tl.to_json()) == json.loads(text)


@pytest.mark.parametrize("text, message", [
    ("not json", "invalid JSON"),
    ('{"video": {}, "model": {}}', "missing"),
    ('{"video": {}, "model": {}, "workflow": "x", "segments": [{"start_s": 0}]}', "segment 0 has no"),
    ('{"video": {}, "model": {}, "workflow": "x", "segments": [{"start_s": 5, "end_s": 1, "stage": 1, "task": "t"}]}',
     "end_s must be"),
    ('{"video": {}, "model": {}, "workflow": "x", "segments": [{"start_s": 0, "end_s": 1, "stage": 3, "task": "t"}]}',
     "stages are 1 and 2"),
])
def test_bad_json_gets_a_clear_error(text, message):
    with pytest.raises(HalstedError, match=message):
        Timeline.from_json(text)


def test_load_missing_file_is_a_user_error(tmp_path):
    with pytest.raises(HalstedError, match="does not exist"):
        Timeline.load(str(tmp_path / "nope.json"))


# ---- exports --------------------------------------------------------------------------------------------
def test_dataframe_and_csv_columns():
    tl = hand_timeline()
    df = tl.to_dataframe()
    tags = ["specialty", "procedure", "step", "action", "arm", "instrument", "phase", "proficiency",
            "anatomy", "extent", "direction"]  # taxonomy order
    expected = (["video_id", "start_s", "end_s", "duration_s", "stage", "task"]
                + [c for t in tags for c in (t, f"{t}_score")])
    assert list(df.columns) == expected
    assert len(df) == len(tl.segments)
    assert (df["duration_s"] == df["end_s"] - df["start_s"]).all()
    assert df["video_id"].unique().tolist() == ["vid-1"]
    # the needle handling window without a proficiency tag
    last = df[(df.task == "proficiency") & (df.start_s == 110)].iloc[0]
    assert last["phase"] == "needle handling"
    assert pd.isna(last["proficiency"]) and pd.isna(last["proficiency_score"])
    assert df["phase_score"].dtype == float

    text = tl.to_csv()
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == expected and len(rows) == len(tl.segments) + 1
    assert rows[1][:6] == ["vid-1", "0.0", "60.0", "60.0", "1", "macro-activity"]


def test_csv_and_vtt_write_files(tmp_path):
    tl = hand_timeline()
    tl.to_csv(str(tmp_path / "t.csv"))
    tl.to_webvtt(str(tmp_path / "t.vtt"))
    assert (tmp_path / "t.csv").read_text() == tl.to_csv()
    assert (tmp_path / "t.vtt").read_text() == tl.to_webvtt()
    assert sorted(os.listdir(tmp_path)) == ["t.csv", "t.vtt"]


VTT_TIME = r"(\d{2}):(\d{2}):(\d{2})\.(\d{3})"


def parse_vtt(text):
    lines = text.split("\n")
    assert lines[0] == "WEBVTT" and lines[1] == ""
    cues = []
    for block in "\n".join(lines[2:]).strip().split("\n\n"):
        ident, timing, *payload = block.split("\n")
        m = re.fullmatch(f"{VTT_TIME} --> {VTT_TIME}", timing)
        assert m, timing
        g = [int(x) for x in m.groups()]
        a = g[0] * 3600 + g[1] * 60 + g[2] + g[3] / 1000
        b = g[4] * 3600 + g[5] * 60 + g[6] + g[7] / 1000
        assert payload and "-->" not in "\n".join(payload)
        cues.append((int(ident), a, b, "\n".join(payload)))
    return cues


def test_webvtt_is_valid_and_uses_stage1_only_where_stage2_is_absent():
    cues = parse_vtt(hand_timeline().to_webvtt())
    assert [c[0] for c in cues] == list(range(1, len(cues) + 1))
    starts = [c[1] for c in cues]
    assert starts == sorted(starts)
    assert all(b > a for _, a, b, _ in cues)
    # stage 2 covers 0-50 (micro) and 60-120 (proficiency): the only stage-1 cue is 50-60, dissection,
    # and its score is the weakest of procedure 0.8 = (0.9*30 + 0.7*30)/60 and step 0.95
    stage1 = [c for c in cues if "prostatectomy" in c[3]]
    assert stage1 == [(stage1[0][0], 50.0, 60.0, "urology · prostatectomy · dissection (high confidence)")]
    assert (60.0, 65.0, "needle handling · high (high confidence)") in [c[1:] for c in cues]
    assert (110.0, 120.0, "needle handling (medium confidence)") in [c[1:] for c in cues]
    # one cue per stage-2 segment
    assert len(cues) == 1 + sum(s.stage == 2 for s in hand_timeline().segments)


def test_webvtt_timestamps_past_an_hour():
    tl = Timeline({"id": "long", "duration_s": 4000}, {}, "procedure",
                  [Segment(3725.5, 3755.5, 1, "macro-activity", {"step": "suturing"}, {})])
    assert "01:02:05.500 --> 01:02:35.500\nsuturing" in tl.to_webvtt()


# ---- summaries ------------------------------------------------------------------------------------------
def test_suturing_summary_hand_computed():
    s = hand_timeline().suturing_summary()
    # driving runs: 65-75 (high 5 s, low 5 s: tie -> low), 85-90 (low), 95-105 (high) -> 3 stitches, 1 high
    assert s["stitches"] == 3
    assert [(st["start_s"], st["end_s"], st["proficiency"]) for st in s["stitch_list"]] == \
        [(65, 75, "low"), (85, 90, "low"), (95, 105, "high")]
    assert s["high_proficiency_stitches"] == 1 and s["high_proficiency_share"] == pytest.approx(1 / 3)
    # handling 60-65, 80-85, 110-120 = 20; driving 65-75, 85-90, 95-105 = 25; withdrawal 75-80, 90-95, 105-110 = 15
    assert s["phase_time_s"] == {"needle handling": 20, "driving": 25, "withdrawal": 15}
    assert s["suturing_time_s"] == 60
    # context: urethra 65-75 + 95-105 = 20 s, 2 stitches; bladder 85-90 = 5 s, 1 stitch
    assert s["anatomy"] == {"urethra": {"time_s": 20, "stitches": 2}, "bladder": {"time_s": 5, "stitches": 1}}
    assert s["extent"] == {"single": {"time_s": 20, "stitches": 2}, "double": {"time_s": 5, "stitches": 1}}
    assert s["direction"] == {"in": {"time_s": 20, "stitches": 2}, "out": {"time_s": 5, "stitches": 1}}


def test_dissection_summary_hand_computed():
    d = hand_timeline().dissection_summary()
    # retraction 0-20 + 45-50 = 25 s, cautery 20-45 = 25 s; instruments over the 45 s that carry one:
    # grasper 20, cautery hook 25; arms left 25, right 25
    assert d["dissection_time_s"] == 50
    assert d["time_s"]["action"] == {"cautery": 25, "retraction": 25}
    assert d["share"]["action"] == {"cautery": 0.5, "retraction": 0.5}
    assert d["share"]["instrument"] == pytest.approx({"cautery hook": 25 / 45, "grasper": 20 / 45})
    assert d["share"]["arm"] == {"left": 0.5, "right": 0.5}


def test_procedure_summary_hand_computed():
    p = hand_timeline().procedure_summary()
    # prostatectomy 0-90 = 90 s beats hysterectomy 30 s -> share 0.75; score (0.8*60 + 0.8*30)/90 = 0.8
    assert p["procedure"] == "prostatectomy" and p["specialty"] == "urology"
    assert p["procedure_share"] == pytest.approx(0.75)
    assert p["procedure_score"] == pytest.approx(0.8)
    assert p["step_time_s"] == {"suturing": 60, "dissection": 60}
    assert p["mapped_s"] == 120 and p["duration_s"] == 120


def test_specialty_falls_back_to_the_taxonomy_and_empty_timelines_summarise():
    tl = Timeline({"id": "v"}, {}, "procedure", [Segment(0, 30, 1, "macro-activity", {"procedure": "myomectomy"}, {})])
    assert tl.procedure_summary()["specialty"] == "gynecology"
    empty = Timeline({"id": "e", "duration_s": 10}, {}, "suturing", [])
    assert empty.suturing_summary()["stitches"] == 0 and empty.suturing_summary()["high_proficiency_share"] is None
    assert empty.dissection_summary()["share"]["action"] == {}
    assert empty.procedure_summary()["procedure"] is None
    assert empty.to_webvtt() == "WEBVTT\n"
    assert list(empty.to_dataframe().columns) == ["video_id", "start_s", "end_s", "duration_s", "stage", "task"]


def test_tags_at_prefers_fine_tags():
    tl = hand_timeline()
    assert tl.tags_at(66) == {**URO, "step": "suturing", "phase": "driving", "proficiency": "high",
                              "anatomy": "urethra", "extent": "single", "direction": "in"}
    assert tl.tags_at(55) == {**URO, "step": "dissection"}


def test_one_window_of_another_phase_in_mid_drive_is_one_stitch():
    """A needle drive that one 2.5-s window reads as needle handling is still one stitch (it was two); a real
    cycle between two drives (withdrawal, then needle handling) still separates two stitches."""
    from helpers import seg

    from halsted_hf.mapping.summaries import stitches
    from halsted_hf.mapping.timeline import Timeline

    def timeline(phases):
        t, segments = 0.0, []
        for phase, length in phases:
            segments.append(seg(t, t + length, 2, "proficiency", {"phase": phase, "proficiency": "high"}))
            t += length
        return Timeline(video={"id": "v", "duration_s": t, "fps": 8.0}, model={"name": "hand", "revision": "0"},
                        workflow="suturing", segments=segments)

    interrupted = timeline([("needle handling", 5), ("driving", 5), ("needle handling", 2.5), ("driving", 2.5),
                            ("withdrawal", 5)])
    assert [(s["start_s"], s["end_s"]) for s in stitches(interrupted)] == [(5.0, 15.0)]
    two = timeline([("driving", 5), ("withdrawal", 2.5), ("needle handling", 2.5), ("driving", 5)])
    assert len(stitches(two)) == 2
    long_pause = timeline([("driving", 5), ("needle handling", 5), ("driving", 5)])
    assert len(stitches(long_pause)) == 2
