"""`halsted evaluate` end to end: for each run and fold, embed clips, predict the test videos, train and run the
baselines on the same split and embeddings, score everything per fold and pooled, and write the report.
`halsted evaluate --model DIR` scores one model folder on every video of an atlas (`evaluate_model`)."""

from __future__ import annotations

import os
from typing import Dict, Optional, Sequence

import numpy as np
import pandas as pd

from ..core.errors import HalstedError
from ..training.per_task import FrozenTaskHeads, load_task_models
from .baselines import frozen_heads_predictions, heads_predictions, majority_predictions
from .evaluate import summarize
from .predictions import Run, clip_embeddings, decoder_features, halsted_predictions, load_run, run_atlas


def _encoder_key(model) -> tuple:
    """Identifies the encoder's weights: folds of a frozen-encoder run share one set of embeddings."""
    return tuple(round(float(p.detach().double().sum()), 6) for p in list(model.video_encoder.parameters())[:4]) + (
        sum(p.numel() for p in model.video_encoder.parameters()),)


def _task_model_predictions(task_models, run: Run, fold, test_df: pd.DataFrame, test_emb: np.ndarray, model, processor,
                            batch_size: int):
    """Predictions of `halsted baseline`'s per-task models on the test clips -> (table, training videos)."""
    import torch

    from ..training.per_task import test_pixels

    train_videos = set()
    needs_pixels = any(m.encoder is not None for m in task_models.values())
    video = test_pixels(run, test_df, processor) if needs_pixels else torch.as_tensor(test_emb)
    for t in task_models.values():
        train_videos.update(getattr(t, "train_videos", []))
    heads = {task: (lambda rows, m=m: m.logits(video[torch.as_tensor(rows)], batch_size), m.tags)
             for task, m in task_models.items()}
    return heads_predictions(test_df, model.taxonomy, heads, fold.name, "sais"), sorted(train_videos)


def evaluate_fold(run: Run, fold, atlas: pd.DataFrame, batch_size: int = 16, baselines: bool = True,
                  baseline_kwargs: Optional[dict] = None, max_repr_points: int = 400,
                  embed_cache: Optional[dict] = None,
                  log=print, sais: str = "auto") -> dict:
    """-> {"preds": {system: table}, "baseline_train_videos": [...], "sais_kind", "repr": (enc, dec, procedures)}.

    `sais`: "trained" uses the per-task models of `halsted baseline` (RUN/fold-K/sais/), "heads" trains
    per-task heads on this fold's frozen clip embeddings, "auto" the first when they exist."""
    from ..model.registry import create

    model, processor = create(fold.model_dir)
    tasks = set(model.taxonomy.task_names)
    df = atlas[atlas["task"].isin(tasks)]
    if df.empty:
        raise HalstedError(f"{fold.path}: no atlas clip has a task of this model's taxonomy ({sorted(tasks)}); "
                           f"pass the atlas the run was trained on with --atlas")
    test_ids, train_ids = set(fold.split["test"]), set(fold.split.get("train", []))
    test_df = df[df["video_id"].isin(test_ids)]
    train_df = df[df["video_id"].isin(train_ids)]
    if test_df.empty:
        raise HalstedError(f"{fold.path}: none of the test videos {sorted(test_ids)[:5]} is in the atlas; "
                           f"pass the atlas the run was trained on with --atlas")
    assert not (set(train_df["video_id"]) & set(test_df["video_id"])), "a test video is in the training rows"
    key = _encoder_key(model)
    cache = embed_cache if embed_cache is not None else {}
    need = pd.concat([test_df, train_df]) if baselines else test_df
    if key not in cache:
        cache[key] = {}
    store = cache[key]
    missing = need[[i not in store for i in need.index]]
    if len(missing):
        log(f"  {fold.name}: embedding {len(missing)} clips")
        for i, e in zip(missing.index, clip_embeddings(model, processor, missing, batch_size, run)):
            store[i] = e
    emb = lambda d: np.stack([store[i] for i in d.index]) if len(d) else np.zeros((0, 1), np.float32)  # noqa: E731
    test_emb = emb(test_df)
    log(f"  {fold.name}: predicting {len(test_df)} test clips of {test_df['video_id'].nunique()} video(s)")
    preds = {"halsted": halsted_predictions(model, processor, test_df, test_emb, fold=fold.name)}
    result = {"preds": preds, "baseline_train_videos": [], "taxonomy": model.taxonomy}
    if not len(train_df):
        result["majority_note"] = ("not available: none of this fold's training videos is in the atlas, so their "
                                   "category counts are unknown")
    else:  # counts of the training rows' categories: no model runs, so --no-baselines keeps it
        preds["majority"] = majority_predictions(model.taxonomy, train_df, test_df, fold.name)
    if baselines and len(train_df):
        task_models = load_task_models(fold.path, model.video_encoder, processor) if sais != "heads" else {}
        if sais == "trained" and not task_models:
            raise HalstedError(f"{fold.path}: no SAIS-style task models; run `halsted baseline --run {run.path}` "
                               f"first, or evaluate with --sais heads")
        if task_models:
            log(f"  {fold.name}: SAIS-style models trained per task ({', '.join(task_models)})")
            preds["sais"], result["baseline_train_videos"] = _task_model_predictions(
                task_models, run, fold, test_df, test_emb, model, processor, batch_size)
            result["sais_kind"] = "trained"
        else:
            sais_heads = FrozenTaskHeads(model.taxonomy, **(baseline_kwargs or {})).fit(train_df, emb(train_df))
            preds["sais"] = frozen_heads_predictions(sais_heads, test_df, test_emb, fold=fold.name)
            result["baseline_train_videos"], result["sais_kind"] = sais_heads.train_videos, "heads"
        if set(result["baseline_train_videos"]) & test_ids:  # the contract the report relies on
            raise AssertionError(f"{fold.name}: SAIS baseline trained on test video(s)")
    sample = (test_df.sample(min(len(test_df), max_repr_points), random_state=0) if max_repr_points
              else test_df.iloc[:0])
    if len(sample):
        result["repr"] = (emb(sample), decoder_features(model, processor, sample, emb(sample)),
                          list(sample["procedure"]))
    return result


def evaluate_runs(run_paths: Sequence[str], out_dir: str, atlas_path: Optional[str] = None, fold: str = "all",
                  n_boot: int = 1000, ci_unit: str = "auto", batch_size: int = 16, baselines: bool = True,
                  baseline_kwargs: Optional[dict] = None, max_repr_points: int = 400, seed: int = 0, log=print,
                  sais: str = "auto") -> dict:
    """Evaluate one or several runs; writes OUT/REPORT.md, OUT/report.json, OUT/figures/*.png and
    OUT/predictions.csv. Returns the report dict."""
    from .report import write_report

    results: Dict[str, dict] = {}
    tables: Dict[str, Dict[str, pd.DataFrame]] = {}
    reprs = {}
    for path in run_paths:
        run = load_run(path, fold)
        atlas = run_atlas(run, atlas_path)
        name = run.name if run.name not in results else f"{run.name}-{len(results)}"
        log(f"evaluating {name}: {len(run.folds)} fold(s)")
        per_fold, pooled, train_videos, enc, dec, procs, sais_kinds = {}, {}, {}, [], [], [], set()
        embed_cache: dict = {}
        taxonomy = None
        for f in run.folds:
            r = evaluate_fold(run, f, atlas, batch_size, baselines, baseline_kwargs, max_repr_points, embed_cache, log,
                              sais)
            sais_kinds.add(r.get("sais_kind"))
            taxonomy = r["taxonomy"]
            per_fold[f.name] = summarize(r["preds"], taxonomy, n_boot, ci_unit, seed)
            per_fold[f.name]["split"] = f.split
            if "majority_note" in r:
                per_fold[f.name]["majority_note"] = r["majority_note"]
            train_videos[f.name] = r["baseline_train_videos"]
            for system, t in r["preds"].items():
                pooled.setdefault(system, []).append(t)
            if "repr" in r:
                enc.append(r["repr"][0]), dec.append(r["repr"][1]), procs.extend(r["repr"][2])
        pooled_tables = {s: pd.concat(ts, ignore_index=True) for s, ts in pooled.items()}
        results[name] = {"path": run.path, "atlas": atlas_path or run.arg("atlas", "atlas_path"),
                         "taxonomy": taxonomy.name, "folds": per_fold, "baseline_train_videos": train_videos,
                         "sais_kind": "+".join(sorted(k for k in sais_kinds if k)) or None,
                         "pooled": summarize(pooled_tables, taxonomy, n_boot, ci_unit, seed), "warnings": []}
        if run.info and "clip_windows_s" not in run.info:  # run.json written before clips became windows
            results[name]["warnings"].append("this run was trained on whole ground-truth segments (before training "
                                             "clips became the mapping windows); it is scored on the windows")
        notes = sorted({s["majority_note"] for s in per_fold.values() if "majority_note" in s})
        if notes:
            results[name]["pooled"]["majority_note"] = "; ".join(notes)
        tables[name] = pooled_tables
        if enc:
            reprs[name] = (np.concatenate(enc), np.concatenate(dec), procs)
    report = {"runs": results, "settings": {"n_boot": n_boot, "ci_unit": ci_unit, "fold": fold, "seed": seed,
                                            "baseline": FrozenTaskHeads(None, **(baseline_kwargs or {})).settings()}}
    write_report(report, tables, reprs, out_dir)
    return report


def evaluate_model(model_dir: str, atlas_path: str, out_dir: str, n_boot: int = 1000, ci_unit: str = "auto",
                   batch_size: int = 16, max_repr_points: int = 400, seed: int = 0, log=print,
                   calibrate: bool = False) -> dict:
    """Score one model folder on every video of an atlas (all are test videos), on the mapping windows.
    The majority baseline comes from the folder's training record (training/record.py) when it has one;
    otherwise the report says it is not available. Writes the same files as `evaluate_runs`.

    calibrate: also fit one temperature per task on the atlas's videos that the training record names as
    validation videos, write calibration.json into the model folder (mapping applies it), and report the
    expected calibration error before and after scaling on the other videos (evaluation/calibration.py)."""
    from ..data.windows import read_windows
    from ..model.registry import create, resolve
    from ..training.record import TRAINING_RECORD, majority_of_counts, read_training_record
    from .report import write_report

    model_dir = resolve(model_dir)  # None: the demo model
    model, processor = create(model_dir)
    tasks = set(model.taxonomy.task_names)
    atlas = read_windows(atlas_path)
    df = atlas[atlas["task"].isin(tasks)]
    if df.empty:
        raise HalstedError(f"{atlas_path}: no atlas clip has a task of this model's taxonomy ({sorted(tasks)})")
    record = read_training_record(model_dir) if os.path.isdir(model_dir) else None
    name = os.path.basename(os.path.abspath(model_dir)) if os.path.isdir(model_dir) else model_dir.replace("/", "-")
    log(f"evaluating {name}: embedding {len(df)} clips of {df['video_id'].nunique()} video(s)")
    emb = clip_embeddings(model, processor, df, batch_size)
    preds = {"halsted": halsted_predictions(model, processor, df, emb, fold="model")}
    warnings = []
    if record is not None:
        preds["majority"] = majority_predictions(model.taxonomy, None, df, "model",
                                                 majority_of_counts(record["category_counts"]))
        seen = sorted(set(record.get("train_videos", [])) | set(record.get("val_videos", [])))
        leaked = sorted(set(df["video_id"]) & set(seen))
        if leaked:
            warnings.append(f"{len(leaked)} of the atlas's {df['video_id'].nunique()} videos trained or validated "
                            f"this model ({', '.join(leaked[:5])}{', ...' if len(leaked) > 5 else ''}): "
                            f"these numbers are not held-out results")
    summary = summarize(preds, model.taxonomy, n_boot, ci_unit, seed)
    summary["split"] = {"train": (record or {}).get("train_videos", []), "val": (record or {}).get("val_videos", []),
                        "test": sorted(df["video_id"].unique().tolist())}
    if record is None:
        summary["majority_note"] = (f"not available: {model_dir} has no {TRAINING_RECORD} (written beside the "
                                    f"weights by `halsted train`), so the training clips' category counts are unknown")
    result = {"path": os.path.abspath(model_dir) if os.path.isdir(model_dir) else model_dir, "kind": "model",
              "atlas": atlas_path,
              "taxonomy": model.taxonomy.name, "folds": {}, "baseline_train_videos": {}, "sais_kind": None,
              "majority_source": TRAINING_RECORD if record is not None else None, "warnings": warnings,
              "pooled": summary}
    reprs = {}
    sample = df.sample(min(len(df), max_repr_points), random_state=0) if max_repr_points else df.iloc[:0]
    if len(sample):
        semb = emb[[df.index.get_loc(i) for i in sample.index]]
        reprs[name] = (semb, decoder_features(model, processor, sample, semb), list(sample["procedure"]))
    for w in warnings:
        log(f"warning: {w}")
    from .environment import describe

    report = {"runs": {name: result}, "settings": {"n_boot": n_boot, "ci_unit": ci_unit, "seed": seed,
                                                   "clips": "mapping windows (data/windows.py)"},
              "environment": describe()}
    if calibrate:
        report["calibration"], report["calibration_figure"] = _calibrate(model_dir, preds["halsted"], record,
                                                                         atlas_path, out_dir)
    write_report(report, {name: preds}, reprs, out_dir)
    return report


def _calibrate(model_dir: str, halsted, record: Optional[dict], atlas_path: str, out_dir: str):
    """Temperatures from the validation videos' predictions, ECE on the rest; writes calibration.json."""
    from .calibration import calibrate_model, plot_reliability

    val_videos = sorted(set((record or {}).get("val_videos", [])) & set(halsted["video_id"]))
    if not os.path.isdir(model_dir) or not val_videos:
        raise HalstedError(f"--calibrate needs the model's validation videos in {atlas_path}: the model folder's "
                           f"training_record.json names them (written by `halsted train`); evaluate with the "
                           f"atlas it was trained on")
    val = halsted[halsted["video_id"].isin(val_videos)]
    rest = halsted[~halsted["video_id"].isin(val_videos)]
    rows = calibrate_model(model_dir, val, rest if len(rest) else None,
                           fitted_on=f"validation video(s) {', '.join(val_videos)} of {atlas_path}")
    os.makedirs(os.path.join(out_dir, "figures"), exist_ok=True)
    plot_reliability(rows, os.path.join(out_dir, "figures", "reliability.png"))
    return rows, "figures/reliability.png"
