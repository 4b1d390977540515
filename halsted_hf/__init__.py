"""Halsted: a vision-language model and platform that maps surgery from video.

`import halsted_hf` registers the model with transformers' Auto classes (AutoConfig, AutoModel,
AutoModelForImageTextToText, AutoTokenizer, AutoProcessor), so `AutoModel.from_pretrained(path)` works without `trust_remote_code` where this package is installed.
"""

from .model import (HALSTED_TAXONOMY, HalstedConfig, HalstedForConditionalGeneration, HalstedPreTrainedModel,
                    HalstedProcessor, HalstedTokenizer, Taxonomy, load_taxonomy, tiny_config)

__version__ = "0.1.0"

try:  # registers the "surgical-video-mapping" pipeline with transformers
    from .mapping import pipeline as _pipeline  # noqa: F401
except ImportError:  # a transformers build without pipelines
    pass


def __getattr__(name):  # heavy, optional parts load on first use
    if name == "map_video":
        from .mapping.workflow import map_video
        return map_video
    if name == "Timeline":
        from .mapping.timeline import Timeline
        return Timeline
    if name in ("load_pretrained", "DEMO_MODEL_PATH"):
        from .model import hub
        return getattr(hub, name)
    raise AttributeError(name)


__all__ = ["HalstedConfig", "HalstedForConditionalGeneration", "HalstedPreTrainedModel", "HalstedProcessor",
           "HalstedTokenizer", "Taxonomy", "HALSTED_TAXONOMY", "load_taxonomy", "tiny_config"]
