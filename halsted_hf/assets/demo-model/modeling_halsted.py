"""Halsted: a frozen vision tower and a small prefix-LM decoder that writes surgical tags.

    video tower (paper):  clip (B, T, 3, H, W) --VideoMAE--> patch tokens --mean--> (B, Dv) --proj--> 1 token
    frame encoder:        clip (B, T, 3, H, W) --per frame, e.g. EfficientNet-Lite--> (B, T, Df)
                          --temporal module (frames, their differences, time positions)--> (B, Dt) --proj--> 1 token
    instruction ids (B, M) --word embeddings + slot embeddings--> M tokens
    [video | instruction] is the prefix, attended fully; tags attend to the prefix and causally to
    earlier tags (prefix-LM, as in Pix2Seq). The loss is next-token cross-entropy on tag tokens only.

Decoding is greedy with a KV cache and, by default, constrained by the task's grammar
(`taxonomy.TaskGrammar`): a task emits only its own tags and valid categories. Every emitted category
comes with a probability (product of its words' probabilities under the constrained distribution),
which AUROC, confidence thresholds and self-labelling need. The grammar is also a `LogitsProcessor`
(`TaskGrammarLogitsProcessor`): `generate` hands any of transformers' own generation arguments (num_beams,
do_sample, output_scores, return_dict_in_generate, logits_processor, ...) to `GenerationMixin.generate`
with it; without them it keeps its own greedy loop (faster: docs/benchmarks.md, "Generation paths").
Attention goes through transformers' attention-function dispatch (`config._attn_implementation`:
"sdpa" by default, "eager", or any function registered in `ALL_ATTENTION_FUNCTIONS`).

This file is copied flat next to the weights by `save_pretrained` (the Hub layout): relative imports only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoModel, AutoModelForCausalLM, PreTrainedModel
from transformers import initialization as init
from transformers.generation import GenerationMixin, LogitsProcessor, LogitsProcessorList
from transformers.modeling_outputs import ModelOutput
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

from .configuration_efficientnet_lite import EfficientNetLiteConfig
from .modeling_efficientnet_lite import EfficientNetLiteModel  # noqa: F401  (registers the frame encoder with AutoModel)
from .configuration_halsted import HalstedConfig
from .hub_companions import copy_companions, weights_fingerprint
from .taxonomy import TaskGrammar, Taxonomy, close_tag, load_taxonomy, parse_tags

KVCache = List[Tuple[torch.Tensor, torch.Tensor]]  # per layer: keys, values (B, heads, S, head_dim)


@dataclass
class HalstedOutput(ModelOutput):
    """loss: mean cross-entropy over tag tokens; logits: (B, tag_len, V) next-token logits at tag positions;
    hidden_states: (B, prefix_len + tag_len, D) final decoder layer (for representation analyses);
    video_embeds: the tower's output used ((B, Dv) video tower, (B, T, Df) frame encoder)."""

    loss: Optional[torch.Tensor] = None
    logits: Optional[torch.Tensor] = None
    hidden_states: Optional[torch.Tensor] = None
    video_embeds: Optional[torch.Tensor] = None


@dataclass
class HalstedGenerateOutput(ModelOutput):
    """sequences: (B, L) generated ids (BOS first, EOS then PAD); token_probs: (B, L) probability of each token
    under the (constrained) distribution it was drawn from; tags: per clip {tag: category}; scores: per clip
    {tag: probability of the emitted category}; distributions: per clip {tag: {category: prob}} for tags whose
    categories are single words (e.g. proficiency low/high), the full constrained distribution."""

    sequences: Optional[torch.Tensor] = None
    token_probs: Optional[torch.Tensor] = None
    tags: Optional[List[Dict[str, str]]] = None
    scores: Optional[List[Dict[str, float]]] = None
    distributions: Optional[List[Dict[str, Dict[str, float]]]] = None
    generation: Optional[ModelOutput] = None  # transformers' own output (return_dict_in_generate): its logits, beams


# ---------------------------------------------------------------------------------------------------
# The paper's decoder: a pre-LN transformer with a prefix-LM mask and a KV cache.
# ---------------------------------------------------------------------------------------------------
def eager_attention_forward(module: nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                            attention_mask: Optional[torch.Tensor], scaling: float, dropout: float = 0.0, **kwargs):
    """Plain attention, the "eager" implementation. query (B, H, S, hd), key/value (B, H, K, hd), attention_mask
    (B, 1, S, K) bool (True: may attend) -> ((B, S, H, hd), weights (B, H, S, K)), as transformers' functions."""
    weights = torch.matmul(query, key.transpose(2, 3)) * scaling
    if attention_mask is not None:
        weights = weights.masked_fill(~attention_mask, torch.finfo(weights.dtype).min)
    weights = F.softmax(weights, dim=-1, dtype=torch.float32).to(query.dtype)
    weights = F.dropout(weights, p=dropout, training=module.training)
    return torch.matmul(weights, value).transpose(1, 2).contiguous(), weights


class HalstedAttention(nn.Module):
    is_causal = False  # the prefix-LM mask is passed explicitly (the prefix attends both ways)

    def __init__(self, config: HalstedConfig):
        super().__init__()
        self.config = config
        self.num_heads = config.num_attention_heads
        self.head_dim = config.hidden_size // config.num_attention_heads
        self.scaling = self.head_dim ** -0.5
        self.qkv = nn.Linear(config.hidden_size, 3 * config.hidden_size)
        self.out = nn.Linear(config.hidden_size, config.hidden_size)
        self.dropout = config.hidden_dropout_prob

    def forward(self, x: torch.Tensor, allowed: torch.Tensor, past: Optional[Tuple[torch.Tensor, torch.Tensor]]):
        """x: (B, S, D); allowed: (B, 1, S, S_past + S) bool, True where a query may attend a key."""
        b, s, _ = x.shape
        q, k, v = self.qkv(x).view(b, s, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        if past is not None:
            k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)
        attention = eager_attention_forward
        if self.config._attn_implementation not in (None, "eager"):
            attention = ALL_ATTENTION_FUNCTIONS[self.config._attn_implementation]
        y, _ = attention(self, q, k, v, allowed, dropout=self.dropout if self.training else 0.0, scaling=self.scaling)
        return self.out(y.reshape(b, s, -1)), (k, v)


class HalstedDecoderLayer(nn.Module):
    def __init__(self, config: HalstedConfig):
        super().__init__()
        self.norm1 = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.attn = HalstedAttention(config)
        self.norm2 = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.mlp = nn.Sequential(nn.Linear(config.hidden_size, config.intermediate_size), nn.GELU(),
                                 nn.Linear(config.intermediate_size, config.hidden_size))
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, x, allowed, past=None):
        a, cache = self.attn(self.norm1(x), allowed, past)
        x = x + self.dropout(a)
        return x + self.dropout(self.mlp(self.norm2(x))), cache


class HalstedDecoder(nn.Module):
    """Stack of layers over `[prefix | tags]`; with a cache, only new tag positions are computed."""

    def __init__(self, config: HalstedConfig):
        super().__init__()
        self.layers = nn.ModuleList(HalstedDecoderLayer(config) for _ in range(config.num_hidden_layers))
        self.norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, x: torch.Tensor, allowed: torch.Tensor, past: Optional[KVCache] = None):
        caches: KVCache = []
        for i, layer in enumerate(self.layers):
            x, cache = layer(x, allowed, None if past is None else past[i])
            caches.append(cache)
        return self.norm(x), caches


def prefix_lm_mask(prefix_mask: torch.Tensor, tag_len: int, past_len: int = 0) -> torch.Tensor:
    """(B, P) prefix validity -> (B, 1, Q, K) bool over [prefix | tags]. Prefix queries see the valid prefix; tag
    query i sees the valid prefix and tags 0..i. Changing a later tag can never change an earlier position.
    Without a cache (`past_len` 0) every position is a query: Q = K = P + T. With `past_len` positions cached
    (the prefix and the tags before), only the `tag_len` new tags are queries: Q = T, K = past_len + T."""
    b, p = prefix_mask.shape
    n = (past_len or p) + tag_len
    keys_valid = torch.cat([prefix_mask.bool(), prefix_mask.new_ones(b, n - p, dtype=torch.bool)], dim=1)
    causal = torch.ones(n, n, dtype=torch.bool, device=prefix_mask.device).tril()
    causal[:, :p] = True          # everyone sees the whole prefix...
    causal[:p, p:] = False        # ...but the prefix never sees tags
    rows = causal[-tag_len:] if past_len else causal
    return (rows[None] & keys_valid[:, None, :])[:, None]


def grammar_allows(grammar: Optional[TaskGrammar], tag_ids: List[int], like: torch.Tensor,
                   eos_token_id: int) -> torch.Tensor:
    """The tokens that may follow `tag_ids` (a row's tags so far, without BOS) as a bool mask shaped like the
    logits row `like`: the grammar's next tokens, EOS once it is complete; every token without a grammar."""
    allowed = torch.ones_like(like, dtype=torch.bool)
    if grammar is not None:
        allowed[:] = False
        allowed[grammar.allowed(tag_ids) or [eos_token_id]] = True
    return allowed


class HalstedMultiModalProjector(nn.Sequential):
    """The projector: one clip embedding (B, Dv) -> one decoder token (B, D). For the paper's decoder a layer norm
    and a linear map; in front of a causal LM (decoder-size study) an MLP adaptor, as LLaVA's.
    (A Sequential, so checkpoints keep their `video_proj.0.*`, `video_proj.1.*` names.)"""

    def __init__(self, config: HalstedConfig, in_size: int):
        if config.decoder_type == "halsted":
            super().__init__(nn.LayerNorm(in_size, eps=config.layer_norm_eps), nn.Linear(in_size, config.hidden_size))
        else:
            d = config.text_config.hidden_size
            super().__init__(nn.Linear(in_size, d), nn.GELU(), nn.Linear(d, d))


class TaskGrammarLogitsProcessor(LogitsProcessor):
    """The task grammar as a LogitsProcessor: at each step, every token the row's grammar does not allow next gets
    -inf (EOS once the grammar is complete). `grammars[i]` is row i's `TaskGrammar` (None: unconstrained); rows are
    repeated `num_beams` times (beam search, sampling with several sequences). input_ids start with BOS."""

    def __init__(self, grammars: List[Optional[TaskGrammar]], eos_token_id: int, num_beams: int = 1):
        self.grammars, self.eos_token_id, self.num_beams = list(grammars), int(eos_token_id), int(num_beams)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        allowed = torch.stack([grammar_allows(self.grammars[i // self.num_beams], input_ids[i, 1:].tolist(),
                                              scores[i], self.eos_token_id) for i in range(scores.shape[0])])
        return scores.masked_fill(~allowed, float("-inf"))


def build_vision_tower(vision_config) -> PreTrainedModel:
    """`AutoModel.from_config(vision_config)`, as LLaVA builds its tower. With remote code, transformers loads the
    config files and the model files as two copies of the same modules, so the frame encoder's config may be an
    instance of the other copy's class: it is re-read into this copy's class, the one registered with AutoModel."""
    if (vision_config.model_type == EfficientNetLiteConfig.model_type
            and not isinstance(vision_config, EfficientNetLiteConfig)):
        vision_config = EfficientNetLiteConfig(**vision_config.to_dict())
    return AutoModel.from_config(vision_config)


# ---------------------------------------------------------------------------------------------------
# The temporal module of frame encoders: per-frame embeddings -> one clip embedding that sees motion.
# ---------------------------------------------------------------------------------------------------
MOTION_FEATURES = 4 + 16  # per frame: mean and top-1% change, mean and top-1% jerk, change on a 4 x 4 grid


def frame_thumbnails(frames: torch.Tensor, size: int) -> torch.Tensor:
    """(N, 3, H, W) normalised frames -> (N, size * size) grey thumbnails (the motion stream's input), in
    float32 even under autocast."""
    with torch.autocast(device_type=frames.device.type, enabled=False):
        return F.adaptive_avg_pool2d(frames.float().mean(dim=1, keepdim=True), size).flatten(1)


def pixel_motion(thumbs: torch.Tensor) -> torch.Tensor:
    """(B, T, S, S) grey thumbnails -> (B, T, MOTION_FEATURES) log-scaled motion at each frame: how much the
    picture changed since the previous frame (mean, and mean of the top 1% of cells: a moving instrument), how
    jerky the change is (the second difference: smooth motion has little, a tremor's jitter a lot), and where it
    changed (a 4 x 4 grid). Frame 0 has no previous frame, frames 0 and T-1 no second difference: zeros."""
    b, t, s, _ = thumbs.shape
    top = max(1, (s * s) // 100)

    def stats(x):  # (B, K, S, S) -> (B, K, 2)
        flat = x.flatten(2)
        return torch.stack([flat.mean(-1), flat.topk(top, dim=-1).values.mean(-1)], dim=-1)

    change = torch.zeros(b, t, 2 + 16, dtype=thumbs.dtype, device=thumbs.device)
    jerk = torch.zeros(b, t, 2, dtype=thumbs.dtype, device=thumbs.device)
    if t > 1:
        d1 = (thumbs[:, 1:] - thumbs[:, :-1]).abs()
        grid = F.adaptive_avg_pool2d(d1.flatten(0, 1)[:, None], 4).view(b, t - 1, 16)
        change[:, 1:] = torch.cat([stats(d1), grid], dim=-1)
    if t > 2:
        jerk[:, 1:-1] = stats((thumbs[:, 2:] - 2 * thumbs[:, 1:-1] + thumbs[:, :-2]).abs())
    m = torch.cat([change[..., :2], jerk, change[..., 2:]], dim=-1)
    return torch.log(m + 1e-3)  # tremor-sized changes are small: log keeps them apart from stillness


class HalstedTemporalEncoder(nn.Module):
    """(B, T, Df) frozen frame embeddings -> (B, Dt) clip embedding.

    Each frame token is proj(frame) + proj(frame - previous frame) + a learned time position (frames are
    sampled evenly over a fixed-length window, so index = time); the differences make motion, speed and
    tremor explicit. Frames are scaled by the clip's RMS and layer-normalised (no affine) first, so differences
    keep their relative size. With a motion stream (`config.temporal_motion_size`), each frame's features end
    with a grey thumbnail, and the token also gets proj(pixel_motion(thumbnails)); in training,
    `config.temporal_appearance_dropout` hides whole clips' frame features so that motion alone must answer too.
    A learned summary token and the frame tokens go through pre-LN transformer layers; the output is the
    summary token plus the mean frame token, layer-normalised."""

    def __init__(self, config: HalstedConfig):
        super().__init__()
        df, d = config.vision_config.hidden_size, config.temporal_hidden_size
        self.max_frames = config.temporal_max_frames
        self.features = df
        self.motion_size = config.temporal_motion_size
        self.appearance_dropout = config.temporal_appearance_dropout
        self.frame_proj = nn.Linear(df, d)
        self.diff_proj = nn.Linear(df, d)
        self.motion_proj = nn.Linear(MOTION_FEATURES, d) if self.motion_size else None
        self.time_embeddings = nn.Embedding(config.temporal_max_frames, d)
        self.summary = nn.Parameter(torch.zeros(1, 1, d))
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(d, config.temporal_num_heads, 4 * d, dropout=config.hidden_dropout_prob,
                                       activation="gelu", batch_first=True, norm_first=True)
            for _ in range(config.temporal_num_layers))
        self.norm = nn.LayerNorm(d, eps=config.layer_norm_eps)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        b, t, width = frames.shape
        if t > self.max_frames:
            raise ValueError(f"{t} frames per clip; the temporal module has positions for {self.max_frames} "
                             f"(config.temporal_max_frames)")
        want = self.features + self.motion_size ** 2
        if width != want:
            raise ValueError(f"frame features of width {width}; this temporal module reads {want} ({self.features} "
                             f"encoder features + {self.motion_size ** 2} thumbnail pixels): were they computed "
                             f"by this model's get_frame_features?")
        f = frames[..., :self.features].to(self.frame_proj.weight.dtype)
        df = self.features
        # scale-free: divide by the clip's RMS first, so features of any magnitude (a random encoder's can be
        # ~1e-10) keep their shape under layer norm's eps; then per-frame layer norm without affine
        f = F.layer_norm(f / f.pow(2).mean(dim=(1, 2), keepdim=True).sqrt().clamp_min(1e-30), (df,))
        diff = torch.cat([torch.zeros_like(f[:, :1]), f[:, 1:] - f[:, :-1]], dim=1)
        appearance = self.frame_proj(f) + self.diff_proj(diff)
        if self.training and self.appearance_dropout:
            # whole clips at a time: the model must also answer from the motion stream alone
            shown = torch.rand(b, 1, 1, device=appearance.device) >= self.appearance_dropout
            appearance = appearance * shown.to(appearance.dtype)
        x = appearance + self.time_embeddings.weight[None, :t]
        if self.motion_proj is not None:
            thumbs = frames[..., self.features:].float().view(b, t, self.motion_size, self.motion_size)
            x = x + self.motion_proj(pixel_motion(thumbs).to(x.dtype))
        x = torch.cat([self.summary.expand(b, -1, -1), x], dim=1)
        for layer in self.layers:
            x = layer(x)
        return self.norm(x[:, 0] + x[:, 1:].mean(dim=1))


def _lands_on_accelerator(device_map) -> bool:
    """Whether a `device_map` puts any of the model on a GPU (or another accelerator)."""
    if device_map is None:
        return False
    if isinstance(device_map, str) and device_map in ("auto", "balanced", "balanced_low_0", "sequential"):
        return torch.cuda.is_available()  # transformers' strategies fill GPUs first
    places = device_map.values() if isinstance(device_map, dict) else [device_map]
    return any(str(p) not in ("cpu", "disk", "meta") for p in places)


# ---------------------------------------------------------------------------------------------------
class HalstedPreTrainedModel(PreTrainedModel):
    config_class = HalstedConfig
    base_model_prefix = "decoder"  # the paper's tag decoder (the causal-LM study's is `language_model`)
    main_input_name = "pixel_values"
    input_modalities = ("video", "text")
    supports_gradient_checkpointing = False
    _no_split_modules = ["HalstedDecoderLayer", "VideoMAELayer", "EfficientNetLiteBlock"]
    _supports_sdpa = True

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *model_args, **kwargs):
        """transformers' loading, with two differences. Precision: where the caller names none (or "auto", what
        `pipeline()` passes) and the model lands on the CPU, it loads in float32 whatever dtype the weights are
        stored in: half precision on a CPU is many times slower (docs/benchmarks.md, "Precision"); on a GPU
        (`device_map`) the stored dtype stands. The frozen encoder stays frozen (no trainable parameters). The
        folder's companion files (hub_companions.py) are remembered for `save_pretrained`."""
        dtype = kwargs.pop("dtype", kwargs.pop("torch_dtype", None))
        if dtype in (None, "auto") and not _lands_on_accelerator(kwargs.get("device_map")):
            dtype = torch.float32
        model = super().from_pretrained(pretrained_model_name_or_path, *model_args, dtype=dtype, **kwargs)
        if model.config.freeze_encoder:
            model.video_encoder.requires_grad_(False)
        model._halsted_source = {"path": str(pretrained_model_name_or_path), "revision": kwargs.get("revision"),
                                 "fingerprint": weights_fingerprint(model)}
        return model

    def save_pretrained(self, save_directory, *args, is_main_process: bool = True, **kwargs):
        """transformers' saving, then the companion files (hub_companions.py): the stand-alone pipeline always,
        the calibration, out-of-distribution description and training record while the weights are unchanged."""
        super().save_pretrained(save_directory, *args, is_main_process=is_main_process, **kwargs)
        if is_main_process:
            copy_companions(self, str(save_directory))

    @torch.no_grad()
    def _init_weights(self, module):
        super()._init_weights(module)
        if isinstance(module, HalstedForConditionalGeneration) and module.prefix_embeddings is not None:
            init.normal_(module.prefix_embeddings, mean=0.0, std=self.config.initializer_range)
        if isinstance(module, HalstedTemporalEncoder):
            init.normal_(module.summary, mean=0.0, std=self.config.initializer_range)
        if isinstance(module, nn.MultiheadAttention):
            init.xavier_uniform_(module.in_proj_weight)
            init.zeros_(module.in_proj_bias)


class HalstedForConditionalGeneration(HalstedPreTrainedModel, GenerationMixin):
    """Video + instruction -> surgical tags. See the module docstring for the architecture."""

    def __init__(self, config: HalstedConfig):
        super().__init__(config)
        self.taxonomy: Taxonomy = load_taxonomy(config.taxonomy)
        # The tower is whatever vision_config names (VideoMAE, EfficientNet-Lite, ...), as LLaVA builds its own.
        self.video_encoder = build_vision_tower(config.vision_config)
        if config.vision_kind == "frame":
            self.temporal = HalstedTemporalEncoder(config)
            dv = config.temporal_hidden_size
        else:
            self.temporal = None
            dv = config.vision_config.hidden_size
        if config.decoder_type == "halsted":
            d = config.hidden_size
            self.embed_tokens = nn.Embedding(config.vocab_size, d, padding_idx=config.pad_token_id)
            self.video_proj = HalstedMultiModalProjector(config, dv)
            # learned embeddings of the 1 + M prefix slots (the video token and the M instruction slots)
            self.prefix_embeddings = nn.Parameter(torch.zeros(1 + config.num_instruction_slots, d))
            self.tag_positions = nn.Embedding(config.max_tag_length, d)
            self.decoder = HalstedDecoder(config)
            self.lm_head = nn.Linear(d, config.vocab_size, bias=False)
            self.language_model = None
        else:  # decoder-size study: any causal LM behind an MLP adaptor
            self.language_model = AutoModelForCausalLM.from_config(config.text_config)
            self.video_proj = HalstedMultiModalProjector(config, dv)
            self.prefix_embeddings = None
        if config.freeze_encoder:
            self.video_encoder.requires_grad_(False)
        self.post_init()

    # The paper ties nothing explicitly; tying the output head to the word embeddings halves the head's
    # parameters and helps the tiny vocabulary's rare categories.
    @property
    def _tied_weights_keys(self):
        if self.config.decoder_type == "halsted" and self.config.tie_word_embeddings:
            return {"lm_head.weight": "embed_tokens.weight"}
        return {}

    def get_input_embeddings(self):
        return self.embed_tokens if self.language_model is None else self.language_model.get_input_embeddings()

    def get_output_embeddings(self):
        return self.lm_head if self.language_model is None else self.language_model.get_output_embeddings()

    def train(self, mode: bool = True):
        super().train(mode)
        if self.config.freeze_encoder:  # a frozen encoder stays in eval mode (no dropout drift)
            self.video_encoder.eval()
        return self

    # ---- encoder ------------------------------------------------------------------------------------
    def get_video_features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """The tower's output, what `video_embeds` takes (and what feature caches store).
        (B, T, 3, H, W) normalised frames -> video tower: (B, Dv) mean of the patch embeddings;
        frame encoder: (B, T, Df) one pooled embedding per frame (the temporal module runs later, it trains)."""
        if pixel_values.ndim != 5:
            raise ValueError(f"expected clips of shape (B, T, 3, H, W), got {tuple(pixel_values.shape)}")
        if self.temporal is not None:
            b, t = pixel_values.shape[:2]
            return self.get_frame_features(pixel_values.flatten(0, 1)).view(b, t, -1)
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.config.freeze_encoder):
            tokens = self.video_encoder(pixel_values=pixel_values.to(self.video_encoder.dtype)).last_hidden_state
        return tokens.mean(dim=1)

    def get_frame_features(self, frames: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
        """Frame encoders only. (N, 3, H, W) normalised frames -> (N, Df) pooled embeddings, `batch_size` frames
        at a time (peak memory); with a motion stream (N, Df + S * S): each frame's grey thumbnail follows.
        Frames are independent: a frame shared by overlapping windows is encoded once by whoever calls this on
        unique frames."""
        if self.temporal is None:
            raise ValueError("get_frame_features needs a frame encoder; this model's tower is a video model")
        parts = []
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.config.freeze_encoder):
            for s in range(0, frames.shape[0], batch_size):
                x = frames[s:s + batch_size].to(self.video_encoder.dtype)
                pooled = self.video_encoder(pixel_values=x).pooler_output
                if self.config.temporal_motion_size:
                    thumbs = frame_thumbnails(frames[s:s + batch_size], self.config.temporal_motion_size)
                    # float32 whatever the tower runs in: a tremor's pixel changes are below bf16's resolution
                    pooled = torch.cat([pooled.float(), thumbs], dim=-1)
                parts.append(pooled)
        if not parts:
            return frames.new_zeros((0, self.frame_feature_size))
        return torch.cat(parts)

    @property
    def frame_feature_size(self) -> int:
        """Width of `get_frame_features`' rows: the tower's pooled features, then any motion thumbnail."""
        return self.config.vision_config.hidden_size + self.config.temporal_motion_size ** 2

    def get_clip_embeddings(self, video_embeds: torch.Tensor) -> torch.Tensor:
        """The tower's output (see `get_video_features`) -> (B, D) one embedding per clip, before the projector:
        the temporal module for frame encoders, the identity for video towers."""
        if self.temporal is None:
            if video_embeds.ndim != 2:
                raise ValueError(f"video_embeds of a video tower are (B, Dv), got {tuple(video_embeds.shape)}")
            return video_embeds
        if video_embeds.ndim != 3:
            raise ValueError(f"video_embeds of a frame encoder are per-frame embeddings (B, T, Df), "
                             f"got {tuple(video_embeds.shape)}")
        return self.temporal(video_embeds)

    # ---- decoder ------------------------------------------------------------------------------------
    def _prefix(self, video_embeds, instruction_ids, instruction_mask):
        """-> prefix embeddings (B, 1+M, D) and validity (B, 1+M)."""
        b = video_embeds.shape[0]
        clip = self.get_clip_embeddings(video_embeds)
        video = self.video_proj(clip.to(self.video_proj[0].weight.dtype))[:, None]
        words = self.get_input_embeddings()(instruction_ids)
        x = torch.cat([video, words], dim=1)
        if self.prefix_embeddings is not None:
            x = x + self.prefix_embeddings[None, : x.shape[1]]
        mask = torch.cat([instruction_mask.new_ones(b, 1), instruction_mask], dim=1)
        return x, mask

    def _tag_embeds(self, tag_ids: torch.Tensor, offset: int) -> torch.Tensor:
        x = self.get_input_embeddings()(tag_ids)
        if self.language_model is None:
            pos = torch.arange(offset, offset + tag_ids.shape[1], device=tag_ids.device)
            x = x + self.tag_positions(pos.clamp(max=self.config.max_tag_length - 1))[None]
        return x

    def _run_decoder(self, prefix, prefix_mask, tags, past=None, past_len=0):
        """Returns final hidden states of the new positions and the updated cache.
        Without `past`: runs [prefix | tags]. With `past`: runs only `tags`, attending to the cache."""
        if self.language_model is not None:
            return self._run_causal_lm(prefix, prefix_mask, tags, past, past_len)
        x = torch.cat([prefix, tags], dim=1) if past is None else tags
        return self.decoder(x, prefix_lm_mask(prefix_mask, tags.shape[1], past_len if past is not None else 0), past)

    def _run_causal_lm(self, prefix, prefix_mask, tags, past, past_len):
        # The LM's own (causal) mask applies over the prefix too, as in LLaVA-style adaptors.
        x = tags if past is not None else torch.cat([prefix, tags], dim=1)
        b = x.shape[0]
        mask = torch.cat([prefix_mask, prefix_mask.new_ones(b, (past_len if past is not None else prefix.shape[1])
                                                             - prefix_mask.shape[1] + tags.shape[1])], dim=1)
        out = self.language_model.base_model(inputs_embeds=x, attention_mask=mask, past_key_values=past,
                                             use_cache=True)
        return out.last_hidden_state, out.past_key_values

    def _logits(self, hidden):
        return self.get_output_embeddings()(hidden)

    def _resolve_video(self, pixel_values, video_embeds):
        if video_embeds is None:
            if pixel_values is None:
                raise ValueError("pass pixel_values (B, T, 3, H, W) or precomputed video_embeds "
                                 "((B, Dv) for a video tower, (B, T, Df) per-frame embeddings for a frame encoder)")
            video_embeds = self.get_video_features(pixel_values)
        return video_embeds

    def forward(self, pixel_values: Optional[torch.Tensor] = None, instruction_ids: Optional[torch.Tensor] = None,
                instruction_mask: Optional[torch.Tensor] = None, labels: Optional[torch.Tensor] = None,
                decoder_input_ids: Optional[torch.Tensor] = None, video_embeds: Optional[torch.Tensor] = None,
                input_ids: Optional[torch.Tensor] = None, **kwargs) -> HalstedOutput:
        """Teacher-forced pass. labels: (B, L) target tag ids ending in EOS, padded with -100; the decoder reads
        `[BOS] + labels[:-1]` (or `decoder_input_ids`). Loss is over tag tokens only: instruction and video
        positions are never targets, padding is ignored. `video_embeds` replaces `pixel_values` with the frozen
        tower's output (`get_video_features`): (B, Dv) for a video tower, (B, T, Df) per-frame embeddings for a
        frame encoder, whose temporal module then runs (and trains) here. `input_ids` (what transformers'
        generation passes: the tags so far, BOS first) is another name for `decoder_input_ids`."""
        video_embeds = self._resolve_video(pixel_values, video_embeds)
        if decoder_input_ids is None:
            decoder_input_ids = input_ids
        if instruction_mask is None:
            instruction_mask = (instruction_ids != self.config.pad_token_id).long()
        if decoder_input_ids is None:
            if labels is None:
                raise ValueError("pass labels (targets) or decoder_input_ids")
            shifted = labels[:, :-1].masked_fill(labels[:, :-1] == -100, self.config.pad_token_id)
            bos = labels.new_full((labels.shape[0], 1), self.config.bos_token_id)
            decoder_input_ids = torch.cat([bos, shifted], dim=1)
        prefix, prefix_mask = self._prefix(video_embeds, instruction_ids, instruction_mask)
        hidden, _ = self._run_decoder(prefix, prefix_mask, self._tag_embeds(decoder_input_ids, 0))
        tag_hidden = hidden[:, prefix.shape[1]:]
        logits = self._logits(tag_hidden)
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100)
        return HalstedOutput(loss=loss, logits=logits, hidden_states=hidden, video_embeds=video_embeds)

    # ---- generation ---------------------------------------------------------------------------------
    def _grammars(self) -> Dict[str, TaskGrammar]:
        if getattr(self, "_grammar_cache", None) is None:
            vocab = {w: i for i, w in enumerate(self.taxonomy.vocabulary())}
            self._grammar_cache = {t.instruction: TaskGrammar(t, vocab) for t in self.taxonomy.tasks}
            self._vocab_words = self.taxonomy.vocabulary()
        return self._grammar_cache

    def _task_of_row(self, ids: torch.Tensor, mask: torch.Tensor) -> Optional[TaskGrammar]:
        self._grammars()
        words = " ".join(self._vocab_words[i] for i, m in zip(ids.tolist(), mask.tolist()) if m)
        return self._grammar_cache.get(words)

    @torch.no_grad()
    def generate(self, pixel_values: Optional[torch.Tensor] = None, instruction_ids: Optional[torch.Tensor] = None,
                 instruction_mask: Optional[torch.Tensor] = None, video_embeds: Optional[torch.Tensor] = None,
                 constrained: bool = True, max_new_tokens: Optional[int] = None, use_cache: bool = True,
                 **kwargs):
        """Decoding of tags. `constrained=True` (default) restricts every step to what the row's task grammar
        allows (`TaskGrammarLogitsProcessor`); rows whose instruction is not a known task decode unconstrained.

        Without further arguments: the paper's greedy decoding in this class's own loop (KV cache; `use_cache=False`
        recomputes the whole sequence at each step, same result) -> `HalstedGenerateOutput` with tags, scores and
        distributions. With any other argument of transformers' generation (num_beams, do_sample, temperature,
        top_k, output_scores, return_dict_in_generate, logits_processor, generation_config, ...):
        `GenerationMixin.generate` with the grammar as a logits processor, its sequences then read and scored as
        the greedy loop's are -> `HalstedGenerateOutput` too (one row per returned sequence: B x
        num_return_sequences), with transformers' own output (per-step logits, beam scores) as `.generation`
        when `return_dict_in_generate=True`."""
        video_embeds = self._resolve_video(pixel_values, video_embeds)
        if instruction_mask is None:
            instruction_mask = (instruction_ids != self.config.pad_token_id).long()
        b, device = video_embeds.shape[0], video_embeds.device
        grammars = [self._task_of_row(instruction_ids[i], instruction_mask[i]) if constrained else None
                    for i in range(b)]
        limit = max_new_tokens or max([g.max_length for g in self._grammars().values()] + [2])
        limit = min(limit, self.config.max_tag_length)
        if kwargs:
            return self._generate_with_transformers(video_embeds, instruction_ids, instruction_mask, grammars, limit,
                                                    **kwargs)
        prefix, prefix_mask = self._prefix(video_embeds, instruction_ids, instruction_mask)

        seq = torch.full((b, 1), self.config.bos_token_id, dtype=torch.long, device=device)
        probs = torch.ones((b, 1), device=device)
        done = torch.zeros(b, dtype=torch.bool, device=device)
        step_dists: List[List[Optional[torch.Tensor]]] = [[] for _ in range(b)]
        past, past_len = None, 0
        for step in range(limit):
            if use_cache:
                new = seq[:, -1:] if past is not None else seq
                hidden, past = self._run_decoder(prefix, prefix_mask,
                                                 self._tag_embeds(new, seq.shape[1] - new.shape[1]), past, past_len)
                past_len = prefix.shape[1] + seq.shape[1]
            else:
                hidden, _ = self._run_decoder(prefix, prefix_mask, self._tag_embeds(seq, 0))
            logits = self._logits(hidden[:, -1]).float()
            # a finished row is not constrained (its next token is replaced by padding below)
            allowed = torch.stack([grammar_allows(None if done[i] else g, seq[i, 1:].tolist(), logits[i],
                                                  self.config.eos_token_id) for i, g in enumerate(grammars)])
            dist = logits.masked_fill(~allowed, float("-inf")).softmax(-1)
            nxt = dist.argmax(-1)
            p = dist.gather(1, nxt[:, None]).squeeze(1)
            nxt = torch.where(done, torch.full_like(nxt, self.config.pad_token_id), nxt)
            p = torch.where(done, torch.ones_like(p), p)
            for i in range(b):
                step_dists[i].append(None if done[i] else dist[i])
            seq = torch.cat([seq, nxt[:, None]], dim=1)
            probs = torch.cat([probs, p[:, None]], dim=1)
            done |= nxt == self.config.eos_token_id
            if bool(done.all()):
                break
        tags, scores, dists = self._read_tags(seq, probs, step_dists)
        return HalstedGenerateOutput(sequences=seq, token_probs=probs, tags=tags, scores=scores, distributions=dists)

    def _generate_with_transformers(self, video_embeds, instruction_ids, instruction_mask, grammars, limit,
                                    logits_processor=None, **kwargs):
        """`GenerationMixin.generate` over the tag sequence (BOS first). The tower runs once, before: its output
        rides along as `video_embeds` (repeated per beam by transformers). The sequences are at most
        `max_tag_length` tokens, so each step recomputes the whole prefix and tags (no KV cache)."""
        n = max(int(kwargs.get("num_beams") or 1), int(kwargs.get("num_return_sequences") or 1))
        processors = LogitsProcessorList([TaskGrammarLogitsProcessor(grammars, self.config.eos_token_id, n)])
        processors.extend(logits_processor or [])
        bos = torch.full((video_embeds.shape[0], 1), self.config.bos_token_id, dtype=torch.long,
                         device=video_embeds.device)
        kwargs.setdefault("pad_token_id", self.config.pad_token_id)
        kwargs.setdefault("eos_token_id", self.config.eos_token_id)
        raw = GenerationMixin.generate(self, input_ids=bos, video_embeds=video_embeds, instruction_ids=instruction_ids,
                                       instruction_mask=instruction_mask, logits_processor=processors,
                                       max_new_tokens=limit, use_cache=False, **kwargs)
        sequences = raw if isinstance(raw, torch.Tensor) else raw.sequences
        per_clip = sequences.shape[0] // video_embeds.shape[0]  # num_return_sequences, whatever the beams
        rows = torch.arange(sequences.shape[0], device=sequences.device) // per_clip
        out = self._score_sequences(sequences, video_embeds[rows], instruction_ids[rows], instruction_mask[rows],
                                    [grammars[int(r)] for r in rows])
        out.generation = None if isinstance(raw, torch.Tensor) else raw
        return out

    def _score_sequences(self, seq, video_embeds, instruction_ids, instruction_mask, grammars):
        """Tags, scores and distributions of sequences decoded by any strategy (beam search, sampling, ...): one
        teacher-forced pass gives each token's probability under the grammar-constrained distribution, the
        quantity the greedy loop reports, so scores mean the same whichever way the tags were chosen."""
        prefix, prefix_mask = self._prefix(video_embeds, instruction_ids, instruction_mask)
        hidden, _ = self._run_decoder(prefix, prefix_mask, self._tag_embeds(seq[:, :-1], 0))
        logits = self._logits(hidden[:, prefix.shape[1]:]).float()  # (B, L-1, V): the step that chose token j+1
        probs = torch.ones(seq.shape, device=seq.device)
        step_dists: List[List[Optional[torch.Tensor]]] = [[] for _ in range(seq.shape[0])]
        for i, grammar in enumerate(grammars):
            ended = False
            for j in range(seq.shape[1] - 1):
                if ended:
                    step_dists[i].append(None)
                    continue
                allowed = grammar_allows(grammar, seq[i, 1:j + 1].tolist(), logits[i, j], self.config.eos_token_id)
                dist = logits[i, j].masked_fill(~allowed, float("-inf")).softmax(-1)
                probs[i, j + 1] = dist[seq[i, j + 1]]
                step_dists[i].append(dist)
                ended = int(seq[i, j + 1]) == self.config.eos_token_id
        tags, scores, dists = self._read_tags(seq, probs, step_dists)
        return HalstedGenerateOutput(sequences=seq, token_probs=probs, tags=tags, scores=scores, distributions=dists)

    def prepare_inputs_for_generation(self, input_ids, video_embeds=None, instruction_ids=None,
                                      instruction_mask=None, **kwargs):
        return {"input_ids": input_ids, "video_embeds": video_embeds, "instruction_ids": instruction_ids,
                "instruction_mask": instruction_mask}

    def _read_tags(self, seq, probs, step_dists):
        """Walk each sequence: a category's probability is the product of its words' probabilities; for tags
        of single-word categories the full distribution over categories at that step is kept too."""
        words = self.taxonomy.vocabulary()
        index = {w: i for i, w in enumerate(words)}
        all_tags, all_scores, all_dists = [], [], []
        for i in range(seq.shape[0]):
            toks = [words[t] for t in seq[i].tolist()]
            tags = parse_tags(toks, self.taxonomy)
            scores: Dict[str, float] = {}
            dists: Dict[str, Dict[str, float]] = {}
            j, open_tag_name, prob, first_step = 1, None, 1.0, None
            while j < len(toks):
                w = toks[j]
                if open_tag_name is None and w.startswith("<") and not w.startswith("</") and w[1:-1] in tags:
                    open_tag_name, prob, first_step = w[1:-1], 1.0, j
                elif open_tag_name is not None and w == close_tag(open_tag_name):
                    scores[open_tag_name] = prob
                    cats = self.taxonomy.task_of_tag(open_tag_name).tags[open_tag_name]
                    dist = step_dists[i][first_step] if first_step < len(step_dists[i]) else None
                    if dist is not None and all(len(c.split()) == 1 and "–" not in c for c in cats):
                        dists[open_tag_name] = {c: float(dist[index[c]]) for c in cats}
                    open_tag_name = None
                elif open_tag_name is not None:
                    prob *= float(probs[i, j])
                j += 1
            all_tags.append(tags)
            all_scores.append(scores)
            all_dists.append(dists)
        return all_tags, all_scores, all_dists


__all__ = ["HalstedForConditionalGeneration", "HalstedPreTrainedModel", "HalstedOutput", "HalstedGenerateOutput",
           "HalstedTemporalEncoder", "HalstedMultiModalProjector", "TaskGrammarLogitsProcessor", "prefix_lm_mask"]
