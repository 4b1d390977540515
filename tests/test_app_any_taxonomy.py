"""Review reads a result of any taxonomy by the tags its model emits: a CholecT50 model's phases and action
triplets get their own time shares, and no suturing or dissection panel (no "Stitches 0" for a
cholecystectomy); a Halsted result keeps its panels and gets no extra breakdown."""

from __future__ import annotations

from apptest import texts
from helpers import PASSWORD, make_timeline, make_video, seg
from test_app_review_link import review_at

from halsted_hf.mapping.timeline import Timeline


def cholect50_timeline() -> Timeline:
    phases = [seg(0.0, 16.0, 1, "phase", {"phase": "preparation"}),
              seg(16.0, 32.0, 1, "phase", {"phase": "calot triangle dissection"})]
    triplets = [seg(0.0, 16.0, 2, "action-triplet",
                    {"instrument": "grasper", "verb": "retract", "target": "gallbladder"}),
                seg(16.0, 32.0, 2, "action-triplet",
                    {"instrument": "hook", "verb": "dissect", "target": "cystic duct"})]
    return Timeline(video={"id": "chole", "duration_s": 32.0, "fps": 8.0},
                    model={"name": "cholect50", "revision": "0"}, workflow="full", tasks=["phase", "action-triplet"],
                    segments=phases + triplets)


def test_review_shows_a_cholect50_result_by_its_own_tags(app_platform, tmp_path):
    me = app_platform.sign_up("ann@example.org", "Ann", PASSWORD)
    chole = me.add_result(me.upload_video(str(make_video(tmp_path / "chole.mp4", 4.0))).id, cholect50_timeline())
    at = review_at(me, {"result": str(chole.id)})
    shown = texts(at)
    subheaders = [h.value for h in at.subheader]
    assert "Breakdown" in subheaders and "Suturing" not in " ".join(subheaders)
    assert "Stitches" not in shown and "Dissection time" not in shown
    charts = [c.proto.spec for c in at.get("plotly_chart")]
    for tag in ("phase", "instrument", "verb", "target"):
        assert any(f"Time share of {tag}" in spec for spec in charts), tag
    assert any("calot triangle dissection" in spec for spec in charts)
    # this platform maps with the Halsted taxonomy: it does not know CholecT50's categories to offer
    assert "taxonomy is not known here" in shown

    halsted = me.add_result(me.upload_video(str(make_video(tmp_path / "suture.mp4", 3.0))).id, make_timeline())
    at = review_at(me, {"result": str(halsted.id)})
    assert "Breakdown" not in [h.value for h in at.subheader] and "Stitches=2" in texts(at)


def test_summary_for_a_cholect50_model_shows_its_tags_and_no_stitches(app_platform, tmp_path):
    import json

    from apptest import app_as

    from halsted_hf.data.loaders.cholect50 import cholect50_taxonomy

    model = tmp_path / "no-model"  # the folder HALSTED_MODEL names: only its config's taxonomy is read here
    model.mkdir(exist_ok=True)
    (model / "config.json").write_text(json.dumps({"taxonomy": cholect50_taxonomy().to_dict()}))
    me = app_platform.sign_up("ann@example.org", "Ann", PASSWORD)
    me.add_result(me.upload_video(str(make_video(tmp_path / "chole.mp4", 4.0))).id, cholect50_timeline())
    at = app_as(me, "views/summary.py")
    assert not at.exception, [e.message for e in at.exception]
    metrics = [m.label for m in at.metric]
    assert "Stitches" not in metrics and "High proficiency" not in metrics and "Videos" in metrics
    charts = [c.proto.spec for c in at.get("plotly_chart")]
    assert any("Time share of phase" in spec and "calot triangle dissection" in spec for spec in charts)
    assert "Proficiency over time" not in [h.value for h in at.subheader]
