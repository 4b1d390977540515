"""The reliability record of a model folder (halsted_hf/mapping/reliability.py): read, carried into the Timeline
by every way of mapping (CLI, the dashboard's worker backend, the Space), and marked in every export (CSV, JSON,
subtitles, the overlay video). The pages are in tests/test_app_trust.py."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from apptest import full_timeline
from helpers import RELIABILITY_RECORD as RECORD, make_video, run_cli

from halsted_hf.core.errors import CheckpointError
from halsted_hf.mapping import reliability
from halsted_hf.mapping.timeline import Timeline

UNRELIABLE = tuple(t for t, e in RECORD["tags"].items() if not e["reliable"])


def stamped_timeline(model_dir: str) -> Timeline:
    """A hand-made full timeline (2 stitches, dissection) with the model folder's record, as mapping stamps it."""
    return reliability.stamp(full_timeline(), reliability.load(model_dir))


# -- the record ------------------------------------------------------------------------------------
def test_the_record_says_which_tags_are_reliable_and_why(unreliable_model, tiny_model_dir):
    rel = reliability.load(unreliable_model)
    assert rel.recorded and rel.unreliable == UNRELIABLE and rel.videos == 12
    assert rel.is_reliable("phase") and not rel.is_reliable("extent")
    assert rel.reason("extent") == RECORD["tags"]["extent"]["reason"]
    assert rel.label("extent") == "extent (not reliable)" and rel.label("phase") == "phase"
    assert rel.is_reliable("anatomy") and rel.reason("anatomy") == "no reliability record for anatomy"
    # a folder without the file: every tag counts as reliable and nothing claims it
    none = reliability.load(tiny_model_dir)
    assert not none.recorded and none.unreliable == () and none.is_reliable("extent")
    assert none.reason("extent") == reliability.NO_RECORD


@pytest.mark.parametrize("text, message", [
    ("{not json", "cannot be read"),
    ('{"tags": []}', "is not a reliability record"),
    ('{"tags": {"extent": {"reliable": "no"}}}', '"reliable" must be true or false for extent'),
])
def test_a_broken_record_is_one_line_naming_the_file(tmp_path, text, message):
    (tmp_path / reliability.RELIABILITY_FILE).write_text(text)
    with pytest.raises(CheckpointError, match=message) as err:
        reliability.load(str(tmp_path))
    assert str(tmp_path) in str(err.value) and "\n" not in str(err.value)


def test_the_timeline_carries_the_record_and_reads_without_it(unreliable_model, tmp_path):
    tl = stamped_timeline(unreliable_model)
    (tmp_path / reliability.RELIABILITY_FILE).write_text(json.dumps({**RECORD, "seed": 80, "date": "2026-12-07"}))
    assert reliability.load(str(tmp_path)).to_dict() == {**RECORD, "seed": 80, "date": "2026-12-07"}  # kept whole
    back = Timeline.from_json(tl.to_json())
    assert json.loads(tl.to_json())["reliability"]["tags"]["extent"]["reliable"] is False
    assert reliability.of_timeline(back).unreliable == UNRELIABLE
    old = Timeline.from_json(full_timeline().to_json())  # a Timeline from before records: no field, nothing marked
    assert "reliability" not in json.loads(old.to_json()) and reliability.of_timeline(old) is reliability.NONE
    damaged = json.loads(tl.to_json())
    damaged["reliability"] = {"tags": "everything"}
    assert reliability.of_timeline(Timeline.from_dict(damaged)).unreliable == ()  # still loads


# -- exports ---------------------------------------------------------------------------------------
def test_csv_json_and_subtitles_mark_the_unreliable_tags(unreliable_model):
    tl = stamped_timeline(unreliable_model)
    rows = list(csv.DictReader(io.StringIO(tl.to_csv())))
    driving = [r for r in rows if r["phase"] == "driving"]
    assert len(driving) == 2 and all(r["not_reliable"] == "proficiency" for r in driving)
    assert all(r["not_reliable"] == "procedure" for r in rows if r["stage"] == "1")
    assert all(r["not_reliable"] == "instrument" for r in rows if r["action"])
    assert all(r["not_reliable"] == "" for r in rows if r["phase"] in ("needle handling", "withdrawal"))
    assert "not_reliable" not in full_timeline().to_csv().splitlines()[0]  # no record, no column
    df = tl.to_dataframe()
    assert df["proficiency_score"].dtype == float and list(df["not_reliable"]) == [r["not_reliable"] for r in rows]
    vtt = tl.to_webvtt()
    assert "driving · high (not reliable)" in vtt
    assert "cut · right · monopolar curved scissors (not reliable) (high confidence)" in vtt
    assert "needle handling (high confidence)" in vtt  # a reliable tag reads as before


def test_the_overlay_labels_unreliable_tags_on_the_video(unreliable_model, tmp_path):
    import av

    from halsted_hf.mapping.overlay import overlay_lines, render_overlay

    tl = stamped_timeline(unreliable_model)
    rel = reliability.of_timeline(tl)
    coarse, fine = overlay_lines(tl.tags_at(0.4), rel)
    assert fine == "phase: driving · proficiency (not reliable): high"
    assert coarse.startswith("urology · procedure (not reliable): prostatectomy")
    video = make_video(tmp_path / "v.mp4", 3.0, size="320x240")
    plain = full_timeline()
    for name, timeline in (("marked.mp4", tl), ("plain.mp4", plain)):
        render_overlay(str(video), timeline, str(tmp_path / name), force=True)

    def frame(name, index=4):  # 0.4 s: a driving segment with its proficiency
        with av.open(str(tmp_path / name)) as c:
            for i, f in enumerate(c.decode(video=0)):
                if i == index:
                    return f.to_ndarray(format="rgb24").astype(int)

    marked, unmarked = frame("marked.mp4"), frame("plain.mp4")
    band = 240 - int(max(10, 240 // 22) * 2.9)
    assert np.abs(marked[band:] - unmarked[band:]).mean() > 1.0  # the band's text differs
    assert np.abs(marked[: band - 8] - unmarked[: band - 8]).mean() < 1.0  # the picture above it does not


# -- every way of mapping carries it ---------------------------------------------------------------
def test_halsted_map_writes_the_record_into_json_and_csv(unreliable_model, tmp_path):
    video = make_video(tmp_path / "case.mp4", 3.0)
    out, table = tmp_path / "t.json", tmp_path / "t.csv"
    proc = run_cli("map", str(video), "--mapping", "full", "--model", unreliable_model, "--out", str(out),
                   "--csv", str(table), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(out.read_text())["reliability"] == json.loads(json.dumps(RECORD))  # the file's object, whole
    assert table.read_text().splitlines()[0].endswith(",not_reliable")
    assert "not reliable on this model's held-out videos: proficiency, extent, procedure, instrument" in proc.stderr


def test_halsted_map_refuses_a_broken_record_before_mapping(unreliable_model, tmp_path):
    broken = tmp_path / "broken-model"
    shutil.copytree(unreliable_model, broken)
    (broken / reliability.RELIABILITY_FILE).write_text("{")
    video = make_video(tmp_path / "case.mp4", 3.0)
    proc = run_cli("map", str(video), "--model", str(broken), "--out", str(tmp_path / "t.json"), "--no-progress")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "reliability.json cannot be read" in proc.stderr and not (tmp_path / "t.json").exists()


def test_the_dashboards_worker_backend_stamps_what_it_maps(unreliable_model, tmp_path):
    from halsted_hf.platform.inference import LocalBackend

    video = make_video(tmp_path / "case.mp4", 3.0)
    timeline = LocalBackend(unreliable_model).map_video(str(video), "suturing")
    assert reliability.of_timeline(Timeline.from_json(timeline.to_json())).unreliable == UNRELIABLE


def test_the_space_names_the_unreliable_tags_with_reasons(unreliable_model, tmp_path, monkeypatch):
    import importlib.util

    monkeypatch.setenv("HALSTED_MODEL", unreliable_model)
    spec = importlib.util.spec_from_file_location("halsted_space_app", Path(__file__).parents[1] / "space" / "app.py")
    app = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app)
    video = make_video(tmp_path / "case.mp4", 3.0)
    _fig, _table, _video, json_path, text = app.map_and_show(str(video), "full")
    assert "Not reliable** on this model's held-out videos" in text
    for tag in UNRELIABLE:
        assert f"**{tag}**: {RECORD['tags'][tag]['reason']}" in text
    assert reliability.of_timeline(Timeline.load(json_path)).unreliable == UNRELIABLE
    # out of distribution: the whole video flagged is labelled so; a flagged stretch alone is a warning only
    far = full_timeline()
    far.ood = {"flagged": True, "stretches": [{"start_s": 0.0, "end_s": 3.0, "score": 9.0}]}
    assert app.ood_banner(far).startswith("> **Warning:** Out of distribution. This video does not look like")
    far.ood["flagged"] = False
    assert "Out of distribution" not in app.ood_banner(far) and "Parts of this video" in app.ood_banner(far)
    # the Space's table and figure (halsted_hf/plots.py) mark the rows of unreliable tags
    from halsted_hf.plots import segments_table, timeline_figure

    tl = stamped_timeline(unreliable_model)
    table = segments_table(tl)
    assert "proficiency (not reliable)" in table.columns and "proficiency" not in table.columns
    assert "phase" in table.columns
    fig = timeline_figure(tl).figure
    labels = dict(zip(fig.layout.yaxis.tickvals, fig.layout.yaxis.ticktext))
    assert labels["proficiency"] == "proficiency (not reliable)"
    assert labels["instrument"] == "instrument (not reliable)"
    assert labels["phase"] == "phase" and labels["action"] == "action"
    high = next(t for t in fig.data if t.y and t.y[0] == "proficiency" and t.name == "high")
    assert all(RECORD["tags"]["proficiency"]["reason"] in h for h in high.hovertext)  # the reason, on hover


def test_headline_numbers_rest_only_on_reliable_tags(unreliable_model):
    from halsted_hf.mapping.headline import MIXED, headline, procedure_header, procedure_label

    plain = headline(full_timeline())  # no record: everything counts
    assert (plain.stitches, plain.rated, plain.high, plain.procedure, plain.left_out) == (2, 2, 1, "prostatectomy", {})
    marked = headline(stamped_timeline(unreliable_model))
    assert marked.stitches == 2 and marked.rated is None and marked.high_share is None and marked.procedure is None
    assert marked.left_out == {"high_share": ("proficiency",), "procedure": ("procedure",)}
    split = {"procedure": "gastric bypass", "procedure_share": 0.4}
    assert procedure_label(split) == MIXED and procedure_label({**split, "procedure_share": 0.6}) == "gastric bypass"
    assert procedure_label({"procedure": "gastric bypass", "procedure_share": 0.5}) == MIXED  # half is not most
    assert procedure_header({**split, "procedure_share": 0.83}) == "gastric bypass, 83% of the video"
    assert procedure_label({"procedure": None}) is None and procedure_header(None) is None

