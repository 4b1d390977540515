"""Masked-autoencoding pretraining of a small VideoMAE encoder on unlabelled video (VideoMAE's objective).

Clips are cut from the videos with `plan_windows` (non-overlapping windows of `clip_seconds`), decoded once
into a uint8 pixel cache, and `VideoMAEForPreTraining` reconstructs the normalised pixels of a random 75%
of the tubes from the rest. The trained encoder is copied into a Halsted model (the decoder stays random)
and saved in the Hub layout: train it with `halsted train --model DIR` (frozen) or `--train-encoder`.
"""

from __future__ import annotations

import math
import time
from typing import Callable, Optional, Sequence

import torch

from ..data.feature_cache import decode_clips, normalise


def tube_masks(batch: int, seq_len: int, ratio: float, generator: torch.Generator) -> torch.Tensor:
    """(batch, seq_len) bool, the same number of masked tubes in every row (VideoMAE needs that)."""
    n = int(round(seq_len * ratio))
    scores = torch.rand(batch, seq_len, generator=generator)
    idx = scores.argsort(dim=1)[:, :n]
    return torch.zeros(batch, seq_len, dtype=torch.bool).scatter_(1, idx, True)


def pretrain_encoder(videos: Sequence[str], out: str, *, preset: str = "tiny", model_path: Optional[str] = None,
                     clip_seconds: float = 4.0, epochs: int = 10, batch_size: int = 16, lr: float = 1.5e-4,
                     mask_ratio: float = 0.75, seed: int = 0, device: str = "cpu",
                     log: Callable[[str], None] = print) -> dict:
    from transformers import VideoMAEForPreTraining

    from ..model.hub import build_model, save_hub_layout

    from ..model.registry import create
    from ..video import plan_windows, probe_video

    model, processor = create(model_path) if model_path else build_model(preset, seed=seed)
    clips = []
    for path in videos:
        info = probe_video(path)
        clips += [(str(path), s, e) for s, e in plan_windows(info.duration_s, clip_seconds)]
    if not clips:
        from ..core.errors import VideoError
        raise VideoError(f"no clip of {clip_seconds} s fits in the given videos; pass longer videos")
    pixels = torch.from_numpy(decode_clips(clips, processor.num_frames, processor.image_size))
    vcfg = model.config.vision_config
    mae = VideoMAEForPreTraining(vcfg)
    mae.videomae.load_state_dict(model.video_encoder.state_dict())
    mae.to(device).train()
    opt = torch.optim.AdamW(mae.parameters(), lr=lr, weight_decay=0.05)
    steps = epochs * math.ceil(len(pixels) / batch_size)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(1.0, s / max(1, steps)))))
    seq_len = (vcfg.num_frames // vcfg.tubelet_size) * (vcfg.image_size // vcfg.patch_size) ** 2
    gen = torch.Generator().manual_seed(seed)
    history = []
    for epoch in range(epochs):
        t0, losses = time.time(), []
        for idx in torch.randperm(len(pixels), generator=gen).split(batch_size):
            x = normalise(pixels[idx], processor.image_mean, processor.image_std).to(device)
            mask = tube_masks(len(idx), seq_len, mask_ratio, gen).to(device)
            loss = mae(pixel_values=x, bool_masked_pos=mask).loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            losses.append(float(loss.detach()))
        history.append(sum(losses) / len(losses))
        log(f"epoch {epoch + 1}/{epochs} reconstruction loss {history[-1]:.4f} "
            f"({time.time() - t0:.1f} s, {len(pixels)} clips)")
    model.video_encoder.load_state_dict(mae.videomae.state_dict())
    save_hub_layout(model, processor, out, card=(
        f"The video encoder was pretrained by masked autoencoding (`halsted pretrain-encoder`, {epochs} epochs on "
        f"{len(pixels)} unlabelled clips of {len(videos)} video(s)); "
        "**the tag decoder is random**: train before use."))
    return {"clips": len(pixels), "loss": history}
