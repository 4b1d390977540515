"""`halsted fit-ood --model DIR --atlas ATLAS [--rate 0.01]`: write DIR/ood.json + ood.npz, the description of
the windows the model was trained on, by their frame embeddings and their colours (halsted_hf/mapping/ood.py).
`halsted map` then flags a video, or a stretch of one, that does not look like the surgery the model was trained on.

Give the atlas the model was trained on: one of every --held-out-every videos is held out to choose the
thresholds at the stated false-alarm rate (per window, both parts together); the rest describe the training frames."""

from __future__ import annotations

import argparse


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="model folder (ood.json and ood.npz are written into it)")
    p.add_argument("--atlas", required=True, help="atlas table or folder: the videos the model was trained on")
    p.add_argument("--rate", type=float, default=0.01,
                   help="false-alarm rate per window on held-out in-distribution videos (default 0.01 = 1%%)")
    p.add_argument("--held-out-every", type=int, default=4,
                   help="every Nth video (by id) is held out to choose the threshold (default 4)")
    p.add_argument("--stride", type=float, default=7.5,
                   help="seconds between the 30-s windows described (default 7.5)")
    p.add_argument("--threshold-atlas", default=None,
                   help="videos the model never trained on (20 or more) to choose the thresholds on; then every "
                        "--atlas video describes the training frames")
    p.add_argument("--check-atlas", default=None,
                   help="other in-distribution videos to measure the false-alarm rate on (share flagged and "
                        "borderline, with 95%% CIs over videos)")


def run(args: argparse.Namespace) -> int:
    import sys

    from ..core.errors import HalstedError
    from ..mapping.ood_fit import fit_ood

    if args.held_out_every < 2:
        raise HalstedError(f"--held-out-every {args.held_out_every}: use 2 or more (1 would hold out every video)")
    if args.stride <= 0:
        raise HalstedError(f"--stride {args.stride}: give a positive number of seconds")
    info = fit_ood(args.model, args.atlas, rate=args.rate, held_out_every=args.held_out_every, stride_s=args.stride,
                   threshold_atlas=args.threshold_atlas, check_atlas=args.check_atlas,
                   progress=lambda m: print(m, file=sys.stderr),
                   command="halsted " + " ".join(sys.argv[1:]) if sys.argv[1:2] == ["fit-ood"] else None)
    parts = ", ".join(f"{name} {p['threshold']:.3f}" for name, p in info["parts"].items())
    print(f"thresholds {parts} (a window scores above 1 when it crosses either: {args.rate:.1%} of held-out windows "
          f"expected, {info['held_out_window_flag_rate']:.1%} observed) "
          f"from {info['threshold_from']['windows']} windows of "
          f"{len(info['threshold_from']['videos'])} held-out videos; fitted on {info['fitted_on']['windows']} windows")
    if "warning" in info:
        print(f"warning: {info['warning']}")
    if "false_alarms" in info:
        fa = info["false_alarms"]
        print(f"false alarms on {fa['videos']} other in-distribution videos: {fa['flagged'][0]:.1%} flagged "
              f"({fa['flagged'][1]:.1%}-{fa['flagged'][2]:.1%}), {fa['borderline'][0]:.1%} borderline "
              f"({fa['borderline'][1]:.1%}-{fa['borderline'][2]:.1%})")
    print(f"wrote {args.model}/ood.json and ood.npz")
    return 0
