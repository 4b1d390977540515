"""`halsted pretrain-encoder VIDEOS... --out DIR`: masked-autoencoding pretraining of a small VideoMAE encoder."""

from __future__ import annotations


def configure(parser):
    parser.add_argument("videos", nargs="+", help="unlabelled video files")
    parser.add_argument("--out", required=True, help="model folder to write (Hub layout; decoder random)")
    src = parser.add_mutually_exclusive_group()
    src.add_argument("--preset", choices=["tiny", "paper"], default="tiny")
    src.add_argument("--model", default=None, help="start from this model folder's encoder")
    parser.add_argument("--clip-seconds", type=float, default=4.0)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=1.5e-4)
    parser.add_argument("--mask-ratio", type=float, default=0.75)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")


def run(args) -> int:
    from ..training.pretrain_encoder import pretrain_encoder

    result = pretrain_encoder(args.videos, args.out, preset=args.preset, model_path=args.model,
                              clip_seconds=args.clip_seconds, epochs=args.epochs, batch_size=args.batch_size,
                              lr=args.lr, mask_ratio=args.mask_ratio, seed=args.seed, device=args.device,
                              log=lambda m: print(m, flush=True))
    print(f"pretrained on {result['clips']} clips; final reconstruction loss {result['loss'][-1]:.4f} -> {args.out}")
    return 0
