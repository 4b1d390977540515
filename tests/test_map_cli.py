"""`halsted map` and `halsted overlay` as a user runs them (subprocesses), and SDK == pipeline == CLI."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from halsted_hf.mapping.timeline import Timeline
from test_workflow import make_video


def _start(*args):
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONWARNINGS="ignore::FutureWarning")
    return subprocess.Popen([sys.executable, "-m", "halsted_hf.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def _finish(proc):
    out, err = proc.communicate(timeout=300)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def halsted(*args):
    return _finish(_start(*args))


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_video(tmp_path_factory.mktemp("cli") / "clip.mp4", 40, size="64x48")


def test_cli_sdk_and_pipeline_give_the_same_timeline(clip, tiny_model_dir, tmp_path):
    import halsted_hf
    import halsted_hf.mapping.pipeline  # noqa: F401  (registers the task)
    from transformers import pipeline

    out, csv, vtt = (str(tmp_path / n) for n in ("t.json", "t.csv", "t.vtt"))
    res = halsted("map", clip, "--mapping", "full", "--model", tiny_model_dir, "--out", out, "--csv", csv,
                  "--vtt", vtt, "--batch-size", "32")
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr
    cli = Timeline.load(out).to_dict()
    sdk = halsted_hf.map_video(clip, mapping="full", model=tiny_model_dir).to_dict()
    pipe = pipeline("surgical-video-mapping", model=tiny_model_dir, device="cpu")(clip, mapping="full")
    assert isinstance(pipe, Timeline)
    assert cli == sdk == pipe.to_dict()
    assert cli["model"]["name"] == os.path.basename(tiny_model_dir) and len(cli["model"]["revision"]) == 12
    assert open(csv).readline().startswith("video_id,start_s,end_s")
    assert open(vtt).read().startswith("WEBVTT")


def _bad_inputs(tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n")
    audio = tmp_path / "audio.mp4"
    subprocess.run([make_video.__globals__["ffmpeg_exe"](), "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    "sine=d=3", "-c:a", "aac", str(audio)], check=True)
    short = make_video(tmp_path / "short.mp4", 1, size="64x48")
    return {"missing": (str(tmp_path / "missing.mp4"), "no such file"), "empty": (str(empty), "empty"),
            "text": (str(text), "not a video file"), "audio": (str(audio), "no video stream"),
            "short": (short, "shorter than one")}


def test_bad_inputs_one_line_exit_2_no_output(tmp_path, tiny_model_dir, clip):
    cases = _bad_inputs(tmp_path)
    cases["mapping"] = (clip, "Unknown mapping")
    procs = {}
    for name, (path, message) in cases.items():  # started together: each pays the import of torch
        args = ["map", path, "--model", tiny_model_dir, "--out", str(tmp_path / f"{name}.json"),
                "--csv", str(tmp_path / f"{name}.csv")]
        procs[name] = _start(*args, *(["--mapping", "stitching"] if name == "mapping" else []))
    for name, (path, message) in cases.items():
        out = tmp_path / f"{name}.json"
        res = _finish(procs[name])
        lines = [line for line in res.stderr.splitlines() if line.strip()]
        assert res.returncode == 2, (name, res.stderr)
        assert len(lines) == 1 and message in lines[0] and lines[0].startswith("halsted map: error:"), (name, lines)
        assert "Traceback" not in res.stderr
        assert not out.exists() and not (tmp_path / f"{name}.csv").exists()
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".tmp-")]  # no temp files left behind


def test_truncated_mp4_maps_what_decodes_and_warns(tmp_path, tiny_model_dir, clip):
    data = open(clip, "rb").read()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) * 6 // 10])
    out = tmp_path / "cut.json"
    res = halsted("map", str(cut), "--model", tiny_model_dir, "--out", str(out), "--mapping", "full")
    assert res.returncode == 0, res.stderr
    warning = [line for line in res.stderr.splitlines() if "warning" in line]
    assert len(warning) == 1 and "stops at" in warning[0] and "Traceback" not in res.stderr
    tl = Timeline.load(str(out))
    assert tl.decoded_until_s is not None and tl.decoded_until_s < 40.0
    assert max(s.end_s for s in tl.segments) <= tl.decoded_until_s + 1e-6


def test_missing_demo_model_is_a_clear_error(monkeypatch, tmp_path):
    from halsted_hf.model import hub
    from halsted_hf.errors import CheckpointError
    from halsted_hf.mapping.workflow import load_model

    monkeypatch.delenv("HALSTED_MODEL", raising=False)
    monkeypatch.setattr(hub, "DEMO_MODEL_PATH", str(tmp_path / "no-demo-model"))
    with pytest.raises(CheckpointError, match="demo model is not installed"):
        load_model(None)


def test_overlay_command(clip, tiny_model_dir, tmp_path):
    import halsted_hf

    tl_path = halsted_hf.map_video(clip, model=tiny_model_dir).save(str(tmp_path / "t.json"))
    out = tmp_path / "overlay.mp4"
    res = halsted("overlay", clip, tl_path, str(out))
    assert res.returncode == 0, res.stderr and out.stat().st_size > 0
    bad = halsted("overlay", clip, str(tmp_path / "nope.json"), str(tmp_path / "o2.mp4"))
    assert bad.returncode == 2 and "does not exist" in bad.stderr and not (tmp_path / "o2.mp4").exists()
