"""Shared fixtures. Everything here is real: small models built and saved locally, real video files."""

from __future__ import annotations

import os
import warnings

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # no Hub on these machines: fail fast, never hang
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
warnings.filterwarnings("ignore", category=FutureWarning)

SHARED = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "shared"))
CHOLECT50_MINI = os.path.join(SHARED, "data", "cholect50-val-mini")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A randomly initialised tiny model saved in the Hub layout (config, weights, tokenizer, processor, code)."""
    from halsted_hf.model.hub import build_model, save_hub_layout

    out = tmp_path_factory.mktemp("tiny-model")
    model, processor = build_model("tiny", seed=0)
    save_hub_layout(model, processor, str(out))
    return str(out)


@pytest.fixture(scope="session")
def unreliable_model(tiny_model_dir, tmp_path_factory):
    """The tiny model with a reliability record that marks four tags not reliable (helpers.RELIABILITY_RECORD)."""
    import json
    import shutil

    from helpers import RELIABILITY_RECORD

    from halsted_hf.mapping.reliability import RELIABILITY_FILE

    folder = tmp_path_factory.mktemp("unreliable") / "tiny-unreliable"
    shutil.copytree(tiny_model_dir, folder)
    (folder / RELIABILITY_FILE).write_text(json.dumps(RELIABILITY_RECORD), encoding="utf-8")
    return str(folder)


@pytest.fixture(scope="session")
def lite_model_dir(tmp_path_factory):
    """A starting model from the real registry weights (`halsted convert-backbone efficientnet-lite0`): the
    pretrained EfficientNet-Lite0 frame encoder, a random temporal module and decoder; 4 frames of 64 px."""
    from halsted_hf.model.convert_backbone import convert_backbone

    out = tmp_path_factory.mktemp("lite0-model")
    convert_backbone("efficientnet-lite0", str(out), seed=0, vision_config={"num_frames": 4, "image_size": 64})
    return str(out)


@pytest.fixture(scope="session")
def make_video():
    """The one video-making fixture: `make_video(path, seconds, size=..., rate=..., pattern=...)`
    (tests/helpers.py)."""
    from helpers import make_video as maker

    return maker


@pytest.fixture(scope="session")
def videos(tmp_path_factory):
    """Two different tiny videos, and files that are not videos."""
    from helpers import make_video as maker

    d = tmp_path_factory.mktemp("platform-videos")
    text = d / "notes.mp4"
    text.write_text("this is a text file named .mp4\n")
    empty = d / "empty.mp4"
    empty.write_bytes(b"")
    return {
        "a": maker(d / "case-a.mp4", 3.0, pattern="testsrc"),
        "b": maker(d / "case-b.mp4", 2.0, pattern="testsrc2"),
        "text": text,
        "empty": empty,
    }


@pytest.fixture
def platform(tmp_path, monkeypatch):
    """A real platform: a SQLite file migrated by Alembic under tmp_path, argon2 at its cheapest cost."""
    from helpers import cheap_argon2, new_platform

    monkeypatch.setattr("halsted_hf.platform.accounts._hasher", cheap_argon2())
    p = new_platform(tmp_path / "data")
    yield p
    p.dispose()


@pytest.fixture
def alice(platform):
    from helpers import PASSWORD

    return platform.sign_up("alice@example.org", "Alice", PASSWORD)


@pytest.fixture
def bob(platform):
    from helpers import PASSWORD

    return platform.sign_up("bob@example.org", "Bob", PASSWORD)


@pytest.fixture
def app_platform(tmp_path, monkeypatch):
    """The platform the Streamlit app will open (same environment variables), with cheap argon2 for speed."""
    from helpers import cheap_argon2

    from halsted_hf.platform import Platform, Settings

    monkeypatch.setattr("halsted_hf.platform.accounts._hasher", cheap_argon2())
    monkeypatch.setenv("HALSTED_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("HALSTED_MODEL", str(tmp_path / "no-model"))
    monkeypatch.setenv("HALSTED_DEIDENTIFY", "0")  # uploads as they are; de-identification: test_platform_deid.py
    for name in ("HALSTED_DATABASE_URL", "HALSTED_SPACE", "HALSTED_DEMO_HINT"):
        monkeypatch.delenv(name, raising=False)
    p = Platform(Settings.from_env())
    yield p
    p.dispose()


@pytest.fixture(scope="session")
def oob_classifier(tmp_path_factory):
    """A small out-of-body classifier built from real CholecT50 frames (`fit_out_of_body(quick=True)`), also set as
    $HALSTED_OUT_OF_BODY for the commands the tests start. The measured one is built by `halsted fit-out-of-body`."""
    from halsted_hf.deid.fit import fit_out_of_body

    if not os.path.isdir(CHOLECT50_MINI):
        pytest.fail(f"{CHOLECT50_MINI} is missing: clone the repository beside shared/ "
                    "(CC BY-NC-SA data, not in the repo)")
    out = str(tmp_path_factory.mktemp("out-of-body"))
    fit_out_of_body(out, cholect50=CHOLECT50_MINI, quick=True, log=lambda line: None)
    previous = os.environ.get("HALSTED_OUT_OF_BODY")
    os.environ["HALSTED_OUT_OF_BODY"] = out
    yield out
    if previous is None:
        os.environ.pop("HALSTED_OUT_OF_BODY", None)
    else:
        os.environ["HALSTED_OUT_OF_BODY"] = previous
