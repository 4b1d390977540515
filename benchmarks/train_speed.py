"""Training speed from cached embeddings: samples per second of joint multitask training steps.

Random embeddings and real tag targets (the step does not care what the numbers are); tiny and paper-size
decoders. Prints one JSON line per preset with the machine and date. The goal on record: one epoch over
650,000 cached samples in under a minute on an H100, i.e. > 10,800 samples/s.

    .venv/bin/python benchmarks/train_speed.py [--device cpu|cuda] [--steps 20] [--batch-size 128]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import time

import torch


def measure(preset: str, device: str, steps: int, batch_size: int) -> dict:
    from halsted_hf.model.hub import build_model
    from halsted_hf.model.taxonomy import HALSTED_TAXONOMY

    if preset == "paper":  # the encoder is not used when training from the cache: keep it 1 layer to save memory
        model, processor = build_model("paper", vision_config=dict(num_hidden_layers=1))
    else:
        model, processor = build_model("tiny")
    model.to(device).train()
    dv = model.config.vision_config.hidden_size
    tasks = [t.name for t in HALSTED_TAXONOMY.tasks]
    tags = [{tag: cats[0] for tag, cats in HALSTED_TAXONOMY.task(t).tags.items()} for t in tasks]
    enc = processor(text=[tasks[i % 4] for i in range(batch_size)], tags=[tags[i % 4] for i in range(batch_size)],
                    max_tag_length=model.config.max_tag_length)
    batch = {k: v.to(device) for k, v in enc.items()}
    embeds = torch.randn(batch_size, dv, device=device)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4)
    use_amp = device == "cuda"

    def step():
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=use_amp):
            loss = model(video_embeds=embeds, **batch).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(3):  # warm-up
        step()
    if device == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    if device == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    sps = steps * batch_size / seconds
    decoder = sum(p.numel() for n, p in model.named_parameters() if not n.startswith("video_encoder"))
    return {"benchmark": "train_speed", "preset": preset, "device": device, "batch_size": batch_size,
            "decoder_params_m": round(decoder / 1e6, 2), "samples_per_s": round(sps, 1),
            "epoch_650k_s": round(650_000 / sps, 1),
            "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cpu"
                       + (f" {torch.cuda.get_device_name()}" if device == "cuda" else ""),
            "torch_threads": torch.get_num_threads(), "date": datetime.datetime.now().isoformat(timespec="seconds")}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--presets", nargs="+", default=["tiny", "paper"])
    args = ap.parse_args()
    for preset in args.presets:
        print(json.dumps(measure(preset, args.device, args.steps, args.batch_size)), flush=True)


if __name__ == "__main__":
    main()
