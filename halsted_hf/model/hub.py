"""Loading and writing Halsted checkpoints (local folders in the Hub layout, or Hub ids).

Every front end (CLI, SDK, dashboard, Space) loads through `load_pretrained`, so a missing or broken
checkpoint gives the same clear message everywhere.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Tuple, Union

import torch

from ..errors import CheckpointError

PACKAGE_DIR = Path(__file__).resolve().parent.parent  # halsted_hf/ (this file is in halsted_hf/model/)
# The demo checkpoint ships inside the package: a small model trained on synthetic surgery (see its card).
DEMO_MODEL_PATH = str(PACKAGE_DIR / "assets" / "demo-model")
DEFAULT_MODEL = os.environ.get("HALSTED_MODEL", DEMO_MODEL_PATH)


def resolve_model_path(model: Optional[str]) -> str:
    return model or os.environ.get("HALSTED_MODEL") or DEMO_MODEL_PATH


def _looks_like_hub_id(name: str) -> bool:
    return name.count("/") == 1 and not name.startswith((".", "/", "~")) and not os.path.exists(name)


def load_pretrained(model: Optional[str] = None, device: Union[str, torch.device] = "cpu",
                    dtype: Optional[torch.dtype] = None, revision: Optional[str] = None):
    """-> (model in eval mode, processor). `model`: a folder, a Hub id, or None for the demo checkpoint."""
    from transformers import AutoModel, AutoProcessor

    from . import HalstedForConditionalGeneration  # noqa: F401  (registers the Auto classes)

    name = resolve_model_path(model)
    if not _looks_like_hub_id(name):
        if not os.path.isdir(name):
            raise CheckpointError(f"no model folder at {name!r}: pass a folder written by save_pretrained or "
                                  f"`halsted init-model`, or a Hub id such as ORG/NAME")
        if not os.path.exists(os.path.join(name, "config.json")):
            raise CheckpointError(f"{name!r} has no config.json: it is not a saved Halsted model")
    try:
        net = AutoModel.from_pretrained(name, revision=revision, dtype=dtype or torch.float32)
        processor = AutoProcessor.from_pretrained(name, revision=revision)
    except OSError as err:
        raise CheckpointError(f"could not load the model {name!r}: {str(err).splitlines()[0]} "
                              f"(offline? set HF_HUB_OFFLINE=1 and pass a local folder)") from err
    except (ValueError, KeyError) as err:
        raise CheckpointError(f"{name!r} is not a loadable Halsted checkpoint: {err}") from err
    if processor.tokenizer.get_vocab() != {w: i for i, w in enumerate(net.taxonomy.vocabulary())}:
        raise CheckpointError(f"{name!r}: the tokenizer's vocabulary does not match the model's taxonomy")
    return net.to(device).eval(), processor


def model_revision(model_dir: str) -> str:
    """A short content id of the weights, recorded in Timelines so results say which model made them."""
    import hashlib

    digest = hashlib.sha256()
    for fname in sorted(os.listdir(model_dir)) if os.path.isdir(model_dir) else []:
        if fname.endswith(".safetensors"):
            with open(os.path.join(model_dir, fname), "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    digest.update(chunk)
    return digest.hexdigest()[:12] if os.path.isdir(model_dir) else "hub"


def build_model(preset: str = "tiny", seed: int = 0, **overrides):
    """A randomly initialised model and its processor for a preset: "tiny" | "paper" (VideoMAE towers) or
    "lite0" | "lite1" | "lite2" (EfficientNet-Lite frame encoders; `halsted convert-backbone` loads their
    pretrained weights). The processor's frame count, size and normalisation come from `config.vision_config`."""
    from .configuration_halsted import PRESETS
    from .modeling_halsted import HalstedForConditionalGeneration
    from .processing_halsted import IMAGENET_MEAN, IMAGENET_STD, HalstedProcessor
    from .tokenization_halsted import HalstedTokenizer

    if preset not in PRESETS:
        raise CheckpointError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
    config = PRESETS[preset](**overrides)
    torch.manual_seed(seed)
    model = HalstedForConditionalGeneration(config).eval()
    processor = HalstedProcessor(HalstedTokenizer(taxonomy=config.taxonomy),
                                 num_frames=config.vision_config.num_frames,
                                 image_size=config.vision_config.image_size,
                                 image_mean=getattr(config.vision_config, "image_mean", None) or IMAGENET_MEAN,
                                 image_std=getattr(config.vision_config, "image_std", None) or IMAGENET_STD,
                                 num_instruction_slots=config.num_instruction_slots, taxonomy=config.taxonomy)
    return model, processor


def save_hub_layout(model, processor, out_dir: str, card: Optional[str] = None) -> str:
    """Weights, config, tokenizer, processor, the model code (flat, for trust_remote_code) and a card."""
    from .model_card import write_model_card

    os.makedirs(out_dir, exist_ok=True)
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    write_model_card(out_dir, model.config, extra=card, model=model)
    return out_dir
