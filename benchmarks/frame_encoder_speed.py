"""Frames per second of the EfficientNet-Lite frame encoder (Halsted's pretrained vision tower) by image size,
memory format and dtype: the measurement behind the frame-encoder presets' frame count and size.

    python benchmarks/frame_encoder_speed.py --variant lite0 --sizes 128 160 192 224 --batch-size 32
    python benchmarks/frame_encoder_speed.py --device cuda --dtype bfloat16 --batch-size 256

One JSON line per setting (frames/s over `--repeats` timed batches after one warm-up batch). Weights are
random: speed does not depend on them.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from common import emit  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variant", default="lite0", choices=["lite0", "lite1", "lite2"])
    ap.add_argument("--sizes", type=int, nargs="+", default=[128, 160, 192, 224])
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    ap.add_argument("--formats", nargs="+", default=["channels_last", "contiguous"])
    args = ap.parse_args()

    from halsted_hf.model.configuration_efficientnet_lite import efficientnet_lite_config
    from halsted_hf.model.modeling_efficientnet_lite import EfficientNetLiteModel

    dtype = getattr(torch, args.dtype)
    for fmt in args.formats:
        config = efficientnet_lite_config(args.variant, channels_last=fmt == "channels_last")
        model = EfficientNetLiteModel(config).eval().to(args.device, dtype)
        if fmt == "channels_last":
            model = model.to(memory_format=torch.channels_last)
        for size in args.sizes:
            x = torch.randn(args.batch_size, 3, size, size, device=args.device, dtype=dtype)
            with torch.inference_mode():
                model(x)
                t0 = time.perf_counter()
                for _ in range(args.repeats):
                    model(x).pooler_output.float().sum().item()
                dt = time.perf_counter() - t0
            emit({"bench": "frame_encoder_speed", "variant": args.variant, "size": size, "format": fmt,
                  "dtype": args.dtype, "device": args.device, "batch": args.batch_size,
                  "threads": torch.get_num_threads(), "frames_per_s": round(args.batch_size * args.repeats / dt, 1)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
