"""`halsted convert-videomae CHECKPOINT MODEL_DIR`: put VideoMAEv2 weights into a saved Halsted model."""

from __future__ import annotations


def configure(parser):
    parser.add_argument("checkpoint", help="local VideoMAEv2 checkpoint (.pth/.pt/.bin/.safetensors, timm-style keys)")
    parser.add_argument("model_dir", help="a Halsted model folder whose encoder config matches the checkpoint")
    parser.add_argument("--out", default=None, help="where to write the result (default: overwrite model_dir)")


def run(args) -> int:
    from ..model.convert_videomae import load_videomae_v2
    from ..model.hub import save_hub_layout
    from ..model.registry import create

    model, processor = create(args.model_dir)
    dropped = load_videomae_v2(model, args.checkpoint)
    save_hub_layout(model, processor, args.out or args.model_dir)
    print(f"loaded {args.checkpoint} into the encoder ({len(dropped)} checkpoint keys unused: heads, MAE decoder)")
    return 0
