"""Load a VideoMAEv2 checkpoint (timm-style keys, as released by the VideoMAEv2 authors) into the encoder.

timm names: patch_embed.proj, blocks.{i}.norm1 / attn.qkv (fused) / attn.q_bias / attn.v_bias / attn.proj /
norm2 / mlp.fc1 / mlp.fc2, fc_norm, head. The fused qkv weight (3D, D) is split into query, key and value;
VideoMAE has no key bias (q_bias and v_bias only). Pre-training checkpoints prefix the encoder with
`encoder.`; classification heads and MAE decoders are dropped.
"""

from __future__ import annotations

import os
import pickle
import re
from typing import Dict, Tuple

import torch

from ..core.errors import CheckpointError

_BLOCK = re.compile(r"^blocks\.(\d+)\.(.+)$")
_RENAMES = {
    "norm1.weight": "layernorm_before.weight", "norm1.bias": "layernorm_before.bias",
    "norm2.weight": "layernorm_after.weight", "norm2.bias": "layernorm_after.bias",
    "attn.proj.weight": "attention.output.dense.weight", "attn.proj.bias": "attention.output.dense.bias",
    "attn.q_bias": "attention.attention.query.bias", "attn.v_bias": "attention.attention.value.bias",
    "mlp.fc1.weight": "intermediate.dense.weight", "mlp.fc1.bias": "intermediate.dense.bias",
    "mlp.fc2.weight": "output.dense.weight", "mlp.fc2.bias": "output.dense.bias",
}
_DROPPED_PREFIXES = ("head.", "decoder.", "encoder_to_decoder.", "mask_token", "fc_norm.", "norm.")


def read_checkpoint(path: str) -> Dict[str, torch.Tensor]:
    if not os.path.exists(path):
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        if path.endswith(".safetensors"):
            from safetensors.torch import load_file
            state = load_file(path)
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:  # torch's weights-only loader met something that is not a tensor
        raise CheckpointError(f"{path}: refused: the pickle holds Python objects besides tensors, which could run "
                              f"code ({' '.join(str(err).split())[-160:]})") from err
    except Exception as err:
        raise CheckpointError(f"{path}: not a readable checkpoint ({' '.join(str(err).split())[:300]})") from err
    for key in ("model", "module", "state_dict"):  # common wrappers
        if isinstance(state, dict) and key in state and isinstance(state[key], dict):
            state = state[key]
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: expected a state dict of tensors")
    return state


def convert_videomae_v2_state_dict(state: Dict[str, torch.Tensor]) -> Tuple[Dict[str, torch.Tensor], list]:
    """timm-style VideoMAEv2 keys -> transformers `VideoMAEModel` keys. Returns (converted, dropped keys)."""
    out: Dict[str, torch.Tensor] = {}
    dropped = []
    for key, value in state.items():
        key = key[len("encoder."):] if key.startswith("encoder.") else key
        if key.startswith("patch_embed.proj."):
            out["embeddings.patch_embeddings.projection." + key.split(".")[-1]] = value
            continue
        match = _BLOCK.match(key)
        if match:
            i, rest = match.groups()
            prefix = f"encoder.layer.{i}."
            if rest == "attn.qkv.weight":
                q, k, v = value.chunk(3, dim=0)
                out[prefix + "attention.attention.query.weight"] = q
                out[prefix + "attention.attention.key.weight"] = k
                out[prefix + "attention.attention.value.weight"] = v
            elif rest == "attn.qkv.bias":  # some variants carry a fused bias; key bias is always zero in VideoMAE
                q, _, v = value.chunk(3, dim=0)
                out[prefix + "attention.attention.query.bias"] = q
                out[prefix + "attention.attention.value.bias"] = v
            elif rest in _RENAMES:
                out[prefix + _RENAMES[rest]] = value
            else:
                dropped.append(key)
            continue
        dropped.append(key)
    return out, dropped


def load_videomae_v2(model, path: str, strict: bool = True) -> list:
    """Load a local VideoMAEv2 checkpoint into `model.video_encoder` (a Halsted model or a VideoMAEModel).
    Shapes must match the encoder's config; returns the checkpoint keys that were not used."""
    encoder = getattr(model, "video_encoder", model)
    converted, dropped = convert_videomae_v2_state_dict(read_checkpoint(path) if isinstance(path, str) else path)
    own = encoder.state_dict()
    wrong = [f"{k}: checkpoint {tuple(v.shape)} vs model {tuple(own[k].shape)}"
             for k, v in converted.items() if k in own and own[k].shape != v.shape]
    if wrong:
        raise CheckpointError("the checkpoint does not fit this encoder's config: " + "; ".join(wrong[:3]))
    missing, unexpected = encoder.load_state_dict(converted, strict=False)
    missing = [k for k in missing if "position_embeddings" not in k]
    if strict and (missing or unexpected):
        raise CheckpointError(f"checkpoint/encoder mismatch: missing {missing[:5]}, unexpected {unexpected[:5]}")
    return dropped
