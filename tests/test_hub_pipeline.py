"""`pipeline("surgical-video-mapping", model=folder, trust_remote_code=True)` works from a saved model folder
on a machine without halsted_hf: config.json names the Hub pipeline (pipeline_halsted.py, copied flat next to
the model files by save_hub_layout). Run in a fresh interpreter where importing halsted_hf raises."""

from __future__ import annotations

import json
import os

import pytest

from helpers import run_without_halsted


@pytest.fixture(scope="module")
def clip(tmp_path_factory, make_video):
    return str(make_video(tmp_path_factory.mktemp("hub-pipeline") / "case.mp4", 36.0, size="96x72", rate=10))


def test_config_announces_the_hub_pipeline_and_the_folder_holds_it(tiny_model_dir):
    config = json.load(open(os.path.join(tiny_model_dir, "config.json")))
    impl = config["custom_pipelines"]["surgical-video-mapping"]["impl"]
    module, cls = impl.split(".")
    source = open(os.path.join(tiny_model_dir, module + ".py")).read()
    assert f"class {cls}(" in source
    assert "halsted_hf" not in "\n".join(line for line in source.splitlines() if line.startswith(("import", "from")))


def test_the_hub_pipeline_maps_a_video_without_halsted_hf(tiny_model_dir, clip, tmp_path):
    res = run_without_halsted(f"""
        import json, sys
        from transformers import pipeline
        try:
            pipeline("surgical-video-mapping", model={tiny_model_dir!r})
            print("REFUSED: no")
        except ValueError as err:  # remote code is never run unasked
            print("REFUSED:", "trust_remote_code" in str(err))
        mapper = pipeline("surgical-video-mapping", model={tiny_model_dir!r}, trust_remote_code=True)
        timeline = mapper({clip!r}, mapping="full")
        assert not [m for m in sys.modules if m.startswith("halsted_hf")]
        print("TIMELINE", json.dumps(timeline))
    """, tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "REFUSED: True" in res.stdout
    timeline = json.loads(res.stdout.split("TIMELINE ", 1)[1])
    stage1 = [s for s in timeline["segments"] if s["stage"] == 1]
    assert timeline["workflow"] == "full" and timeline["video"]["duration_s"] == pytest.approx(36.0, abs=0.2)
    assert stage1[0]["start_s"] == 0.0 and stage1[-1]["end_s"] == pytest.approx(timeline["video"]["duration_s"])
    assert all(0.0 <= p <= 1.0 for s in timeline["segments"] for p in s["scores"].values())


def test_the_hub_pipeline_agrees_with_the_package_workflow(tiny_model_dir, clip, tmp_path):
    """Same windows, same frames, same model: the stand-alone pipeline's tags are the package's."""
    import halsted_hf
    from halsted_hf.mapping.timeline import Timeline

    res = run_without_halsted(f"""
        import json
        from transformers import pipeline
        mapper = pipeline("surgical-video-mapping", model={tiny_model_dir!r}, trust_remote_code=True)
        print("TIMELINE", json.dumps(mapper({clip!r}, mapping="full")))
    """, tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    hub = Timeline.from_dict(json.loads(res.stdout.split("TIMELINE ", 1)[1]))
    package = halsted_hf.map_video(clip, mapping="full", model=tiny_model_dir)

    def content(tl):
        return [(round(s.start_s, 3), round(s.end_s, 3), s.stage, s.task, dict(s.tags)) for s in
                sorted(tl.segments, key=lambda s: (s.stage, s.task, s.start_s))]

    assert content(hub) == content(package)


def test_the_hub_pipeline_has_no_mapping_table_of_its_own():
    """What it maps comes from the model's taxonomy (plans.py, a Hub file beside it), as for the package:
    tests/test_mapping_plans.py maps a CholecT50 model's own plan with it."""
    import ast

    from halsted_hf.model import pipeline_halsted

    tree = ast.parse(open(pipeline_halsted.__file__).read())
    names = {t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)}
    assert not names & {"MAPPINGS", "STEP_TASK", "STAGE1_TASK", "CONTEXT_TASK", "STAGE1_WINDOW_S"}
    assert "mapping_plans()" in open(pipeline_halsted.__file__).read()


def test_with_halsted_hf_imported_the_package_pipeline_serves_the_task(tiny_model_dir):
    """Where the package is installed and imported, no trust_remote_code is needed and its pipeline runs."""
    import halsted_hf  # noqa: F401
    from transformers import pipeline

    from halsted_hf.mapping.pipeline import SurgicalVideoMappingPipeline

    assert type(pipeline("surgical-video-mapping", model=tiny_model_dir)) is SurgicalVideoMappingPipeline
