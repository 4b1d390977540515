"""Halsted: a vision-language model and platform that maps surgery from video.

`import halsted_hf` is light: it loads neither torch nor transformers. The public names below load
their module on first use (PEP 562). The model registers with transformers' Auto classes (AutoConfig,
AutoModel, AutoModelForImageTextToText, AutoTokenizer, AutoProcessor) and the "surgical-video-mapping"
pipeline task as soon as transformers is imported, so after `import halsted_hf`,
`AutoModel.from_pretrained(path)` works without `trust_remote_code` (see _autoregister.py).
"""

import importlib
import os

# One answer per video whatever the CPU: torch's matrix products go through MKL, which picks its kernels by the
# CPU's vendor and instruction set, so the same weights can round differently on an Intel and an AMD machine,
# and a near-tie in greedy decoding then flips a tag. MKL's reproducible branch gives the same result on every
# x86 CPU; it must be chosen before MKL's first call, so here, before anything imports torch. Large products run
# up to 2.5x slower in it (a frame-encoder model maps no slower: its backbone is oneDNN's); MKL_CBWR=AUTO in
# the environment restores MKL's own choice (docs/evaluation.md, "Reproducibility").
os.environ.setdefault("MKL_CBWR", "COMPATIBLE")

from ._autoregister import install as _install_autoregister  # noqa: E402  (after MKL_CBWR)

__version__ = "0.1.0"

# public name -> the module that defines it, imported on first use
_LAZY = {
    **{name: "model" for name in ("HalstedConfig", "HalstedForConditionalGeneration", "HalstedPreTrainedModel",
                                  "HalstedProcessor", "HalstedTokenizer", "Taxonomy", "HALSTED_TAXONOMY",
                                  "load_taxonomy", "tiny_config", "frame_encoder_config", "EfficientNetLiteConfig",
                                  "EfficientNetLiteModel", "EfficientNetLiteForImageClassification",
                                  "efficientnet_lite_config")},
    "map_video": "mapping.workflow",
    "deidentify": "deid.rewrite",
    "Timeline": "mapping.timeline",
    "DEMO_MODEL_PATH": "model.registry",
}
# public names that are another module's name: load_pretrained is the registry's `create`, the one way to a model
_RENAMED = {"load_pretrained": ("model.registry", "create")}

__all__ = list(_LAZY) + list(_RENAMED)


def __getattr__(name):
    module, attribute = _RENAMED.get(name) or (_LAZY.get(name), name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), attribute)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))


_install_autoregister()
