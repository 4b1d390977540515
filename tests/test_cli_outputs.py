"""Outputs that could destroy an input, outputs that cannot be written, and broken set-ups:
each gives one line and exit 2 in the CLI, a typed HalstedError in the SDK and the
pipeline, before any frame is decoded, and leaves every file as it was."""

from __future__ import annotations

import os
import shutil

import pytest

from halsted_hf.core import errors
from halsted_hf.core.errors import CheckpointError, HalstedError
from halsted_hf.mapping.timeline import Timeline
from helpers import finish_cli as _finish, start_cli as _start
from helpers import make_video


@pytest.fixture(scope="module")
def box(tmp_path_factory):
    """A real video and a symlink to it: the two names of one file."""
    folder = tmp_path_factory.mktemp("outputs")
    make_video(folder / "box.mp4", 6, size="64x48", gop=20, faststart=True, preset="medium")
    os.symlink("box.mp4", folder / "link.mp4")
    return folder


@pytest.fixture(scope="module")
def broken_models(tiny_model_dir, tmp_path_factory):
    """Copies of a real checkpoint whose weights file is cut in half, or random bytes."""
    out = {}
    for name in ("truncated", "garbage"):
        folder = tmp_path_factory.mktemp(name)
        shutil.copytree(tiny_model_dir, folder, dirs_exist_ok=True)
        weights = folder / "model.safetensors"
        data = weights.read_bytes()
        weights.write_bytes(data[: len(data) // 2] if name == "truncated" else os.urandom(5000))
        out[name] = str(folder)
    return out


def _one_line_error(res, command, *needles):
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert res.returncode == 2, res.stderr
    assert len(lines) == 1 and lines[0].startswith(f"halsted {command}: error:"), lines
    assert all(n in lines[0] for n in needles), (needles, lines[0])


# ---- pure helpers ---------------------------------------------------------------------------------
def test_same_file_sees_through_symlinks_hard_links_and_dots(box):
    from halsted_hf.mapping.outputs import same_file

    video, link = str(box / "box.mp4"), str(box / "link.mp4")
    os.link(video, box / "hard.mp4") if not (box / "hard.mp4").exists() else None
    assert same_file(link, video) and same_file(str(box / "hard.mp4"), video)
    assert same_file(str(box / "sub" / ".." / "box.mp4"), video)
    assert not same_file(str(box / "new.json"), video)
    assert same_file(str(box / "new.json"), os.path.relpath(box / "new.json"))


def test_check_output_path_refuses_what_cannot_be_written(box, tmp_path):
    from halsted_hf.mapping.outputs import check_output_path

    (tmp_path / "afile").write_text("x")
    cases = {str(tmp_path): "is a folder", str(tmp_path / "afile" / "t.csv"): "not a folder",
             "/sys/halsted-test/t.json": "cannot write", "/dev/null": "not a regular file"}
    for path, message in cases.items():
        with pytest.raises(HalstedError, match=message):
            check_output_path(path, "--out")
    check_output_path(str(tmp_path / "new" / "deeper" / "t.json"), "--out")  # missing folders are made later
    assert not (tmp_path / "new").exists() and not [p for p in os.listdir(tmp_path) if p.startswith(".tmp")]


def test_write_atomically_writes_all_or_none(tmp_path):
    from halsted_hf.mapping.outputs import write_atomically

    (tmp_path / "afile").write_text("x")
    good = tmp_path / "t.json"
    good.write_text("old\n")
    with pytest.raises(HalstedError, match="nothing was written"):
        write_atomically([(str(good), "new\n"), (str(tmp_path / "afile" / "t.csv"), "a,b\n")])
    assert good.read_text() == "old\n" and sorted(os.listdir(tmp_path)) == ["afile", "t.json"]
    write_atomically([(str(good), "new\n"), (str(tmp_path / "sub" / "t.csv"), "a,b\n")])
    assert good.read_text() == "new\n" and (tmp_path / "sub" / "t.csv").read_text() == "a,b\n"


# ---- the CLI: outputs ----------------------------------------------------------------------------
def test_map_refuses_bad_outputs_before_loading_or_decoding(box, tmp_path):
    """Checked first: with a model path that does not exist, the output error still comes out."""
    (tmp_path / "afile").write_text("x")
    old = tmp_path / "t.json"
    old.write_text("old\n")
    before = (box / "box.mp4").read_bytes()
    video, link = str(box / "box.mp4"), str(box / "link.mp4")
    cases = {
        "out is the video (via a symlink)": ([link, "--out", video], "is the input video"),
        "csv is the video": ([video, "--out", str(old), "--csv", link], "is the input video"),
        "vtt is the timeline": ([video, "--out", str(old), "--vtt", str(old)], "same file"),
        "out is a folder": ([video, "--out", str(tmp_path)], "is a folder"),
        "read-only folder": ([video, "--out", "/sys/halsted-test/t.json"], "cannot write"),
        "csv under a file": ([video, "--out", str(old), "--csv", str(tmp_path / "afile" / "t.csv")], "not a folder"),
    }
    procs = {name: _start("map", *args, "--model", str(tmp_path / "no-such-model"), "--no-progress")
             for name, (args, _) in cases.items()}
    for name, (args, message) in cases.items():
        _one_line_error(_finish(procs[name]), "map", message)
    assert old.read_text() == "old\n" and (box / "box.mp4").read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["afile", "t.json"]  # nothing else, no temp files


def test_overlay_never_writes_over_its_inputs(box, tiny_model_dir, tmp_path):
    import halsted_hf

    video, link = str(box / "box.mp4"), str(box / "link.mp4")
    tl = str(tmp_path / "t.json")
    halsted_hf.map_video(video, mapping="procedure", model=tiny_model_dir).save(tl)
    before, tl_before = (box / "box.mp4").read_bytes(), open(tl, "rb").read()
    procs = {"video via a symlink": _start("overlay", link, tl, video, "--no-progress"),
             "the timeline": _start("overlay", video, tl, tl, "--no-progress"),
             "a folder": _start("overlay", video, tl, str(tmp_path), "--no-progress")}
    _one_line_error(_finish(procs["video via a symlink"]), "overlay", "is the input video")
    _one_line_error(_finish(procs["the timeline"]), "overlay", "is the timeline")
    _one_line_error(_finish(procs["a folder"]), "overlay", "is a folder")
    assert (box / "box.mp4").read_bytes() == before and open(tl, "rb").read() == tl_before
    from halsted_hf.mapping.overlay import render_overlay
    with pytest.raises(HalstedError, match="is the input video"):
        render_overlay(link, tl, video)


# ---- broken set-ups: CLI, SDK, pipeline ---------------------------------------------------------
def test_broken_weights_bad_device_binary_timeline_cli(box, broken_models, tiny_model_dir, tmp_path):
    video = str(box / "box.mp4")
    binary = tmp_path / "binary.json"
    binary.write_bytes(bytes(range(256)) * 4)
    out = str(tmp_path / "t.json")
    procs = {
        "truncated": (_start("map", video, "--model", broken_models["truncated"], "--out", out, "--no-progress"),
                      "map", "weights"),
        "garbage": (_start("map", video, "--model", broken_models["garbage"], "--out", out, "--no-progress"),
                    "map", "weights"),
        "bogus": (_start("map", video, "--model", tiny_model_dir, "--device", "bogus", "--out", out,
                         "--no-progress"), "map", "bogus"),
        "cuda:99": (_start("map", video, "--model", tiny_model_dir, "--device", "cuda:99", "--out", out,
                           "--no-progress"), "map", "cuda:99"),
        "binary timeline": (_start("overlay", video, str(binary), str(tmp_path / "o.mp4"), "--no-progress"),
                            "overlay", "not a Halsted timeline"),
    }
    for name, (proc, command, needle) in procs.items():
        _one_line_error(_finish(proc), command, needle)
    assert sorted(os.listdir(tmp_path)) == ["binary.json"]


def test_broken_weights_and_bad_device_sdk(box, broken_models, tiny_model_dir, tmp_path):
    import torch

    from halsted_hf.model.hub import check_device
    from halsted_hf.mapping.workflow import load_model, map_video

    for folder in broken_models.values():
        with pytest.raises(CheckpointError, match="weights") as err:
            load_model(folder)
        assert "\n" not in str(err.value)
    for device in ("bogus", "cuda:99", "tpu:x"):
        with pytest.raises(errors.DeviceError, match="device"):
            map_video(str(box / "box.mp4"), model=tiny_model_dir, device=device)
    if torch.cuda.is_available():  # the same test on a GPU machine: there "cuda" is valid
        assert check_device("cuda") == torch.device("cuda")
    else:
        with pytest.raises(errors.DeviceError, match="CUDA"):
            check_device("cuda")
    assert check_device("cpu") == torch.device("cpu") and check_device(-1) == torch.device("cpu")
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    with pytest.raises(HalstedError, match="not a Halsted timeline"):
        Timeline.load(str(binary))


def test_broken_weights_and_bad_device_pipeline(broken_models, tiny_model_dir):
    import halsted_hf.mapping.pipeline  # noqa: F401  (registers the task)
    from transformers import pipeline

    for folder in broken_models.values():
        with pytest.raises(CheckpointError, match="weights"):
            pipeline("surgical-video-mapping", model=folder)
    for device in ("bogus", "cuda:99"):
        with pytest.raises(errors.DeviceError, match="device"):
            pipeline("surgical-video-mapping", model=tiny_model_dir, device=device)
