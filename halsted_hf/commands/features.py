"""`halsted features ATLAS --model PATH --out CACHE`: cache the frozen encoder's clip embeddings.

Resumable: run the same command again after an interruption and only the missing shards are computed.
"""

from __future__ import annotations


def configure(parser):
    parser.add_argument("atlas", help="atlas table (.parquet/.csv) or a folder holding atlas.parquet; "
                                      "the clips cached are its mapping windows, as `halsted train` reads them")
    from . import model_help, preset_help
    from ..model.registry import BUILDABLE

    parser.add_argument("--model", default=None, help=model_help())
    parser.add_argument("--preset", choices=BUILDABLE, default=None, metavar="PRESET",
                        help="instead of --model (for experiments): " + preset_help())
    parser.add_argument("--out", required=True, help="cache folder (created; reused and completed if it exists)")
    parser.add_argument("--batch-size", type=int, default=32, help="clips per encoder forward pass")
    parser.add_argument("--shard-size", type=int, default=512, help="clips per safetensors shard")
    parser.add_argument("--pixels", action="store_true",
                        help="cache decoded uint8 clips instead of embeddings (for --train-encoder)")
    parser.add_argument("--device", default="cpu", help="cpu | cuda")


def run(args) -> int:
    from ..data.atlas import read_atlas
    from ..data.atlas_rows import check_rows
    from ..data.feature_cache import build_cache
    from ..data.windows import mapping_windows
    from ..model.registry import create

    atlas = read_atlas(args.atlas)
    model, processor = create(args.preset or args.model)
    check_rows(atlas, args.atlas, model.taxonomy)  # one line naming the file and the bad row, not a traceback
    df = mapping_windows(atlas)  # the clips training uses: the mapping windows

    def show(s):
        print(f"  shard {s['shards']}: {s['cached'] + s['computed']}/{s['total']} {s['unit']} cached", flush=True)

    summary = build_cache(df, args.out, model=model, processor=processor, kind="pixels" if args.pixels else "features",
                          batch_size=args.batch_size, shard_size=args.shard_size, device=args.device, progress=show)
    if summary["invalidated"]:
        print("the encoder weights changed: the old shards were dropped")
    # a frame encoder's cache counts distinct frames (shared by overlapping windows), not windows
    print(f"{summary['total']} {summary['unit']}: {summary['cached']} were cached, {summary['computed']} computed "
          f"-> {args.out}")
    return 0
