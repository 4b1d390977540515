"""A model declares what it maps: the taxonomy it carries names its mapping plans (model/plans.py), and every
front end (SDK, CLI, the Hub pipeline, the platform's jobs, Review) maps and shows what the model declares.
Here with a tiny model of the CholecT50 taxonomy (phase, then the action triplet) beside the Halsted one."""

from __future__ import annotations

import json
import os

import pytest

from helpers import run_cli, run_without_halsted

from halsted_hf.data.loaders.cholect50 import cholect50_taxonomy
from halsted_hf.core.errors import HalstedError, TaskError
from halsted_hf.model.plans import ANY, MappingPlan
from halsted_hf.model.taxonomy import HALSTED_TAXONOMY, Taxonomy


@pytest.fixture(scope="module")
def cholect50_model(tmp_path_factory):
    from halsted_hf.model.hub import build_model, save_hub_layout

    out = tmp_path_factory.mktemp("cholect50-model")
    model, processor = build_model("tiny", seed=0, taxonomy=cholect50_taxonomy().to_dict())
    save_hub_layout(model, processor, str(out))
    return str(out)


@pytest.fixture(scope="module")
def clip(tmp_path_factory, make_video):
    return str(make_video(tmp_path_factory.mktemp("plans") / "case.mp4", 40.0, size="96x72", rate=8))


def test_the_halsted_taxonomy_keeps_its_four_mappings():
    plans = HALSTED_TAXONOMY.mapping_plans()
    assert list(plans) == ["suturing", "dissection", "full", "procedure"]
    full = plans["full"]
    assert (full.stage1_task, full.stage1_tag, full.stage1_window_s, full.stage2_window_s) == \
        ("macro-activity", "step", 30.0, 2.5)
    assert full.stage2_tasks("suturing") == ("proficiency",) and full.stage2_tasks("dissection") == ("micro-activity",)
    assert full.stage2_tasks("other") == () and not plans["procedure"].has_stage2
    assert full.follow_up("proficiency", {"phase": "driving"}) == "context"
    assert full.follow_up("proficiency", {"phase": "withdrawal"}) is None
    assert plans["suturing"].extends() == "suturing" and plans["dissection"].extends() is None


def test_declared_plans_travel_with_the_taxonomy_and_bad_ones_are_refused():
    taxonomy = cholect50_taxonomy()
    assert list(taxonomy.mapping_plans()) == ["full", "phase"]
    full = taxonomy.plan("full")
    assert (full.stage1_task, full.stage1_window_s, full.stage2) == ("phase", 16.0, ((ANY, ("action-triplet",)),))
    again = Taxonomy.from_dict(json.loads(json.dumps(taxonomy.to_dict())))
    assert again.mapping_plans() == taxonomy.mapping_plans()

    data = taxonomy.to_dict()
    with pytest.raises(ValueError, match="none named 'full'"):
        Taxonomy.from_dict({**data, "plans": [p for p in data["plans"] if p["name"] != "full"]})
    bad = json.loads(json.dumps(data))
    bad["plans"][0]["stage2"]["when"][0]["tasks"] = ["suturing-action"]
    with pytest.raises(ValueError, match="asks task 'suturing-action'"):
        Taxonomy.from_dict(bad)
    bad = json.loads(json.dumps(data))
    bad["plans"][0]["stage2"]["window_s"] = 20.0
    with pytest.raises(ValueError, match="0 < stage 2"):
        Taxonomy.from_dict(bad)
    with pytest.raises(KeyError, match="this model maps full, phase"):
        taxonomy.plan("suturing")


def test_a_taxonomy_without_plans_gets_full_over_all_its_tasks():
    data = cholect50_taxonomy().to_dict()
    del data["plans"]
    plans = Taxonomy.from_dict({**data, "name": "a hospital's own"}).mapping_plans()
    assert list(plans) == ["full"]
    assert plans["full"].tasks == ("phase", "action-triplet") and plans["full"].stage2_tasks("preparation")
    assert MappingPlan.from_dict(plans["full"].to_dict()) == plans["full"]


def test_a_cholect50_model_maps_its_own_plan_and_refuses_another(cholect50_model, clip):
    from halsted_hf.mapping.workflow import map_video

    timeline = map_video(clip, model=cholect50_model)  # no mapping: the model's first plan
    assert timeline.workflow == "full" and timeline.tasks == ["phase", "action-triplet"]
    stage1 = timeline.select(stage=1)
    assert {s.task for s in stage1} == {"phase"} and all(set(s.tags) == {"phase"} for s in stage1)
    assert stage1[0].start_s == 0.0 and stage1[-1].end_s == pytest.approx(40.0, abs=0.2)
    stage2 = timeline.select(stage=2)
    assert {s.task for s in stage2} == {"action-triplet"}
    covered = sum(s.end_s - s.start_s for s in stage2)
    assert covered == pytest.approx(40.0, abs=0.2)  # every window: the plan's stage 2 opens on any phase
    assert all(set(s.tags) <= {"instrument", "verb", "target"} for s in stage2)
    # windows of 16 s: no segment boundary falls between the plan's window edges
    assert all(round(b, 3) in (16.0, 32.0) or b == pytest.approx(40.0, abs=0.2)
               for b in {s.end_s for s in timeline.segments})
    with pytest.raises(TaskError, match="maps full, phase"):
        map_video(clip, mapping="suturing", model=cholect50_model)


def test_halsted_map_lists_the_models_plans(cholect50_model, clip, tmp_path):
    res = run_cli("map", clip, "--model", cholect50_model, "--mapping", "suturing", "--out", str(tmp_path / "t.json"))
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1
    assert "maps full, phase" in res.stderr and not os.path.exists(tmp_path / "t.json")
    res = run_cli("map", clip, "--model", cholect50_model, "--mapping", "phase", "--out", str(tmp_path / "t.json"),
                  "--no-progress")
    assert res.returncode == 0, res.stderr
    timeline = json.load(open(tmp_path / "t.json"))
    assert timeline["workflow"] == "phase" and {s["task"] for s in timeline["segments"]} == {"phase"}


def test_the_hub_pipeline_maps_the_models_own_plan(cholect50_model, clip, tmp_path):
    res = run_without_halsted(f"""
        import json
        from transformers import pipeline
        mapper = pipeline("surgical-video-mapping", model={cholect50_model!r}, trust_remote_code=True)
        try:
            mapper({clip!r}, mapping="suturing")
        except ValueError as err:
            print("REFUSED", str(err))
        print("TIMELINE", json.dumps(mapper({clip!r})))
    """, tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "REFUSED Unknown mapping 'suturing': this model maps full, phase" in res.stdout
    timeline = json.loads(res.stdout.split("TIMELINE ", 1)[1])
    assert timeline["workflow"] == "full" and timeline["tasks"] == ["phase", "action-triplet"]
    assert {s["task"] for s in timeline["segments"]} == {"phase", "action-triplet"}


def test_the_platform_queues_the_models_plans_and_review_shows_no_stitches(cholect50_model, clip, tmp_path,
                                                                          monkeypatch):
    from helpers import cheap_argon2

    from halsted_hf.mapping.workflow import map_video
    from halsted_hf.platform import Platform, Settings

    monkeypatch.setattr("halsted_hf.platform.accounts._hasher", cheap_argon2())
    platform = Platform(Settings(data_dir=tmp_path / "data", model=cholect50_model, deidentify=False))
    try:
        me = platform.sign_up("a@example.org", "A", "a long enough password")
        video = me.upload_video(clip)
        assert me.enqueue_job(video.id, "full").mapping == "full"
        with pytest.raises(TaskError, match="maps full, phase"):
            me.enqueue_job(video.id, "suturing")
        result = me.add_result(video.id, map_video(clip, model=cholect50_model))
        review = me.review(result.id)
        assert review.suturing is None and review.dissection is None  # no suturing panels without those tasks
        assert review.timeline.tasks == ["phase", "action-triplet"]
        assert set(review.breakdown) <= {"phase", "instrument", "verb", "target"}
        assert "phase" in review.breakdown and abs(sum(review.breakdown["phase"].values()) - 1.0) < 1e-6
        # a correction sets a category of the model's own taxonomy (this platform maps with the CholecT50 model)
        first = next(i for i, s in enumerate(review.timeline.segments) if s.task == "phase")
        other = next(c for c in cholect50_taxonomy().task("phase").tags["phase"]
                     if c != review.timeline.segments[first].tags["phase"])
        me.set_category(result.id, first, "phase", other)
        assert me.review(result.id).timeline.segments[first].tags["phase"] == other
        with pytest.raises(HalstedError, match="not a category of 'phase'"):
            me.set_category(result.id, first, "phase", "suturing")
    finally:
        platform.dispose()
