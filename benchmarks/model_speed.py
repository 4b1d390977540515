"""Clips per second and peak memory of the Halsted model for a preset, batch size, device and dtype.

    python benchmarks/model_speed.py --preset paper --device cuda --dtype bfloat16 --batch-size 1 32
    python benchmarks/model_speed.py --preset tiny --device cpu --batch-size 1 16
    python benchmarks/model_speed.py --preset paper --decoder-only   # decoder from cached clip embeddings
    python benchmarks/model_speed.py --preset tiny --via-transformers  # GenerationMixin.generate + grammar processor

A "clip" is the full path: 16 frames through the encoder, mean pooling, then constrained greedy decoding of
one task's tags (the micro-activity task, the longest outputs). The paper reports 0.31 s for a 10-second,
16-frame clip on an A4000 with mixed precision, and 1.2 GB for the model.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(__file__))
from common import emit  # noqa: E402


def measure(model, processor, batch_size, device, dtype, decoder_only, repeats, via_transformers=False):
    instruction = processor(text=["map dissection activity"] * batch_size)
    ids, mask = instruction["instruction_ids"].to(device), instruction["instruction_mask"].to(device)
    dv = model.config.vision_config.hidden_size
    s, t = processor.image_size, processor.num_frames
    pixels = torch.randn(batch_size, t, 3, s, s, device=device, dtype=dtype)
    embeds = torch.randn(batch_size, dv, device=device, dtype=dtype)

    # any of transformers' own generation arguments sends generate() through GenerationMixin.generate
    extra = {"do_sample": False} if via_transformers else {}

    def step():
        with torch.inference_mode(), torch.autocast(device_type=device.split(":")[0], dtype=dtype,
                                                    enabled=dtype != torch.float32):
            if decoder_only:
                return model.generate(video_embeds=embeds, instruction_ids=ids, instruction_mask=mask, **extra)
            return model.generate(pixel_values=pixels, instruction_ids=ids, instruction_mask=mask, **extra)

    step()  # warm-up (kernels, caches)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(repeats):
        step()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - start
    peak = (torch.cuda.max_memory_allocated() if device.startswith("cuda")
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    return {"clips_per_s": batch_size * repeats / elapsed, "ms_per_batch": 1000 * elapsed / repeats,
            "ms_per_clip": 1000 * elapsed / (repeats * batch_size), "peak_memory_gb": peak / 1e9,
            "peak_memory_kind": "cuda max allocated" if device.startswith("cuda") else "process max RSS"}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=["tiny", "paper"], default="tiny")
    parser.add_argument("--model", default=None, help="a saved model folder instead of a random preset")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], default="float32")
    parser.add_argument("--batch-size", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--decoder-only", action="store_true", help="start from clip embeddings (cached features)")
    parser.add_argument("--via-transformers", action="store_true",
                        help="decode with GenerationMixin.generate and the grammar as a LogitsProcessor instead of "
                             "the model's own greedy loop")
    args = parser.parse_args(argv)

    import halsted_hf  # noqa: F401
    from halsted_hf.model.hub import build_model
    from halsted_hf.model.registry import create

    dtype = getattr(torch, args.dtype)
    if args.model:
        model, processor = create(args.model, device=args.device)
    else:
        model, processor = build_model(args.preset)
    model = model.to(args.device, dtype=dtype if args.device != "cpu" or dtype == torch.float32 else torch.float32)
    params = sum(p.numel() for p in model.parameters())
    for bs in args.batch_size:
        if args.via_transformers:
            result = measure(model, processor, bs, args.device, dtype, args.decoder_only, args.repeats, True)
        else:  # the older call form, so this script also measures older checkouts
            result = measure(model, processor, bs, args.device, dtype, args.decoder_only, args.repeats)
        emit({"benchmark": "model_speed", "preset": args.model or args.preset, "parameters_m": round(params / 1e6, 1),
              "device": args.device, "dtype": args.dtype, "batch_size": bs, "decoder_only": args.decoder_only,
              "generation": "transformers" if args.via_transformers else "own loop",
              **{k: (round(v, 3) if isinstance(v, float) else v) for k, v in result.items()}})


if __name__ == "__main__":
    main()
