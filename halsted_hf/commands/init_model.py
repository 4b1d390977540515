"""`halsted init-model OUTDIR --preset tiny|paper|lite0|lite1|lite2`: a randomly initialised model in the Hub layout."""

from __future__ import annotations


def configure(parser):
    parser.add_argument("outdir", help="folder to write (config, weights, tokenizer, processor, model code, card)")
    parser.add_argument("--preset", choices=["tiny", "paper", "lite0", "lite1", "lite2"], default="tiny",
                        help="tiny: runs fast on a CPU; paper: ViT-g/14 encoder + 2x1408 decoder (about 1.05 B parameters); "
                             "lite0|lite1|lite2: an EfficientNet-Lite frame encoder + temporal module + 2x512 decoder "
                             "(random; `halsted convert-backbone` gives the pretrained encoder)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--taxonomy", default=None, help="a taxonomy JSON file (default: the paper's Table 3)")
    parser.add_argument("--videomae-checkpoint", default=None,
                        help="a local VideoMAEv2 checkpoint (timm-style keys) to load into the encoder")


def run(args) -> int:
    from ..model.hub import build_model, save_hub_layout
    from ..model.taxonomy import load_taxonomy

    overrides = {}
    if args.taxonomy:
        overrides["taxonomy"] = load_taxonomy(args.taxonomy).to_dict()
    model, processor = build_model(args.preset, seed=args.seed, **overrides)
    if args.videomae_checkpoint and model.config.vision_kind != "video":
        from ..errors import CheckpointError
        raise CheckpointError(f"--videomae-checkpoint needs a VideoMAE preset (tiny or paper), not {args.preset!r}")
    if args.videomae_checkpoint:
        from ..model.convert_videomae import load_videomae_v2
        load_videomae_v2(model, args.videomae_checkpoint)
    card = None if args.videomae_checkpoint else (
        "**These weights are random** (written by `halsted init-model`): train before use.")
    save_hub_layout(model, processor, args.outdir, card=card)
    n = sum(p.numel() for p in model.parameters())
    print(f"wrote a {args.preset} Halsted model ({n / 1e6:.1f} M parameters) to {args.outdir}")
    return 0
