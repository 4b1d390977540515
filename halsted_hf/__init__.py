"""Halsted: a vision-language model and platform that maps surgery from video.

`import halsted_hf` registers the model with transformers' Auto classes (AutoConfig, AutoModel,
AutoModelForImageTextToText, AutoTokenizer, AutoProcessor), so `AutoModel.from_pretrained(path)` works without `trust_remote_code` where this package is installed.
"""

from transformers import AutoConfig, AutoModel, AutoProcessor, AutoTokenizer

from .configuration_efficientnet_lite import EfficientNetLiteConfig, efficientnet_lite_config
from .configuration_halsted import HalstedConfig, frame_encoder_config, tiny_config
from .modeling_efficientnet_lite import EfficientNetLiteForImageClassification, EfficientNetLiteModel
from .modeling_halsted import HalstedForConditionalGeneration, HalstedPreTrainedModel
from .processing_halsted import HalstedProcessor
from .taxonomy import HALSTED_TAXONOMY, Taxonomy, load_taxonomy
from .tokenization_halsted import HalstedTokenizer

__version__ = "0.1.0"


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
    EfficientNetLiteConfig.register_for_auto_class()
    EfficientNetLiteModel.register_for_auto_class("AutoModel")
    EfficientNetLiteForImageClassification.register_for_auto_class("AutoModelForImageClassification")


_register()

try:  # registers the "surgical-video-mapping" pipeline with transformers
    from . import pipeline as _pipeline  # noqa: F401
except ImportError:  # a transformers build without pipelines
    pass


def __getattr__(name):  # heavy, optional parts load on first use
    if name == "map_video":
        from .workflow import map_video
        return map_video
    if name == "Timeline":
        from .timeline import Timeline
        return Timeline
    if name in ("load_pretrained", "DEMO_MODEL_PATH"):
        from . import hub
        return getattr(hub, name)
    raise AttributeError(name)


__all__ = ["HalstedConfig", "HalstedForConditionalGeneration", "HalstedPreTrainedModel", "HalstedProcessor",
           "HalstedTokenizer", "Taxonomy", "HALSTED_TAXONOMY", "load_taxonomy", "tiny_config", "frame_encoder_config",
           "EfficientNetLiteConfig", "EfficientNetLiteModel", "EfficientNetLiteForImageClassification",
           "efficientnet_lite_config"]
