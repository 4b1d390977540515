"""`halsted train --atlas ATLAS --out RUN`: joint multitask training with Monte-Carlo cross-validation.

Run the same command again after an interruption: finished folds are skipped and the unfinished fold
resumes after its last finished epoch. The RUN layout is described in docs/training.md.
"""

from __future__ import annotations


def configure(parser):
    parser.add_argument("--atlas", required=True, action="append",
                        help="atlas table or folder (atlas.parquet); its clips are the mapping windows: 30 s for "
                             "macro-activity, 2.5 s for the other tasks. Repeat it or give a comma list to train on "
                             "several (combined into RUN/atlas.parquet)")
    parser.add_argument("--sources", default=None,
                        help="train only on rows of these annotation sources, comma list: human (= manual, surgeon), "
                             "manual, ai, self-label, surgeon (default: all)")
    parser.add_argument("--source-weight", action="append", default=[], metavar="SOURCE=W",
                        help="loss weight of a source's rows, e.g. self-label=0.5 (repeat or comma list; default 1)")
    parser.add_argument("--out", required=True, help="run folder (RUN/run.json, RUN/fold-K/...)")
    src = parser.add_mutually_exclusive_group()
    from . import model_help, preset_help
    from ..model.registry import BUILDABLE

    src.add_argument("--model", default=None, help="start from this model: " + model_help(default="")
                     + " (e.g. a pretrain-encoder output, or a trained model to fine-tune, "
                       "e.g. on `halsted export-labels` rows)")
    src.add_argument("--preset", choices=BUILDABLE, default="tiny", metavar="PRESET",
                     help="initial model: " + preset_help() + " (default tiny; lite0|1|2 are the random-encoder "
                          "baseline the *-imagenet starts are compared with)")
    parser.add_argument("--cache", default=None, help="feature (or pixel) cache folder; default RUN/cache")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--val-videos", type=int, default=1)
    parser.add_argument("--test-videos", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--weight-decay", type=float, default=1e-2)
    parser.add_argument("--warmup-epochs", type=float, default=2.0)
    parser.add_argument("--device", default="cpu",
                        help="cpu | cuda (several GPUs: `accelerate launch -m halsted_hf.cli train ...`)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-encoder", action="store_true",
                        help="train the encoder with the decoder from a pixel cache (small encoders, small atlases)")


def run(args) -> int:
    from ..training.cv import run_cv
    from ..training.sources import expand_sources, parse_weights, prepare_atlas
    from ..training.trainer import TrainConfig

    sources = expand_sources([args.sources]) if args.sources else None
    weights = parse_weights(args.source_weight)
    atlas = prepare_atlas(args.atlas, args.out, sources)

    cfg = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, weight_decay=args.weight_decay,
                      warmup_epochs=args.warmup_epochs, device=args.device, seed=args.seed)
    given = {k: v for k, v in vars(args).items() if not k.startswith("_")}
    result = run_cv(atlas, args.out, model_path=args.model, preset=args.preset, cache=args.cache,
                    folds=args.folds, val_videos=args.val_videos, test_videos=args.test_videos,
                    train_encoder=args.train_encoder, cfg=cfg, log=lambda m: print(m, flush=True), args=given,
                    source_weights=weights)
    for r in result["folds"]:
        best = r["best"] or {}
        print(f"fold {r['fold']}: best epoch {best.get('epoch')} "
              f"worst-task val accuracy {best.get('worst', float('nan')):.3f}")
    return 0
