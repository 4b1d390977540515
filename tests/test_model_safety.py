"""Hostile model folders: one that needs its own code, pickle weights, and a config.json that does not fit
its weights. Each is refused with one line before anything is built or any of its code runs: in the CLI
(even when a terminal answers "y"), the SDK, the dashboard's HALSTED_MODEL and the archive mapper."""

from __future__ import annotations

import json
import os
import pty
import shutil
import subprocess
import sys
import time

import pytest

from halsted_hf.core.errors import CheckpointError
from helpers import finish_cli, make_video, run_cli, start_cli

# The folder's code, if it ever ran, leaves this file behind (transformers runs a copy from its cache, so
# the path is written into the code itself).
EVIL_CODE = '''import os
open({marker!r}, "w").write("the model folder's code ran")
from halsted_hf.model.configuration_halsted import HalstedConfig
from halsted_hf.model.modeling_halsted import HalstedForConditionalGeneration


class EvilConfig(HalstedConfig):
    model_type = "evil-net"


class EvilModel(HalstedForConditionalGeneration):
    config_class = EvilConfig
'''


def _copy(src, dst, **config_changes):
    shutil.copytree(src, dst)
    path = os.path.join(dst, "config.json")
    with open(path) as f:
        config = json.load(f)
    config.update(config_changes)
    with open(path, "w") as f:
        json.dump(config, f)
    return str(dst)


@pytest.fixture(scope="module")
def hostile(tiny_model_dir, tmp_path_factory):
    """Copies of a real saved model, each made hostile in one way, and a short real video."""
    root = tmp_path_factory.mktemp("hostile")
    marker = str(root / "RAN")
    code = _copy(tiny_model_dir, root / "code", model_type="evil-net",
                 auto_map={"AutoConfig": "evil.EvilConfig", "AutoModel": "evil.EvilModel"})
    (root / "code" / "evil.py").write_text(EVIL_CODE.format(marker=marker))
    # model_type halsted, but auto_map points at the hostile file: the package's own classes must be used
    own_type = _copy(tiny_model_dir, root / "own-type",
                     auto_map={"AutoConfig": "evil.EvilConfig", "AutoModel": "evil.EvilModel"})
    (root / "own-type" / "evil.py").write_text(EVIL_CODE.format(marker=marker))
    return {"root": root, "marker": marker, "code": code, "own_type": own_type,
            "video": str(make_video(root / "case.mp4", 3, size="64x48"))}


def _one_line(res, command, *needles):
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert res.returncode == 2, res.stderr[-2000:]
    assert len(lines) == 1 and lines[0].startswith(f"halsted {command}: error:"), lines[-6:]
    assert all(n in lines[0] for n in needles), (needles, lines[0])
    return lines[0]


# ---- code in the folder --------------------------------------------------------------------------------
def test_a_terminal_answering_yes_does_not_run_the_folders_code(hostile, tmp_path):
    """transformers asks "Do you wish to run the custom code? [y/N]" on a terminal; a "y" used to run it."""
    master, slave = pty.openpty()
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONWARNINGS="ignore")
    proc = subprocess.Popen([sys.executable, "-m", "halsted_hf.cli", "map", hostile["video"], "--model",
                             hostile["code"], "--out", str(tmp_path / "t.json"), "--no-progress"],
                            stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    os.close(slave)
    os.write(master, b"y\n" * 6)
    out, err = proc.communicate(timeout=120)
    os.close(master)
    res = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    _one_line(res, "map", "needs its own code", "--trust-remote-code")
    assert "Do you wish" not in out + err
    assert not os.path.exists(hostile["marker"]) and not os.path.exists(tmp_path / "t.json")


def test_without_a_terminal_the_refusal_is_one_line_and_sdk_dashboard_archive_refuse_too(hostile, tmp_path):
    from halsted_hf.archive.actor import VideoMapper
    from halsted_hf.mapping.workflow import load_model
    from halsted_hf.platform.inference import get_backend
    from halsted_hf.platform.settings import Settings

    _one_line(run_cli("map", hostile["video"], "--model", hostile["code"], "--out", str(tmp_path / "t.json"),
                      "--no-progress"), "map", "trust_remote_code=True")
    with pytest.raises(CheckpointError, match="needs its own code") as err:
        load_model(hostile["code"])
    assert "\n" not in str(err.value)
    # the dashboard: its model comes from HALSTED_MODEL
    settings = Settings.from_env({"HALSTED_MODEL": hostile["code"], "HALSTED_DATA_DIR": str(tmp_path / "data")})
    with pytest.raises(CheckpointError, match="never run it"):
        get_backend(settings).map_video(hostile["video"], "suturing")
    # the archive: its workers are refused, and its driver says so before starting Ray
    with pytest.raises(CheckpointError, match="needs its own code"):
        VideoMapper(hostile["code"], "cpu", "suturing", 4, 1)
    env = dict(os.environ, HF_HUB_OFFLINE="1", HALSTED_MODEL=hostile["code"])
    t0 = time.monotonic()
    res = subprocess.run([sys.executable, "-m", "halsted_hf.cli", "map-archive", str(hostile["root"]), "--out",
                          str(tmp_path / "archive"), "--no-progress"], capture_output=True, text=True, env=env,
                         timeout=120)
    _one_line(res, "map-archive", "needs its own code")
    assert time.monotonic() - t0 < 30
    assert not os.path.exists(hostile["marker"])


def test_a_halsted_folder_pointing_at_its_own_code_loads_the_packages_classes(hostile):
    from halsted_hf.model.modeling_halsted import HalstedForConditionalGeneration
    from halsted_hf.model.registry import create

    model, _ = create(hostile["own_type"])
    assert type(model) is HalstedForConditionalGeneration
    assert not os.path.exists(hostile["marker"])


def test_the_folders_code_runs_only_when_the_caller_trusts_it(hostile):
    from halsted_hf.model.registry import create

    model, _ = create(hostile["code"], trust_remote_code=True)
    assert type(model).__name__ == "EvilModel" and os.path.exists(hostile["marker"])
    os.remove(hostile["marker"])
    with pytest.raises(CheckpointError):
        create(hostile["code"], trust_remote_code="yes")  # only True itself trusts
    assert not os.path.exists(hostile["marker"])


# ---- pickle weights ------------------------------------------------------------------------------------
class _Payload:
    """A pickle that, when loaded by an unrestricted unpickler, writes a file: what a hostile .bin does."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture(scope="module")
def pickled(tiny_model_dir, tmp_path_factory):
    """The tiny model with its weights as pytorch_model.bin (harmless), and one whose pickle carries a payload."""
    import torch
    from safetensors.torch import load_file

    root = tmp_path_factory.mktemp("pickled")
    state = load_file(os.path.join(tiny_model_dir, "model.safetensors"))
    out = {"marker": str(root / "RAN")}
    for name, extra in (("harmless", {}), ("payload", {"x": _Payload(str(root / "RAN"))})):
        folder = root / name
        shutil.copytree(tiny_model_dir, folder)
        os.remove(folder / "model.safetensors")
        torch.save({**state, **extra}, folder / "pytorch_model.bin")
        out[name] = str(folder)
    return out


def test_pickle_weights_are_refused_naming_safetensors_and_the_converter(pickled, hostile, tmp_path):
    from halsted_hf.mapping.workflow import load_model
    from halsted_hf.model.hub import model_revision

    procs = {name: start_cli("map", hostile["video"], "--model", pickled[name], "--out", str(tmp_path / "t.json"),
                             "--no-progress") for name in ("harmless", "payload")}
    for name, proc in procs.items():
        line = _one_line(finish_cli(proc), "map", "pickle", "safetensors", "halsted convert-weights")
        assert "pytorch_model.bin" in line
        with pytest.raises(CheckpointError, match="pickle weights"):
            load_model(pickled[name])
        with pytest.raises(CheckpointError, match="pickle weights"):  # no shared empty id for every such model
            model_revision(pickled[name])
    assert not os.path.exists(pickled["marker"]) and not os.path.exists(tmp_path / "t.json")


def test_convert_weights_converts_a_plain_pickle_and_refuses_a_payload(pickled, tiny_model_dir, tmp_path):
    from halsted_hf.model.registry import create

    folder = tmp_path / "harmless"
    shutil.copytree(pickled["harmless"], folder)
    res = run_cli("convert-weights", str(folder))
    assert res.returncode == 0 and "wrote" in res.stdout, res.stderr
    model, _ = create(str(folder))  # loads now, with the same weights as the original
    original, _ = create(tiny_model_dir)
    for (k, a), (_, b) in zip(sorted(model.state_dict().items()), sorted(original.state_dict().items())):
        assert a.equal(b), k
    line = _one_line(run_cli("convert-weights", pickled["payload"]), "convert-weights", "refused", "besides tensors")
    assert "Traceback" not in line
    assert not os.path.exists(pickled["marker"])
    assert not os.path.exists(os.path.join(pickled["payload"], "model.safetensors"))


# ---- config.json against the weights -------------------------------------------------------------------
@pytest.mark.parametrize("change, needle", [
    ({"hidden_size": 10_000_000}, "hidden_size = 10000000"),
    ({"num_hidden_layers": 100_000}, "num_hidden_layers = 100000"),
    ({"num_hidden_layers": 3}, "parameters"),
    ({"intermediate_size": 100}, "the weights hold"),
    ({"vision_config": {"model_type": "videomae", "image_size": 112, "num_frames": 16, "hidden_size": 10_000_000}},
     "vision_config.hidden_size"),
])
def test_config_sizes_are_checked_against_the_weights_before_building(tiny_model_dir, tmp_path, change, needle):
    from halsted_hf.model.registry import create

    with open(os.path.join(tiny_model_dir, "config.json")) as f:
        config = json.load(f)
    if "vision_config" in change:
        change = {"vision_config": {**config["vision_config"], **change["vision_config"]}}
    folder = _copy(tiny_model_dir, tmp_path / "model", **change)
    t0 = time.monotonic()
    with pytest.raises(CheckpointError, match="does not belong to these weights") as err:
        create(folder)
    assert time.monotonic() - t0 < 10
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_damaged_config_and_headers_get_one_line(tiny_model_dir, hostile, tmp_path):
    from halsted_hf.model.registry import create

    bad_json = _copy(tiny_model_dir, tmp_path / "bad-json")
    with open(os.path.join(bad_json, "config.json"), "a") as f:
        f.write("}{")
    line = _one_line(run_cli("map", hostile["video"], "--model", bad_json, "--out", str(tmp_path / "t.json"),
                             "--no-progress"), "map", "config.json is not valid JSON")
    assert "offline" not in line
    lying = _copy(tiny_model_dir, tmp_path / "lying-header")
    weights = os.path.join(lying, "model.safetensors")
    with open(weights, "r+b") as f:  # a header length far beyond the file
        f.write((1 << 40).to_bytes(8, "little"))
    with pytest.raises(CheckpointError, match="cannot be read"):
        create(lying)


def test_the_pipeline_refuses_pickles_and_misfit_configs_with_one_line(pickled, tiny_model_dir, tmp_path):
    import halsted_hf.mapping.pipeline  # noqa: F401  (registers the task)
    from transformers import pipeline

    with pytest.raises(CheckpointError, match="pickle weights"):
        pipeline("surgical-video-mapping", model=pickled["payload"])
    misfit = _copy(tiny_model_dir, tmp_path / "misfit", hidden_size=10_000_000)
    with pytest.raises(CheckpointError, match="does not belong to these weights"):
        pipeline("surgical-video-mapping", model=misfit)
    assert not os.path.exists(pickled["marker"])
