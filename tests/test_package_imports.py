"""The package imports light: `halsted_hf`, its errors, the CLI table, the mapping registry and the
platform's database layer load neither torch nor transformers (so `halsted --help` and a refused bad
file answer at once); the model still registers with transformers as soon as transformers is imported."""

from __future__ import annotations

import subprocess
import sys
import textwrap

HEAVY = ("torch", "transformers")


def _python(code: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=300)


def _imported_by_importtime(stderr: str) -> set:
    """Top-level package names in `python -X importtime`'s report."""
    names = set()
    for line in stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    return names


def test_light_modules_import_no_torch_or_transformers():
    res = _python("""
        import sys
        import halsted_hf, halsted_hf.core.errors, halsted_hf.cli, halsted_hf.core.mappings
        import halsted_hf.platform.db, halsted_hf.platform.tables
        halsted_hf.cli.build_parser()  # the CLI table, every command listed
        print(sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "transformers")))
    """)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[]"


def test_cli_import_shows_no_torch_in_importtime():
    res = _python("import halsted_hf.cli", "-X", "importtime")
    assert res.returncode == 0, res.stderr
    imported = _imported_by_importtime(res.stderr)
    assert "halsted_hf" in imported  # the report was read
    assert not imported & set(HEAVY), imported & set(HEAVY)


def test_help_and_an_empty_file_are_answered_without_torch(tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    for argv, code, text in ((["--help"], 0, "COMMAND"), (["map", str(empty)], 2, "the file is empty")):
        res = subprocess.run([sys.executable, "-X", "importtime", "-m", "halsted_hf.cli", *argv],
                             capture_output=True, text=True, timeout=300)
        assert res.returncode == code and text in res.stdout + res.stderr, (argv, res.stdout, res.stderr[-2000:])
        assert not _imported_by_importtime(res.stderr) & set(HEAVY), argv


def test_public_names_resolve_lazily_and_importing_the_model_registers():
    res = _python("""
        import sys
        import halsted_hf
        assert "torch" not in sys.modules
        config = halsted_hf.HalstedConfig  # loads halsted_hf.model, which registers
        from transformers import AutoConfig
        assert type(AutoConfig.for_model("halsted")) is config
        print(halsted_hf.map_video.__module__, halsted_hf.Timeline.__module__)
    """)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["halsted_hf.mapping.workflow", "halsted_hf.mapping.timeline"]


def test_after_import_halsted_hf_auto_classes_and_the_pipeline_task_know_the_model(tiny_model_dir):
    """The documented use: `import halsted_hf`, then plain transformers, no trust_remote_code."""
    res = _python(f"""
        import halsted_hf
        from transformers import AutoModel, AutoProcessor
        model = AutoModel.from_pretrained({tiny_model_dir!r})
        processor = AutoProcessor.from_pretrained({tiny_model_dir!r})
        from transformers.pipelines import PIPELINE_REGISTRY
        print(type(model).__module__, type(processor).__name__,
              "surgical-video-mapping" in PIPELINE_REGISTRY.get_supported_tasks())
    """)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["halsted_hf.model.modeling_halsted", "HalstedProcessor", "True"]


def test_transformers_imported_first_then_halsted_hf_registers_at_once(tiny_model_dir):
    res = _python(f"""
        from transformers import AutoModel
        import halsted_hf
        print(type(AutoModel.from_pretrained({tiny_model_dir!r})).__name__)
    """)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "HalstedForConditionalGeneration"


def test_taxonomy_probe_and_errors_import_neither_torch_nor_pyav():
    """halsted_hf.model and halsted_hf.video are lazy packages (PEP 562): reading the taxonomy or probing a
    file loads no model code and no decoder; a decoding name loads PyAV when it is first used."""
    res = _python("""
        import sys
        import halsted_hf.model.taxonomy, halsted_hf.video.probe, halsted_hf.core.errors, halsted_hf.video.windows
        from halsted_hf.model import HALSTED_TAXONOMY, load_taxonomy
        from halsted_hf.video import probe_video, plan_windows, clip_timestamps
        assert HALSTED_TAXONOMY.task_names and callable(probe_video)
        print(sorted({m.split(".")[0] for m in sys.modules} & {"torch", "transformers", "av"}), end=" ")
        from halsted_hf.video import iter_windows
        print("av" in sys.modules)
    """)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["[]", "True"]


def test_a_model_file_imported_first_still_registers_with_the_auto_classes():
    """configuration_halsted.py imports transformers at its top, half-way through its own import: the
    registration waits until it has finished, then happens (auto.py), as it does for every other entry."""
    res = _python("""
        import halsted_hf.model.configuration_halsted as c
        from transformers import AutoConfig, AutoModel
        from halsted_hf.model import HalstedConfig
        assert HalstedConfig is c.HalstedConfig
        print(type(AutoConfig.for_model("halsted")).__name__, AutoModel._model_mapping[HalstedConfig].__name__)
    """)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["HalstedConfig", "HalstedForConditionalGeneration"]


def test_unknown_names_of_the_lazy_packages_raise_attribute_error():
    import halsted_hf.model
    import halsted_hf.video

    for package in (halsted_hf.model, halsted_hf.video):
        assert "probe_video" in dir(halsted_hf.video) and "HalstedConfig" in dir(halsted_hf.model)
        try:
            package.no_such_name
        except AttributeError as err:
            assert "no_such_name" in str(err)
        else:
            raise AssertionError(f"{package.__name__}.no_such_name resolved")
