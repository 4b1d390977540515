"""Registers the Halsted model with transformers' Auto classes (AutoConfig, AutoModel,
AutoModelForImageTextToText, AutoTokenizer, AutoProcessor), so `AutoModel.from_pretrained(path)` works without
`trust_remote_code` wherever halsted_hf is installed. Imported by halsted_hf._autoregister right after
transformers itself, never by `import halsted_hf.model` (which stays light: see __init__.py).
"""

from transformers import AutoConfig, AutoModel, AutoProcessor, AutoTokenizer

from .configuration_efficientnet_lite import EfficientNetLiteConfig, efficientnet_lite_config
from .configuration_halsted import HalstedConfig, frame_encoder_config, tiny_config
from .modeling_efficientnet_lite import EfficientNetLiteForImageClassification, EfficientNetLiteModel
from .modeling_halsted import HalstedForConditionalGeneration, HalstedPreTrainedModel
from .processing_halsted import HalstedProcessor
from .taxonomy import HALSTED_TAXONOMY, Taxonomy, load_taxonomy
from .tokenization_halsted import HalstedTokenizer


def _register() -> None:
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


_register()

__all__ = ["HalstedConfig", "HalstedForConditionalGeneration", "HalstedPreTrainedModel", "HalstedProcessor",
           "HalstedTokenizer", "Taxonomy", "HALSTED_TAXONOMY", "load_taxonomy", "tiny_config", "frame_encoder_config",
           "EfficientNetLiteConfig", "EfficientNetLiteModel", "EfficientNetLiteForImageClassification",
           "efficientnet_lite_config"]
