"""`halsted evaluate --run RUN` or `--model DIR --atlas ATLAS`: accuracy, AUROC, temporal F1 with 95% CIs,
baselines, report and figures. Clips are the mapping workflow's windows (halsted_hf/data/windows.py).
`--protocol NAME` scores phase predictions the field's way instead (evaluate_protocol.py)."""

from __future__ import annotations

import argparse
import os

from ..evaluation.phase_protocol import PROTOCOLS
from .evaluate_protocol import configure_protocol


def configure(p: argparse.ArgumentParser) -> None:
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--run", help="a run folder written by `halsted train` (RUN/fold-K/best, split.json)")
    which.add_argument("--model", help="a model folder (or a registered name, e.g. demo): every video of --atlas is "
                                       "a test video; the majority baseline comes from the folder's "
                                       "training_record.json (written by `halsted train`)")
    which.add_argument("--protocol", choices=sorted(PROTOCOLS),
                       help="the phase papers' protocol: per-video accuracy mean +- std, per-phase precision / "
                            "recall / Jaccard, with and without 10-s relaxed boundaries, and 95%% bootstrap CIs, "
                            "for --predictions against the dataset folder --labels (docs/evaluation.md)")
    p.add_argument("--atlas", help="atlas table or folder (--run: default the one named in RUN/run.json; "
                                   "required with --model)")
    p.add_argument("--fold", default="all",
                   help="fold index K, or 'all' (default) for every fold and the pooled result")
    p.add_argument("--out", help="report folder (default: RUN/evaluation; with --model: ./evaluation-NAME)")
    p.add_argument("--compare", nargs="*", default=[], metavar="RUN2", help="more runs to evaluate and compare")
    p.add_argument("--n-boot", type=int, default=1000, help="bootstrap replicates for the 95%% CIs (default 1000)")
    p.add_argument("--ci-unit", choices=("auto", "video", "clip"), default="auto",
                   help="what the bootstrap resamples (auto: videos when >= 5 test videos, else clips)")
    p.add_argument("--batch-size", type=int, default=16, help="clips per encoder/decoder batch")
    p.add_argument("--no-baselines", action="store_true", help="skip the SAIS-style baseline (the majority baseline, "
                                                                 "from the training rows' counts, stays)")
    p.add_argument("--sais", choices=("auto", "trained", "heads"), default="auto",
                   help="SAIS-style baseline: 'trained' = the per-task models of `halsted baseline --run RUN` (own "
                        "encoder copy each; the fair baseline for --train-encoder runs), 'heads' = per-task heads "
                        "trained here on this fold's frozen clip embeddings, 'auto' (default) = trained where they "
                        "exist")
    p.add_argument("--baseline-epochs", type=int, default=60,
                   help="epochs of the per-task heads (--sais heads; default 60)")
    p.add_argument("--baseline-lr", type=float, default=1e-3,
                   help="AdamW learning rate of the per-task heads (--sais heads)")
    p.add_argument("--repr-points", type=int, default=400, help="test clips in the Fig. 3 map (0: no figure)")
    p.add_argument("--calibrate", action="store_true",
                   help="with --model: fit one temperature per task on the validation videos named in the folder's "
                        "training_record.json, write calibration.json into the model folder (mapping applies it) "
                        "and report ECE before/after on the other videos of --atlas")
    p.add_argument("--write-card", action="store_true",
                   help="with --model: write the results into the folder's README.md (the model card, made if it "
                        "has none) and its metadata's model-index, for `halsted publish`")
    p.add_argument("--seed", type=int, default=0)
    configure_protocol(p)


def run(args: argparse.Namespace) -> int:
    from ..core.errors import HalstedError

    if args.protocol:
        from .evaluate_protocol import run_protocol

        return run_protocol(args)
    from ..evaluation.end_to_end import evaluate_model, evaluate_runs

    if args.n_boot < 10:
        raise HalstedError(f"--n-boot {args.n_boot} is too few replicates for a 95% interval; use 100 or more")
    if args.model:
        if not args.atlas:
            raise HalstedError("--model needs --atlas ATLAS: the videos to evaluate it on (all are test videos)")
        if args.compare:
            raise HalstedError("--compare works with --run; evaluate each model folder on its own with --model")
        out = args.out or f"evaluation-{os.path.basename(os.path.abspath(args.model))}"
        evaluate_model(args.model, args.atlas, out, n_boot=args.n_boot, ci_unit=args.ci_unit,
                       batch_size=args.batch_size, max_repr_points=args.repr_points, seed=args.seed,
                       calibrate=args.calibrate)
        if args.calibrate:
            print(f"wrote {os.path.join(args.model, 'calibration.json')} (mapping applies it from now on)")
        if args.write_card:
            print(f"wrote {write_evaluated_card(args.model, out, args.atlas)} (results and model-index)")
        print(f"report: {os.path.join(out, 'REPORT.md')}")
        return 0
    if args.calibrate or args.write_card:
        raise HalstedError("--calibrate and --write-card work with --model DIR --atlas ATLAS (they write into the "
                           "model folder)")
    out = args.out or os.path.join(args.run, "evaluation")
    evaluate_runs([args.run, *args.compare], out, atlas_path=args.atlas, fold=args.fold, n_boot=args.n_boot,
                  ci_unit=args.ci_unit, batch_size=args.batch_size, baselines=not args.no_baselines,
                  baseline_kwargs={"epochs": args.baseline_epochs, "lr": args.baseline_lr, "seed": args.seed},
                  max_repr_points=args.repr_points, seed=args.seed, sais=args.sais)
    print(f"report: {os.path.join(out, 'REPORT.md')}")
    return 0


def write_evaluated_card(model_dir: str, out: str, atlas: str) -> str:
    """The evaluation in `out` written into the model folder's card: the results block (evaluation/card.py)
    and the metadata's model-index (model/model_card.py); -> the card's path."""
    import json

    from ..evaluation.card import write_card_results
    from ..model.model_card import record_evaluation, write_model_card
    from ..model.registry import create

    card = os.path.join(model_dir, "README.md")
    model, _ = create(model_dir)
    if not os.path.isfile(card):
        write_model_card(model_dir, model.config, model=model)
    with open(os.path.join(out, "report.json"), encoding="utf-8") as f:
        report = json.load(f)
    write_card_results(card, report, command=f"halsted evaluate --model {model_dir} --atlas {atlas}")
    return record_evaluation(card, model.config, report, dataset=os.path.basename(os.path.normpath(atlas)))
