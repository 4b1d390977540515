"""Loading and writing Halsted checkpoints (local folders in the Hub layout, or Hub ids), and building a
random model from a config preset.

Which model a name means is decided in registry.py, and every front end (CLI, SDK, dashboard, Space) goes
through `registry.create`, which calls the functions here: a missing or broken checkpoint gives the same clear
message everywhere. This module never imports the registry (the registry sits above it).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Union

import torch

from ..core.errors import CheckpointError, DeviceError
from . import auto  # noqa: F401  (transformers, then the Auto classes registered, before any Hub file)

PACKAGE_DIR = Path(__file__).resolve().parent.parent  # halsted_hf/ (this file is in halsted_hf/model/)


def check_device(device: Union[None, int, str, torch.device]) -> torch.device:
    """The torch.device for `device` ("cpu", "cuda", "cuda:1", 0, -1 = cpu), or a one-line DeviceError
    when torch does not know the name or this machine lacks it: torch's own errors are tracebacks."""
    if device is None or (isinstance(device, int) and device < 0):
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise DeviceError(f"unknown device {device!r}: use cpu, cuda or cuda:N") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            why = "this torch is built without CUDA" if torch.version.cuda is None else "no GPU is visible"
            raise DeviceError(f"device {device!r}: CUDA is not available ({why}); use --device cpu")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise DeviceError(f"device {device!r}: this machine has {torch.cuda.device_count()} CUDA device(s), "
                              f"numbered from 0; use cuda:0")
    elif dev.type == "mps" and not torch.backends.mps.is_available():
        raise DeviceError(f"device {device!r}: MPS is not available on this machine; use --device cpu")
    elif dev.type not in ("cpu", "cuda", "mps"):
        raise DeviceError(f"device {device!r} is not supported: use cpu, cuda or cuda:N")
    return dev


def checkpoint_error(name: str, err: BaseException) -> Optional[CheckpointError]:
    """A one-line CheckpointError for a weights file that cannot be read (cut short, overwritten,
    not safetensors), or None when `err` is something else."""
    from safetensors import SafetensorError

    if isinstance(err, SafetensorError) or "safetensors" in type(err).__module__:
        return CheckpointError(f"{name!r}: the weights file cannot be read ({str(err).splitlines()[0]}); it is "
                               f"damaged or incomplete: download or copy the model again")
    return None


def load_folder(name: str, device: Union[str, torch.device] = "cpu", dtype: Optional[torch.dtype] = None,
                revision: Optional[str] = None, trust_remote_code: bool = False, local: bool = True):
    """-> (model in eval mode, processor) from a saved folder (`local`) or a Hub id, as registry.create resolved
    it. The folder's own code runs only with `trust_remote_code=True`; weights are read only from safetensors,
    and a local folder's config is checked against them first (safety.py)."""
    from .safety import check_folder

    device = check_device(device)
    if local:
        if not os.path.isdir(name):
            what = "it is not a folder" if os.path.exists(name) else "nothing is there"
            raise CheckpointError(f"no model folder at {name!r} ({what}): pass a folder written by "
                                  f"save_pretrained or `halsted init-model`, or a Hub id such as ORG/NAME")
        if not os.path.exists(os.path.join(name, "config.json")):
            raise CheckpointError(f"{name!r} has no config.json: it is not a saved Halsted model")
        check_folder(name, trust_remote_code=bool(trust_remote_code))
    net, processor = _from_pretrained(name, revision, dtype, bool(trust_remote_code))
    if processor.tokenizer.get_vocab() != {w: i for i, w in enumerate(net.taxonomy.vocabulary())}:
        raise CheckpointError(f"{name!r}: the tokenizer's vocabulary does not match the model's taxonomy")
    return net.to(device).eval(), processor


def _from_pretrained(name: str, revision: Optional[str], dtype, trust_remote_code: bool):
    """transformers' loading with the two safety switches passed explicitly (left at None, transformers asks
    in a terminal whether to run a folder's code, and falls back to pickle weights); its errors as one line."""
    from transformers import AutoModel, AutoProcessor

    from .safety import trust_option_hint

    safe = dict(revision=revision, trust_remote_code=trust_remote_code)
    try:
        net = AutoModel.from_pretrained(name, dtype=dtype or torch.float32, use_safetensors=True, **safe)
        processor = AutoProcessor.from_pretrained(name, **safe)
    except OSError as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        offline = "" if os.path.isdir(name) else " (offline? set HF_HUB_OFFLINE=1 and pass a local folder)"
        raise CheckpointError(f"could not load the model {name!r}: {first}{offline}") from err
    except (ValueError, KeyError) as err:
        text = " ".join(str(err).split())
        if "custom code" in text or "trust_remote_code" in text:
            raise CheckpointError(f"{name!r} needs its own code to load; {trust_option_hint()}") from err
        raise CheckpointError(f"{name!r} is not a loadable Halsted checkpoint: {text[:300]}") from err
    except Exception as err:  # noqa: BLE001  (only unreadable weights are the user's to fix; the rest is a bug)
        clear = checkpoint_error(name, err)
        if clear is None:
            raise
        raise clear from err
    return net, processor


def model_revision(model_dir: str) -> str:
    """A short content id of the weights, recorded in Timelines so results say which model made them. A folder
    without safetensors weights has no id (it would be the id of nothing, the same for every such model):
    the same one line as loading it."""
    import hashlib

    from .safety import weight_files

    if not os.path.isdir(model_dir):
        return "hub"
    digest = hashlib.sha256()
    for fname in weight_files(model_dir):
        with open(os.path.join(model_dir, fname), "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()[:12]


def build_model(preset: str = "tiny", seed: int = 0, **overrides):
    """A randomly initialised model and its processor for a config preset: "tiny" | "paper" (VideoMAE towers) or
    "lite0" | "lite1" | "lite2" (EfficientNet-Lite frame encoders; `halsted convert-backbone` loads their
    pretrained weights). The processor's frame count, size and normalisation come from `config.vision_config`.
    (`registry.create` builds a registered name's preset and loads its pretrained backbone.)"""
    from .configuration_halsted import PRESETS
    from .modeling_halsted import HalstedForConditionalGeneration
    from .processing_halsted import IMAGENET_MEAN, IMAGENET_STD, HalstedProcessor
    from .tokenization_halsted import HalstedTokenizer

    if preset not in PRESETS:
        raise CheckpointError(f"unknown preset {preset!r}: choose one of {', '.join(PRESETS)}")
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
    """Weights, config, tokenizer, processor, the model code (flat, for trust_remote_code), the stand-alone
    pipeline that config.json's `custom_pipelines` names (pipeline_halsted.py) and a card."""
    from .model_card import write_model_card

    os.makedirs(out_dir, exist_ok=True)
    model.save_pretrained(out_dir)  # with the pipeline and the companion files (hub_companions.py)
    processor.save_pretrained(out_dir)
    write_model_card(out_dir, model.config, extra=card, model=model)
    return out_dir
