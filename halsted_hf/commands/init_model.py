"""`halsted init-model OUTDIR --preset NAME`: a model built from a registered preset (halsted_hf.model.registry:
tiny, paper, lite0|1|2 random; lite0|1|2-imagenet with the pretrained frame encoder) in the Hub layout."""

from __future__ import annotations


def configure(parser):
    parser.add_argument("outdir", help="folder to write (config, weights, tokenizer, processor, model code, card)")
    from ..model.registry import BUILDABLE, MODELS

    parser.add_argument("--preset", choices=BUILDABLE, default="tiny", metavar="PRESET",
                        help="; ".join(f"{n}: {MODELS[n].summary}" for n in BUILDABLE) + " (default: tiny)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--taxonomy", default=None, help="a taxonomy JSON file (default: the paper's Table 3)")
    parser.add_argument("--videomae-checkpoint", default=None,
                        help="a local VideoMAEv2 checkpoint (timm-style keys) to load into the encoder")


def run(args) -> int:
    from ..model.hub import save_hub_layout
    from ..model.registry import create
    from ..model.taxonomy import load_taxonomy

    overrides = {}
    if args.taxonomy:
        overrides["taxonomy"] = load_taxonomy(args.taxonomy).to_dict()
    model, processor = create(args.preset, seed=args.seed, **overrides)
    if args.videomae_checkpoint and model.config.vision_kind != "video":
        from ..core.errors import CheckpointError
        raise CheckpointError(f"--videomae-checkpoint needs a VideoMAE preset (tiny or paper), not {args.preset!r}")
    if args.videomae_checkpoint:
        from ..model.convert_videomae import load_videomae_v2
        load_videomae_v2(model, args.videomae_checkpoint)
    if args.videomae_checkpoint:
        card = None
    elif args.preset.endswith("-imagenet"):
        card = (f"**The frame encoder is ImageNet EfficientNet-Lite, frozen; the temporal module and the decoder are "
                f"random** (written by `halsted init-model --preset {args.preset}`): train before use.")
    else:
        card = "**These weights are random** (written by `halsted init-model`): train before use."
    save_hub_layout(model, processor, args.outdir, card=card)
    n = sum(p.numel() for p in model.parameters())
    print(f"wrote a {args.preset} Halsted model ({n / 1e6:.1f} M parameters) to {args.outdir}")
    return 0
