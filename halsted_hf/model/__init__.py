"""The Halsted model: the Hub files (configuration, modeling, tokenization, processing, taxonomy, and the
EfficientNet-Lite frame encoder's configuration and modeling), the registry of named models (registry.py),
loading (hub.py), the model card and the converters (VideoMAEv2 checkpoints; the registry's pretrained
EfficientNet-Lite weights).

Importing this package is light (PEP 562): the names below load their module on first use, so
`halsted_hf.model.taxonomy` loads neither torch nor transformers. The model registers with transformers'
Auto classes (AutoConfig, AutoModel, AutoModelForImageTextToText, AutoTokenizer, AutoProcessor) as soon as
transformers is imported (auto.py, run by halsted_hf/_autoregister.py), so `AutoModel.from_pretrained(path)`
works without `trust_remote_code` wherever halsted_hf is imported. The Hub files import each other
relatively and nothing outside this folder, so `save_pretrained` copies them flat (the Hub layout).
"""

import importlib

# public name -> the module of this folder that defines it, imported on first use
_LAZY = {
    "EfficientNetLiteConfig": "configuration_efficientnet_lite",
    "efficientnet_lite_config": "configuration_efficientnet_lite",
    "HalstedConfig": "configuration_halsted",
    "frame_encoder_config": "configuration_halsted",
    "tiny_config": "configuration_halsted",
    "EfficientNetLiteForImageClassification": "modeling_efficientnet_lite",
    "EfficientNetLiteModel": "modeling_efficientnet_lite",
    "HalstedForConditionalGeneration": "modeling_halsted",
    "HalstedPreTrainedModel": "modeling_halsted",
    "HalstedProcessor": "processing_halsted",
    "HALSTED_TAXONOMY": "taxonomy",
    "Taxonomy": "taxonomy",
    "load_taxonomy": "taxonomy",
    "HalstedTokenizer": "tokenization_halsted",
}

__all__ = sorted(_LAZY)


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if _LAZY[name] != "taxonomy":  # the taxonomy is plain Python: reading it must not load torch
        importlib.import_module(".auto", __name__)  # transformers first, then the Auto classes registered
    value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
