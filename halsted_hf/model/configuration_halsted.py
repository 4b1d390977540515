"""Configuration of the Halsted model (a frozen vision tower + a small prefix-LM tag decoder).

`HalstedConfig()` with no arguments gives the paper's sizes: a ViT-g/14 VideoMAE encoder (hidden 1408,
40 layers, 16 heads, MLP 6144, patch 14, tubelet 2, 16 frames of 224x224: about 1.01 B parameters) and a
2-layer, 8-head decoder of width 1408 (about 44 M parameters).

The vision tower is pluggable (`vision_config` is resolved by `model_type`, the tower built with
`AutoModel.from_config`, as LLaVA does): a *video* tower (VideoMAE: a clip in, one clip embedding out) or a
*frame* encoder (any image model with a pooled output, e.g. the pretrained EfficientNet-Lite of the presets
"lite0" | "lite1" | "lite2": frames in, one embedding per frame out, then a small trainable temporal module).
"""

from __future__ import annotations

import sys
from typing import Any

from transformers import PreTrainedConfig
from transformers.configuration_utils import SubConfigSpec
from transformers import AutoConfig

from .configuration_efficientnet_lite import efficientnet_lite_config  # registers "efficientnet_lite"
from .taxonomy import BOS, EOS, PAD, UNK, load_taxonomy

# Towers that turn a whole clip into one embedding; any other vision_config is a per-frame image encoder.
VIDEO_TOWERS = ("videomae",)

# The pipeline config.json announces (pipeline_halsted.py, copied next to the model by save_hub_layout), so
# `pipeline("surgical-video-mapping", model=folder, trust_remote_code=True)` works without halsted_hf.
PIPELINE_TASK = "surgical-video-mapping"


def hub_pipelines() -> dict:
    """A fresh copy each time: transformers' pipeline() rewrites the entry it reads in place ("pt" -> classes)."""
    return {PIPELINE_TASK: {"impl": "pipeline_halsted.SurgicalVideoMappingPipeline", "pt": ["AutoModel"],
                            "type": "multimodal"}}


def _task_served_here() -> bool:
    """True when an installed package (halsted_hf/mapping/pipeline.py) has registered the task with transformers:
    then the config must not announce the Hub pipeline, or `pipeline()` would ask for trust_remote_code to run
    code that is already installed."""
    pipelines = sys.modules.get("transformers.pipelines")
    registry = getattr(pipelines, "PIPELINE_REGISTRY", None)
    return registry is not None and PIPELINE_TASK in registry.get_supported_tasks()


# ViT-g/14 as used by VideoMAEv2 (the paper's frozen encoder).
PAPER_VISION_CONFIG = dict(
    hidden_size=1408, num_hidden_layers=40, num_attention_heads=16, intermediate_size=6144,
    patch_size=14, tubelet_size=2, num_frames=16, image_size=224, use_mean_pooling=True, qv_bias=True,
    layer_norm_eps=1e-6,
)


class HalstedConfig(PreTrainedConfig):
    r"""
    Args:
        vision_config (`PreTrainedConfig` or `dict`): the vision tower, resolved by its `model_type`. VideoMAE
            (the default, ViT-g/14 as in the paper; a dict without `model_type` is VideoMAE) or a frame encoder
            such as `EfficientNetLiteConfig` ("efficientnet_lite"). Its `num_frames` and `image_size` say what
            the processor feeds it.
        hidden_size (`int`): decoder width D (paper: 1408).
        num_hidden_layers (`int`): decoder layers L (paper: 2).
        num_attention_heads (`int`): decoder heads (paper: 8).
        intermediate_size (`int`): decoder MLP width. 4608 makes the paper-size decoder about 44 M parameters,
            the figure the paper reports.
        num_instruction_slots (`int`): M, the number of instruction embedding slots (paper: 8).
        max_tag_length (`int`): the longest tag sequence (BOS ... EOS) the decoder has positions for.
        taxonomy (`dict`): the tasks, tags and categories (`halsted_hf.model.taxonomy.Taxonomy.to_dict()`); the
            vocabulary and the decoding grammar are derived from it. Defaults to the paper's Table 3.
        freeze_encoder (`bool`): keep the encoder frozen (paper: yes). Off to train a small encoder end to end.
        decoder_type (`str`): "halsted" (the paper's prefix-LM decoder) or "causal_lm" (any transformers causal
            LM from `text_config`, fed through an MLP adaptor: the paper's decoder-size study).
        text_config (`dict`, optional): config of the causal LM when `decoder_type="causal_lm"`.
        temporal_hidden_size (`int`), temporal_num_layers (`int`), temporal_num_heads (`int`): the trainable
            temporal module over per-frame embeddings (frame encoders only): width, transformer layers, heads.
        temporal_max_frames (`int`): the most frames per clip the temporal module has time positions for.
        temporal_motion_size (`int`): 0 (off) or S: each frame's features also carry an S x S grey thumbnail of
            the frame, and the temporal module reads explicit pixel motion from them (how much and where the
            picture changes between frames, and how jerkily: tremor), which global-pooled embeddings barely
            carry. Frame encoders only.
        temporal_appearance_dropout (`float`): with a motion stream, the probability that a training clip's
            frame-encoder features are hidden from the temporal module (the whole clip: the tokens keep only
            their time positions and the pixel motion). It makes the model learn to judge from motion alone,
            which generalises to new videos where a video's look does not: on the synthetic atlas, a
            proficiency probe on pooled appearance falls below chance on unseen videos (benchmarks/RESULTS.md).
            0 (the default): off. No effect at inference.
    """

    model_type = "halsted"
    sub_configs_defaults = {
        "vision_config": SubConfigSpec(config_class=AutoConfig, model_type="videomae",
                                       init_kwargs=PAPER_VISION_CONFIG),
        "text_config": SubConfigSpec(config_class=AutoConfig, model_type="llama", optional=True),
    }

    vision_config: dict | PreTrainedConfig | None = None
    text_config: dict | PreTrainedConfig | None = None
    hidden_size: int = 1408
    num_hidden_layers: int = 2
    num_attention_heads: int = 8
    intermediate_size: int = 4608
    hidden_dropout_prob: float = 0.1
    layer_norm_eps: float = 1e-5
    initializer_range: float = 0.02
    num_instruction_slots: int = 8
    max_tag_length: int = 24
    taxonomy: dict | None = None
    freeze_encoder: bool = True
    decoder_type: str = "halsted"
    vocab_size: int | None = None
    pad_token_id: int | None = None
    bos_token_id: int | None = None
    eos_token_id: int | None = None
    unk_token_id: int | None = None
    tie_word_embeddings: bool = True
    temporal_hidden_size: int = 256
    temporal_num_layers: int = 2
    temporal_num_heads: int = 4
    temporal_max_frames: int = 64
    temporal_motion_size: int = 0
    temporal_appearance_dropout: float = 0.0
    custom_pipelines: dict | None = None

    def __post_init__(self, **kwargs: Any):
        self.custom_pipelines = {} if _task_served_here() else hub_pipelines()
        taxonomy = load_taxonomy(self.taxonomy)
        self.taxonomy = taxonomy.to_dict()
        vocab = taxonomy.vocabulary()
        self.vocab_size = len(vocab)
        self.pad_token_id, self.bos_token_id, self.eos_token_id, self.unk_token_id = (
            vocab.index(t) for t in (PAD, BOS, EOS, UNK))
        if self.decoder_type not in ("halsted", "causal_lm"):
            raise ValueError(f"decoder_type must be 'halsted' or 'causal_lm', got {self.decoder_type!r}")
        if self.decoder_type == "causal_lm" and self.text_config is None:
            raise ValueError("decoder_type='causal_lm' needs a text_config (e.g. a LlamaConfig or its dict)")
        if self.hidden_size % self.num_attention_heads:
            raise ValueError("hidden_size must be divisible by num_attention_heads")
        if self.temporal_motion_size and (self.temporal_motion_size < 4 or self.temporal_motion_size % 4):
            raise ValueError("temporal_motion_size must be 0 (off) or a multiple of 4 (a 4 x 4 grid of its cells)")
        if self.temporal_hidden_size % self.temporal_num_heads:
            raise ValueError("temporal_hidden_size must be divisible by temporal_num_heads")
        if not 0.0 <= self.temporal_appearance_dropout < 1.0:
            raise ValueError(f"temporal_appearance_dropout is a probability in [0, 1), got "
                             f"{self.temporal_appearance_dropout}")
        if self.temporal_appearance_dropout and not self.temporal_motion_size:
            # with no motion stream a hidden clip would leave the temporal module nothing but time positions
            raise ValueError("temporal_appearance_dropout needs a motion stream: set temporal_motion_size (e.g. 32)")
        super().__post_init__(**kwargs)
        if self.temporal_motion_size and self.vision_kind == "video":
            # a video tower has no temporal module to read the thumbnails: the setting would be silently unused
            raise ValueError(f"temporal_motion_size needs a frame encoder (its temporal module reads the motion "
                             f"stream); the vision tower here is {self.vision_config.model_type!r}: set it to 0 or "
                             f"use a frame-encoder preset (lite0, lite1, lite2)")
        if self.text_config is not None:
            # The LM speaks our word vocabulary: its embeddings are learned from scratch, as in the paper.
            self.text_config.vocab_size = self.vocab_size

    def to_dict(self) -> dict:
        # Always announced in config.json, whichever process saves it (see _task_served_here).
        return {**super().to_dict(), "custom_pipelines": hub_pipelines()}

    @property
    def vision_kind(self) -> str:
        """"video" (one embedding per clip, e.g. VideoMAE) or "frame" (one per frame, then the temporal module)."""
        return "video" if self.vision_config.model_type in VIDEO_TOWERS else "frame"

    def get_text_config(self, *args, **kwargs):
        # Generation utilities ask for the text config; ours is this config unless a causal LM decodes.
        return self.text_config if self.text_config is not None else self


def tiny_config(**overrides) -> HalstedConfig:
    """A small model that runs fast on a CPU: a 2-layer VideoMAE on 16 frames of 112x112, a 2-layer decoder."""
    vision = dict(hidden_size=192, num_hidden_layers=2, num_attention_heads=3, intermediate_size=384,
                  patch_size=16, tubelet_size=2, num_frames=16, image_size=112, use_mean_pooling=True,
                  qv_bias=True, layer_norm_eps=1e-6)
    vision.update(overrides.pop("vision_config", {}) or {})
    kwargs = dict(vision_config=vision, hidden_size=192, num_hidden_layers=2, num_attention_heads=4,
                  intermediate_size=512)
    kwargs.update(overrides)
    return HalstedConfig(**kwargs)


# Frames per clip and frame side of the frame-encoder presets, chosen by measurement (docs/benchmarks.md,
# "Frame encoder"): the frozen backbone's cost grows with frames x side^2 and the 2-core CPU is the target.
FRAME_PRESET_FRAMES = 8
FRAME_PRESET_SIZE = 192


def frame_encoder_config(variant: str = "lite0", **overrides) -> HalstedConfig:
    """EfficientNet-Lite `variant` ("lite0" | "lite1" | "lite2") as a frozen frame encoder, a 2-layer temporal
    module of width 256 and a CPU-sized decoder (2 layers, 8 heads, width 512). Random weights: `halsted
    convert-backbone` puts the pretrained encoder in."""
    vision = dict(num_frames=FRAME_PRESET_FRAMES, image_size=FRAME_PRESET_SIZE)
    vision.update(overrides.pop("vision_config", {}) or {})
    kwargs = dict(vision_config=efficientnet_lite_config(variant, **vision), hidden_size=512, num_hidden_layers=2,
                  num_attention_heads=8, intermediate_size=2048)
    kwargs.update(overrides)
    return HalstedConfig(**kwargs)


def _frame_preset(variant: str):
    def preset(**overrides) -> HalstedConfig:
        return frame_encoder_config(variant, **overrides)
    preset.__doc__ = f"EfficientNet-{variant.capitalize()} frame encoder (see `frame_encoder_config`)."
    return preset


PRESETS = {"tiny": tiny_config, "paper": HalstedConfig,
           **{v: _frame_preset(v) for v in ("lite0", "lite1", "lite2")}}
