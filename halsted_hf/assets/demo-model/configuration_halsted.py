"""Configuration of the Halsted model (a frozen VideoMAE encoder + a small prefix-LM tag decoder).

`HalstedConfig()` with no arguments gives the paper's sizes: a ViT-g/14 VideoMAE encoder (hidden 1408,
40 layers, 16 heads, MLP 6144, patch 14, tubelet 2, 16 frames of 224x224: about 1.01 B parameters) and a
2-layer, 8-head decoder of width 1408 (about 44 M parameters).
"""

from __future__ import annotations

from typing import Any

from transformers import PreTrainedConfig, VideoMAEConfig
from transformers.configuration_utils import SubConfigSpec
from transformers import AutoConfig

from .taxonomy import BOS, EOS, PAD, UNK, load_taxonomy

# ViT-g/14 as used by VideoMAEv2 (the paper's frozen encoder).
PAPER_VISION_CONFIG = dict(
    hidden_size=1408, num_hidden_layers=40, num_attention_heads=16, intermediate_size=6144,
    patch_size=14, tubelet_size=2, num_frames=16, image_size=224, use_mean_pooling=True, qv_bias=True,
    layer_norm_eps=1e-6,
)


class HalstedConfig(PreTrainedConfig):
    r"""
    Args:
        vision_config (`VideoMAEConfig` or `dict`): the video encoder. Defaults to ViT-g/14 (paper).
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
    """

    model_type = "halsted"
    sub_configs_defaults = {
        "vision_config": SubConfigSpec(config_class=VideoMAEConfig, init_kwargs=PAPER_VISION_CONFIG),
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

    def __post_init__(self, **kwargs: Any):
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
        super().__post_init__(**kwargs)
        if self.text_config is not None:
            # The LM speaks our word vocabulary: its embeddings are learned from scratch, as in the paper.
            self.text_config.vocab_size = self.vocab_size

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


PRESETS = {"tiny": tiny_config, "paper": HalstedConfig}
