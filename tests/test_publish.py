"""`halsted publish` / `halsted publish-space`: the dry run writes exactly what a push uploads, and
that folder works for someone who has only transformers (no halsted_hf) installed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from halsted_hf.cli import main

# Run in a fresh interpreter where `import halsted_hf` fails, as on a machine with only transformers.
NO_HALSTED = textwrap.dedent("""
    import sys
    from importlib.abc import MetaPathFinder

    class BlockHalsted(MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "halsted_hf" or name.startswith("halsted_hf."):
                raise ImportError(f"{name} is blocked: this process must work without halsted_hf")
            return None

    sys.meta_path.insert(0, BlockHalsted())
    try:
        import halsted_hf  # noqa: F401
    except ImportError:
        pass
    else:
        raise SystemExit("halsted_hf was importable")
""")

GENERATE = NO_HALSTED + textwrap.dedent("""
    import json, numpy as np, torch
    from transformers import AutoModel, AutoProcessor

    folder = sys.argv[1]
    model = AutoModel.from_pretrained(folder, trust_remote_code=True).eval()
    processor = AutoProcessor.from_pretrained(folder, trust_remote_code=True)
    assert "halsted_hf" not in sys.modules
    frames = np.random.default_rng(0).integers(0, 255, (16, 48, 64, 3), dtype=np.uint8)
    inputs = processor(videos=frames, text="map suturing activity", return_tensors="pt")
    with torch.no_grad():
        out = model.generate(**inputs)
    print(json.dumps({"module": type(model).__module__, "tags": out.tags, "scores": out.scores}))
""")


@pytest.fixture(scope="module")
def model_dry_run(tiny_model_dir, tmp_path_factory):
    import shutil

    base = tmp_path_factory.mktemp("publish")
    model_dir = base / "trained"
    shutil.copytree(tiny_model_dir, model_dir)
    with open(model_dir / "README.md", "a", encoding="utf-8") as f:  # as training adds its evaluation
        f.write("\n## Evaluation\nsuturing phase accuracy 0.42 (synthetic test split)\n")
    out = base / "repo"
    assert main(["publish", str(model_dir), "--repo-id", "surg-lab/halsted-tiny", "--dry-run", str(out)]) == 0
    return out


def test_model_dry_run_holds_weights_tokenizer_processor_code_and_card(model_dry_run):
    names = {p.name for p in model_dry_run.iterdir()}
    assert {"config.json", "model.safetensors", "README.md", "processor_config.json"} <= names or \
        {"config.json", "model.safetensors", "README.md", "preprocessor_config.json"} <= names, names
    assert {"configuration_halsted.py", "modeling_halsted.py", "processing_halsted.py",
            "tokenization_halsted.py", "taxonomy.py"} <= names, names
    assert not any(n.startswith(".") or n == "__pycache__" for n in names), names
    card = (model_dry_run / "README.md").read_text()
    assert card.startswith("---\n") and "library_name: transformers" in card
    assert 'from_pretrained("surg-lab/halsted-tiny", trust_remote_code=True)' in card
    assert 'model="surg-lab/halsted-tiny", trust_remote_code=True)' in card  # the pipeline line too
    assert "phase accuracy 0.42" in card  # the checkpoint's own notes survive


def test_dry_run_folder_loads_and_generates_without_halsted_hf(model_dry_run, tmp_path):
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_MODULES_CACHE=str(tmp_path / "modules"), PYTHONPATH="")
    proc = subprocess.run([sys.executable, "-c", GENERATE, str(model_dry_run)], cwd=str(tmp_path), env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["module"].startswith("transformers_modules"), result["module"]  # the Hub's copy of the code
    tags = result["tags"][0]
    assert set(tags) <= {"phase", "proficiency"} and tags, tags  # the suturing task's grammar
    assert all(0.0 <= p <= 1.0 for p in result["scores"][0].values())


def test_dry_run_refuses_a_non_empty_folder_and_bad_repo_ids(tiny_model_dir, tmp_path, capsys):
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    assert main(["publish", tiny_model_dir, "--repo-id", "a/b", "--dry-run", str(busy)]) == 2
    assert "not an empty folder" in capsys.readouterr().err
    assert (busy / "keep.txt").read_text() == "mine"
    assert main(["publish", tiny_model_dir, "--repo-id", "no-slash", "--dry-run", str(tmp_path / "x")]) == 2
    assert "ORG/NAME" in capsys.readouterr().err
    assert main(["publish", str(tmp_path / "nothing"), "--repo-id", "a/b", "--dry-run", str(tmp_path / "y")]) == 2
    err = capsys.readouterr().err
    assert "no model folder" in err and "Traceback" not in err
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()  # nothing half-written
    assert not [p for p in tmp_path.iterdir() if ".part-" in p.name]


def _error_lines(text: str):
    return [line for line in text.splitlines() if line.startswith("halsted ") or "Traceback" in line]


def test_push_without_network_or_token_fails_with_one_clear_line(tiny_model_dir, monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # no stored login
    monkeypatch.delenv("HF_TOKEN", raising=False)
    assert main(["publish", tiny_model_dir, "--repo-id", "surg-lab/halsted-tiny"]) == 2
    err = capsys.readouterr().err
    assert "no Hugging Face token" in err and len(_error_lines(err)) == 1, err
    assert main(["publish", tiny_model_dir, "--repo-id", "surg-lab/halsted-tiny", "--token", "hf_x"]) == 2
    err = capsys.readouterr().err
    assert len(_error_lines(err)) == 1 and "Traceback" not in err, err
    assert "offline" in err or "cannot reach" in err, err


def test_space_dry_run_holds_app_front_matter_requirements_and_package(tmp_path):
    out = tmp_path / "space"
    assert main(["publish-space", "--repo-id", "surg-lab/halsted", "--model-repo", "surg-lab/halsted-tiny",
                 "--dry-run", str(out)]) == 0
    for name in ("app.py", "README.md", "requirements.txt", "packages.txt", "halsted_hf/__init__.py",
                 "halsted_hf/mapping/workflow.py", "halsted_hf/model/modeling_halsted.py"):
        assert (out / name).is_file(), name
    assert not list(out.rglob("__pycache__"))
    readme = (out / "README.md").read_text()
    front = readme.split("---\n")[1]
    fields = {line.split(":")[0] for line in front.splitlines() if line and not line.startswith(("-", " "))}
    assert {"title", "emoji", "colorFrom", "colorTo", "sdk", "sdk_version", "app_file", "models",
            "suggested_hardware", "license"} <= fields, fields
    assert "sdk: gradio" in front and "app_file: app.py" in front
    assert "models:\n- surg-lab/halsted-tiny" in front
    reqs = [line.split("==")[0].strip() for line in (out / "requirements.txt").read_text().splitlines()
            if line.strip() and not line.startswith("#")]
    assert "torch" in reqs and "transformers" in reqs and "halsted-hf" not in reqs
    torch_pin = next(line for line in (out / "requirements.txt").read_text().splitlines()
                     if line.startswith("torch=="))
    major, minor = (int(x) for x in torch_pin.split("==")[1].split(".")[:2])
    assert (2, 8) <= (major, minor) <= (2, 11), torch_pin  # what ZeroGPU supports
    # The app's source compiles as shipped.
    compile((out / "app.py").read_text(), "app.py", "exec")
