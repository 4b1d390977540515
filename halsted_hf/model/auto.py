"""Registers the Halsted model with transformers' Auto classes. Imported by _autoregister.py right after
transformers (so `AutoModel.from_pretrained(folder)` finds the model without trust_remote_code), never by
the package's `__init__`: importing `halsted_hf.model.taxonomy` must not load torch."""

from transformers import AutoConfig, AutoModel, AutoProcessor, AutoTokenizer

from .configuration_efficientnet_lite import EfficientNetLiteConfig
from .configuration_halsted import HalstedConfig
from .modeling_efficientnet_lite import EfficientNetLiteForImageClassification, EfficientNetLiteModel
from .modeling_halsted import HalstedForConditionalGeneration
from .processing_halsted import HalstedProcessor
from .tokenization_halsted import HalstedTokenizer


def register() -> None:
    AutoConfig.register("halsted", HalstedConfig, exist_ok=True)
    AutoModel.register(HalstedConfig, HalstedForConditionalGeneration, exist_ok=True)
    try:
        from transformers import AutoModelForImageTextToText
        AutoModelForImageTextToText.register(HalstedConfig, HalstedForConditionalGeneration, exist_ok=True)
    except (ImportError, ValueError):
        pass
    AutoTokenizer.register(HalstedConfig, slow_tokenizer_class=HalstedTokenizer, exist_ok=True)
    AutoProcessor.register(HalstedConfig, HalstedProcessor, exist_ok=True)
    # save_pretrained then writes `auto_map` and copies the model files flat (the Hub layout).
    HalstedConfig.register_for_auto_class()
    HalstedForConditionalGeneration.register_for_auto_class("AutoModel")
    HalstedTokenizer.register_for_auto_class("AutoTokenizer")
    HalstedProcessor.register_for_auto_class("AutoProcessor")
    # The frame encoder saved on its own (save_pretrained) also loads with AutoModel / trust_remote_code.
    # (Its AutoConfig/AutoModel registration happens in its own files, so remote code gets it too.)
    EfficientNetLiteConfig.register_for_auto_class()
    EfficientNetLiteModel.register_for_auto_class("AutoModel")
    EfficientNetLiteForImageClassification.register_for_auto_class("AutoModelForImageClassification")


register()
