"""`halsted map` and `halsted overlay` as a user runs them (subprocesses), and SDK == pipeline == CLI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from halsted_hf.mapping.timeline import Timeline
from halsted_hf.core.io import ffmpeg_exe
from helpers import alive, descendants, finish_cli as _finish, make_video, start_cli as _start


def halsted(*args):
    return _finish(_start(*args))


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_video(tmp_path_factory.mktemp("cli") / "clip.mp4", 40, size="64x48", gop=20, faststart=True,
                      preset="medium")


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
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    "sine=d=3", "-c:a", "aac", str(audio)], check=True)
    short = make_video(tmp_path / "short.mp4", 1, size="64x48", gop=20, faststart=True, preset="medium")
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


@pytest.fixture(scope="module")
def cinepak(tmp_path_factory):
    """A 30-s Cinepak AVI (like the OpenCV sample tree.avi), and copies whose decoding stops early."""
    from halsted_hf.video.writer import ffmpeg_exe

    d = tmp_path_factory.mktemp("avi")
    whole = d / "whole.avi"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=96x64:rate=15:duration=30",
                    "-c:v", "cinepak", str(whole)], check=True)
    data = whole.read_bytes()
    cut = d / "cut.avi"  # the first fifth of the bytes: the header still counts 450 frames (30 s)
    cut.write_bytes(data[: len(data) // 5])
    index = data.rfind(b"idx1")  # the index at the end stays; the frames' data is wiped from a point on

    def wiped(name, fraction):
        path = d / name
        start = int(len(data) * fraction)
        path.write_bytes(data[:start] + bytes(index - 16 - start) + data[index - 16:])
        return path

    return {"cut": cut, "damaged": wiped("damaged.avi", 0.2), "damaged_early": wiped("damaged_early.avi", 0.03)}


@pytest.mark.parametrize("name", ["cut", "damaged"])
def test_avi_whose_decoding_stops_early_maps_to_where_frames_end_with_a_warning(cinepak, tiny_model_dir, tmp_path,
                                                                                name):
    out = tmp_path / "t.json"
    res = halsted("map", str(cinepak[name]), "--model", tiny_model_dir, "--out", str(out), "--mapping", "full")
    assert res.returncode == 0, res.stderr
    warning = [line for line in res.stderr.splitlines() if "warning" in line]
    assert len(warning) == 1 and "stops at" in warning[0] and "of 30.00 s" in warning[0], res.stderr
    assert "no frame could be decoded" not in res.stderr and "Traceback" not in res.stderr
    tl = Timeline.load(str(out))
    assert tl.decoded_until_s is not None and 2.5 < tl.decoded_until_s < 15.0
    assert tl.warnings and "stops at" in tl.warnings[0]
    assert max(s.end_s for s in tl.segments) == pytest.approx(tl.decoded_until_s)  # ends where frames end


def test_avi_with_too_few_decodable_frames_says_how_much_decodes(cinepak, tiny_model_dir, tmp_path):
    out = tmp_path / "t.json"
    res = halsted("map", str(cinepak["damaged_early"]), "--model", tiny_model_dir, "--out", str(out))
    assert res.returncode == 2 and not out.exists()
    [line] = res.stderr.strip().splitlines()
    assert "no frame could be decoded" not in line  # frames did decode: the old message misled
    assert "only the first" in line and "of 30.00 s decode" in line and "export the video again" in line


def test_missing_demo_model_is_a_clear_error(monkeypatch, tmp_path):
    import dataclasses

    from halsted_hf.model import registry
    from halsted_hf.core.errors import CheckpointError
    from halsted_hf.mapping.workflow import load_model

    monkeypatch.delenv("HALSTED_MODEL", raising=False)
    missing = dataclasses.replace(registry.MODELS["demo"], folder=str(tmp_path / "no-demo-model"))
    monkeypatch.setitem(registry.MODELS, "demo", missing)
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


# ------------------------------------------------------------------------------- stopping
# A video over LONG_VIDEO_S (300 s) is decoded by worker processes (forkserver): the case that leaked.


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory):
    return make_video(tmp_path_factory.mktemp("long") / "long.mp4", 330, size="64x48", gop=20, faststart=True,
                      preset="medium")


def _map_until_decoders_run(long_clip, model, tmp_path, ignore_sigint=False):
    """Start `halsted map` and return (process, its descendants) once decoder workers are running."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONWARNINGS="ignore::FutureWarning")
    # A shell starts background jobs with SIGINT ignored; the child inherits that.
    preexec = (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if ignore_sigint else None
    proc = subprocess.Popen([sys.executable, "-m", "halsted_hf.cli", "map", long_clip, "--mapping", "full",
                             "--model", model, "--out", str(tmp_path / "t.json"), "--batch-size", "4",
                             "--no-progress"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, preexec_fn=preexec)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        tree = descendants(proc.pid)
        if len(tree) >= 4:  # resource tracker, forkserver, two decoder workers
            return proc, tree
        time.sleep(0.05)
    proc.kill()
    raise AssertionError(f"decoder workers never started: {proc.communicate()}")


@pytest.mark.parametrize("signum, ignore_sigint", [(signal.SIGINT, True), (signal.SIGTERM, False)])
def test_signal_stops_map_with_one_line_and_no_process_left(long_clip, tiny_model_dir, tmp_path, signum,
                                                            ignore_sigint):
    proc, tree = _map_until_decoders_run(long_clip, tiny_model_dir, tmp_path, ignore_sigint)
    sent = time.monotonic()
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=120)
    stop_s = time.monotonic() - sent  # measured in benchmarks/stop_latency.py; here only reported
    name = signal.Signals(signum).name
    assert proc.returncode == 128 + signum, (proc.returncode, err)
    assert f"halsted map: stopped by {name}; nothing was written" in err and "Traceback" not in err
    assert not (tmp_path / "t.json").exists()
    deadline = time.monotonic() + 5
    while alive(tree) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(tree), f"left running after {name}: {alive(tree)}"
    print(f"{name}: stopped {stop_s:.2f} s after the signal")


def test_kill_9_mid_map_leaves_no_process_behind(long_clip, tiny_model_dir, tmp_path):
    proc, tree = _map_until_decoders_run(long_clip, tiny_model_dir, tmp_path)
    proc.kill()
    proc.wait(timeout=10)
    deadline = time.monotonic() + 5
    while alive(tree) and time.monotonic() < deadline:
        time.sleep(0.1)
    survivors = alive(tree)
    for p in survivors:  # do not leak them into the rest of the test run
        os.kill(p, signal.SIGKILL)
    assert not survivors, f"{len(survivors)} of the decoder processes outlived a killed `halsted map` by 5 s"
