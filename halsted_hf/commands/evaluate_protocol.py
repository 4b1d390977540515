"""`halsted evaluate --protocol NAME --labels ROOT --predictions PATH`: the field's phase-recognition protocol
(accuracy mean +- std over videos, per-phase precision / recall / Jaccard, with and without relaxed boundaries,
beside 95% bootstrap CIs) for Timelines or `halsted evaluate`'s predictions.csv against a dataset's labels."""

from __future__ import annotations

import argparse
import glob
import os
import shlex
import sys
from types import SimpleNamespace
from typing import Dict, List

from ..core.errors import HalstedError


def configure_protocol(p: argparse.ArgumentParser) -> None:
    """The options only --protocol reads (added to `halsted evaluate`'s parser)."""
    p.add_argument("--labels", help="--protocol: the dataset folder with the ground truth, in the protocol's format "
                                    "(cholec80, m2cai16, autolaparo or cholect50; docs/datasets.md)")
    p.add_argument("--predictions", help="--protocol: a folder of Timeline JSON files named after the videos "
                                         "(video41.json, as `halsted map --out` writes) or a predictions.csv "
                                         "(`halsted evaluate`'s, or any CSV with video_id, start_s, end_s, pred)")
    p.add_argument("--split", action="append", help="--protocol: score only this published split (repeatable; "
                                                    "e.g. test); default every labelled video")
    p.add_argument("--split-scheme", choices=("40/40", "32/8/40"), help="--protocol cholec80: which published "
                                                                       "split --split names (default 40/40)")
    p.add_argument("--tag", default="phase", help="--protocol: the predicted tag that holds the phase (default phase)")
    p.add_argument("--relax-s", type=float, help="--protocol: relaxed-boundary width in seconds (default: the "
                                                 "protocol's, 10)")
    p.add_argument("--fps", type=float, help="--protocol: rate the labels are scored at (default: the protocol's, 1)")


def _key(name: str, dataset: str) -> str:
    """A video's name as the labels know it: "cholec80-video41" and "video41" are the same video."""
    return name[len(dataset) + 1:] if name.startswith(f"{dataset}-") else name


def timeline_segments(folder: str, tag: str, dataset: str) -> Dict[str, list]:
    from ..mapping.timeline import Timeline

    files = sorted(glob.glob(os.path.join(folder, "*.json")))
    if not files:
        raise HalstedError(f"{folder}: no Timeline .json files; map the videos first (`halsted map VIDEO --out "
                           f"{folder}/NAME.json`)")
    return {_key(os.path.basename(f)[:-5], dataset): Timeline.load(f).select(tag=tag) for f in files}


def csv_segments(path: str, tag: str, dataset: str, fold: str) -> Dict[str, list]:
    """Windows with a predicted category from a CSV: `halsted evaluate`'s predictions.csv (its Halsted rows of
    `tag`, one fold) or any table with video_id, start_s, end_s and pred."""
    import pandas as pd

    try:
        df = pd.read_csv(path)
    except (OSError, ValueError) as err:
        raise HalstedError(f"{path}: not a readable CSV ({err})") from err
    missing = [c for c in ("video_id", "start_s", "end_s", "pred") if c not in df.columns]
    if missing:
        raise HalstedError(f"{path}: missing column(s) {missing}; a predictions CSV has video_id, start_s, end_s, "
                           f"pred (and optionally tag, system, fold)")
    if "tag" in df.columns:
        df = df[df["tag"] == tag]
    if "system" in df.columns:
        df = df[df["system"] == "halsted"]
    if "fold" in df.columns and fold != "all":  # --fold K, or the column's own name ("fold-K")
        df = df[df["fold"].astype(str).isin([str(fold), f"fold-{fold}"])]
    if "fold" in df.columns and (df.groupby("video_id")["fold"].nunique() > 1).any():
        raise HalstedError(f"{path}: some videos are test videos of several folds; pass --fold K to score one fold")
    out: Dict[str, list] = {}
    for row in df.itertuples(index=False):
        category = None if pd.isna(row.pred) else str(row.pred)
        out.setdefault(_key(str(row.video_id), dataset), []).append(
            SimpleNamespace(start_s=float(row.start_s), end_s=float(row.end_s), tags={tag: category}))
    return out


def run_protocol(args: argparse.Namespace) -> int:
    from ..data.loaders import read_phase_labels
    from ..evaluation.phase_protocol import PROTOCOLS, labels_from_segments
    from ..evaluation.phase_protocol_report import protocol_report, write_protocol_report

    protocol = PROTOCOLS[args.protocol]
    if args.relax_s is not None or args.fps is not None:
        from dataclasses import replace

        protocol = replace(protocol, relax_s=protocol.relax_s if args.relax_s is None else args.relax_s,
                           fps=protocol.fps if args.fps is None else args.fps)
    if not args.labels or not args.predictions:
        raise HalstedError("--protocol needs --labels ROOT (the dataset's ground truth) and --predictions PATH "
                           "(Timeline JSONs or a predictions.csv)")
    if protocol.relax_s < 0:
        raise HalstedError(f"--relax-s {protocol.relax_s:g}: a relaxed boundary is 0 s (none) or more")
    if args.n_boot < 10:
        raise HalstedError(f"--n-boot {args.n_boot} is too few replicates for a 95% interval; use 100 or more")
    options = {}
    if args.split_scheme:
        if protocol.dataset != "cholec80":
            raise HalstedError(f"--split-scheme is Cholec80's; {protocol.dataset} has one published split")
        options["split_scheme"] = args.split_scheme
    found = read_phase_labels(protocol.dataset, args.labels, args.split, **options)
    labels = {v: lab.at_rate(protocol.fps) for v, lab in found.items()}
    if os.path.isdir(args.predictions):
        segments = timeline_segments(args.predictions, args.tag, protocol.dataset)
    elif os.path.isfile(args.predictions):
        segments = csv_segments(args.predictions, args.tag, protocol.dataset, args.fold)
    else:
        raise HalstedError(f"{args.predictions}: no such folder or file; pass Timeline JSONs or a predictions.csv")
    if not labels:
        raise HalstedError(f"{args.labels}: no labelled video in split(s) {args.split}; check --split")
    empty = sorted(v for v, lab in labels.items() if not len(lab.times_s))
    if empty:
        raise HalstedError(f"no label of {', '.join(empty[:5])} falls on a whole tick of --fps {protocol.fps:g}; "
                           f"score at the labels' own rate or a divisor of it")
    missing: List[str] = sorted(set(labels) - set(segments))
    if missing:
        raise HalstedError(f"no prediction for {len(missing)} of {len(labels)} videos ({', '.join(missing[:5])}"
                           f"{', ...' if len(missing) > 5 else ''}) in {args.predictions}; map them, or score one "
                           f"split with --split")
    predicted = {v: labels_from_segments(segments[v], args.tag, lab.times_s) for v, lab in labels.items()}
    try:
        report = protocol_report(labels, predicted, protocol, n_boot=args.n_boot, seed=args.seed)
    except ValueError as err:
        raise HalstedError(str(err)) from err
    report["unscored_predictions"] = sorted(set(segments) - set(labels))
    out = args.out or f"protocol-{protocol.name}"
    path = write_protocol_report(report, out, command=shlex.join(["halsted", *sys.argv[1:]]))
    for variant in ("strict", "relaxed"):
        acc = report[variant]["accuracy"]
        print(f"{variant}: accuracy {acc['mean']:.1f} ± {acc['std']:.1f} over {report['videos']} videos, "
              f"Jaccard {report[variant]['jaccard']['mean']:.1f}")
    print(f"report: {path}")
    return 0
