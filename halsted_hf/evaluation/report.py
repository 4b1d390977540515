"""The evaluation report: REPORT.md (for people), report.json (for scripts), predictions.csv and figures.

Files are written to temporary names then renamed, so an interrupted report never looks complete.
"""

from __future__ import annotations

import json
import os
from typing import Dict, List, Optional

import numpy as np
import pandas as pd

from ..core.io import atomic_path, atomic_write_text
from .tables import markdown_table, pyplot

CONVENTIONS = """\
## Conventions
- Accuracy: share of ground-truth tags the generated tag matches exactly (a missing tag is wrong).
- AUROC for binary tags (proficiency: positive = high) from the model's probability of the positive category.
- Temporal F1 in [0, 1]: each test video's clips of a task in time order; consecutive clips with one category form a
  segment; a predicted and a true segment of the same category match at >= 10% overlap (IoU), one-to-one.
  F1@{10,25,50} and edit score in [0, 100]: the action-segmentation conventions over the same clip sequences.
- 95% CIs: percentile bootstrap (1000 replicates unless set); unit "video" (whole videos resampled) when the
  evaluated set holds >= 5 videos, else "clip". Temporal metrics always resample videos.
- Chance (the paper's Table 1 convention): uniform = 1/K for a tag with K categories; relative improvement =
  accuracy / uniform chance ("5.5x"). Majority = always answering the training videos' most frequent category;
  "Halsted - majority" is the paired difference on the same tag answers (its CI resamples the same units).
- SAIS-style baseline: a separate model per task (own parameters, one softmax per tag), trained on the same
  training videos only. "trained": `halsted baseline` models, each with its own copy of the run's starting
  encoder (trained when the run trains its encoder) and the run's optimiser, schedule, epochs and checkpoint
  selection; "heads": an MLP per task on the fold's frozen clip embeddings (AdamW, weight decay 1e-2,
  warm-up then cosine decay). Each run says which it used.
  "CIs separate" says whether the two 95% intervals are disjoint; the paired difference CI resamples the same units.
"""


SAIS_KINDS = {"trained": "a model per task with its own encoder copy (`halsted baseline`)",
              "heads": "per-task heads on the fold's frozen clip embeddings"}


def _fmt(ci, pct: bool = True, na: str = "-") -> str:
    if not ci or ci[0] is None:
        return na
    k = 100.0 if pct else 1.0
    if ci[1] is None:
        return f"{ci[0] * k:.1f}" if pct else f"{ci[0]:.2f}"
    sep = " to " if ci[1] < 0 else "-"  # a difference's interval: "-6.1 to -2.0", not "-6.1--2.0"
    return (f"{ci[0] * k:.1f} ({ci[1] * k:.1f}{sep}{ci[2] * k:.1f})" if pct
            else f"{ci[0]:.2f} ({ci[1]:.2f}{sep}{ci[2]:.2f})")


def summary_markdown(s: dict) -> str:
    """Markdown tables of one summary (a fold or the pooled folds)."""
    parts = [f"Test videos: {len(s['test_videos'])}; clips: {s['n_clips']}; CI unit: {s['ci_unit']}.", ""]
    has_majority = any(r.get("chance_majority") for r in s["tasks"])
    if not has_majority:  # say it, rather than a column of "-"
        parts += [f"**Majority baseline: {s.get('majority_note') or 'not available'}.**", ""]
    na = "-" if has_majority else "n/a"
    sais = {r["task"]: r for r in s.get("halsted_vs_sais", [])}
    rows = []
    for r in s["tasks"]:
        c = sais.get(r["task"], {})
        rows.append([r["task"], r["n"], _fmt(r["accuracy"]),
                     f"{100 * r['chance_uniform']:.1f}" if r["chance_uniform"] else "-",
                     _fmt(r.get("chance_majority"), na=na), _fmt(r.get("minus_majority"), na=na),
                     f"{r['relative_improvement']}x" if r["relative_improvement"] else "-",
                     _fmt(c.get("b")),
                     {"a": "yes, Halsted", "b": "yes, SAIS"}.get(c.get("ci_separate"), c.get("ci_separate") or "-"),
                     _fmt(c.get("difference"))])
    parts += ["### By task (accuracy %, 95% CI)", "",
              markdown_table(["task", "n", "Halsted", "chance (1/K)", "majority", "Halsted - majority", "vs chance",
                              "SAIS-style", "CIs separate", "Halsted - SAIS"], rows), ""]
    rows = [[r["tag"], r["task"], r["n"], _fmt(r["accuracy"]), _fmt(r.get("auroc"), False),
             f"{100 * r['chance_uniform']:.1f}", f"{r['relative_improvement']}x" if r["relative_improvement"] else "-",
             _fmt(r.get("majority_accuracy"), na=na), _fmt(r.get("sais_accuracy")), _fmt(r.get("temporal_f1")),
             *(_fmt(r.get(k), False) for k in ("f1@10", "f1@25", "f1@50", "edit"))] for r in s["tags"]]
    parts += ["### By tag", "", markdown_table(["tag", "task", "n", "accuracy %", "AUROC", "chance %", "vs chance",
                                                "majority %", "SAIS %", "temporal F1 %", "F1@10", "F1@25", "F1@50",
                                                "edit"], rows), ""]
    for by in ("specialty", "annotation_source"):
        parts += [f"### By {by.replace('_', ' ')}", "",
                  markdown_table([by, "n", "videos", "accuracy %"],
                                 [[r[by] or "(none)", r["n"], r["videos"], _fmt(r["accuracy"])] for r in s[by]]), ""]
    if s.get("headline_sources"):  # machine labels (self-label, ai) are shown by source, never in the headline
        parts += [f"Headline tables count only test clips labelled by: {', '.join(s['headline_sources'])}.", ""]
    return "\n".join(parts)


def markdown(report: dict, figures: Dict[str, str]) -> str:
    runs = report["runs"]
    out = ["# Halsted evaluation report", "",
           "Runs: " + ", ".join(f"`{n}` ({r['path']})" for n, r in runs.items()) + ".", ""]
    if len(runs) > 1:
        tasks = sorted({t["task"] for r in runs.values() for t in r["pooled"]["tasks"]})
        rows = [[t] + [_fmt(next((x["accuracy"] for x in r["pooled"]["tasks"] if x["task"] == t), None))
                       for r in runs.values()] for t in tasks]
        out += ["## Runs compared (pooled folds, accuracy %, 95% CI)", "", markdown_table(["task", *runs], rows), ""]
    for name, r in runs.items():
        if r.get("kind") == "model":  # `halsted evaluate --model`: one model, every atlas video a test video
            out += [f"## Model `{name}` ({r['path']})", "", f"Atlas: `{r['atlas']}` (every video is a test video); "
                    f"taxonomy: `{r['taxonomy']}`; clips: the mapping workflow's windows; majority baseline: "
                    + (f"the training clips' category counts in `{r['majority_source']}`." if r.get("majority_source")
                       else "not available (no training record in the model folder).")
                    + " No SAIS-style baseline: it trains on training clips (use `--run`)."]
            out += [""] + [f"**Warning: {w}.**\n" for w in r.get("warnings", [])] + [summary_markdown(r["pooled"])]
            continue
        sais_kind = SAIS_KINDS.get(r.get("sais_kind"), r.get("sais_kind") or "none")
        out += [f"## Run `{name}`: all folds pooled ({len(r['folds'])})", "", f"Atlas: `{r['atlas']}`; taxonomy: "
                f"`{r['taxonomy']}`; SAIS-style baseline: {sais_kind}.",
                ""] + [f"**Warning: {w}.**\n" for w in r.get("warnings", [])] + [summary_markdown(r["pooled"])]
        for fold, s in r["folds"].items():
            out += [f"### {name} / {fold}", "",
                    markdown_table(["task", "n", "Halsted", "SAIS-style", "chance (1/K)"],
                           [[t["task"], t["n"], _fmt(t["accuracy"]),
                             _fmt(next((c["b"] for c in s.get("halsted_vs_sais", []) if c["task"] == t["task"]),
                                       None)),
                             f"{100 * t['chance_uniform']:.1f}" if t["chance_uniform"] else "-"]
                            for t in s["tasks"]]), ""]
    if report.get("calibration"):  # evaluation/calibration.py: ECE before/after scaling, reliability diagram
        from .calibration import calibration_markdown

        out += [calibration_markdown(report["calibration"], report.get("calibration_figure"))]
    if figures:
        out += ["## Figures", ""] + [f"![{k}]({v})" for k, v in figures.items()] + [""]
    out.append(CONVENTIONS)
    return "\n".join(out)


def plot_tag_accuracy(report: dict, path: str) -> str:
    """Per-tag accuracy with 95% CI bars: each run's Halsted, the first run's SAIS-style, uniform chance."""
    plt = pyplot()
    runs = list(report["runs"].items())
    tags = [r["tag"] for r in runs[0][1]["pooled"]["tags"]]
    series = [(f"Halsted {n}", {t["tag"]: t["accuracy"] for t in r["pooled"]["tags"]}) for n, r in runs]
    series.append(("SAIS-style", {t["tag"]: t.get("sais_accuracy") for t in runs[0][1]["pooled"]["tags"]}))
    width = 0.8 / len(series)
    fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(tags)), 4))
    x = np.arange(len(tags))
    for k, (label, vals) in enumerate(series):
        ci = [vals.get(t) or [np.nan] * 3 for t in tags]
        pts = np.array([np.nan if c[0] is None else c[0] for c in ci], float)
        lo = np.array([np.nan if c[1] is None else c[1] for c in ci], float)
        hi = np.array([np.nan if c[2] is None else c[2] for c in ci], float)
        err = np.nan_to_num(np.vstack([pts - lo, hi - pts]))
        ax.bar(x + k * width - 0.4 + width / 2, 100 * pts, width, yerr=100 * err, capsize=2, label=label)
    chance = [next(t["chance_uniform"] for t in runs[0][1]["pooled"]["tags"] if t["tag"] == tag) for tag in tags]
    ax.scatter(x, 100 * np.array(chance), marker="_", s=400, color="k", label="chance (1/K)", zorder=3)
    ax.set_xticks(x, tags, rotation=30, ha="right")
    ax.set_ylabel("accuracy % (95% CI)")
    ax.set_ylim(0, 105)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main_tags(preds: pd.DataFrame) -> List[str]:
    """Per task, the tag with the most test rows (ties: more categories): the ones worth a confusion matrix."""
    out = []
    for _, g in preds.groupby("task", sort=True):
        counts = g.groupby("tag").size()
        out.append(counts.sort_values(ascending=False).index[0])
    return out


def plot_confusion(preds: pd.DataFrame, tag: str, categories, path: str) -> str:
    plt = pyplot()
    g = preds[preds["tag"] == tag]
    seen = [c for c in categories if c in set(g["true"]) | set(g["pred"])]
    index = {c: i for i, c in enumerate(seen)}
    m = np.zeros((len(seen), len(seen) + 1))
    for t, p in zip(g["true"], g["pred"]):
        m[index[t], index.get(p, len(seen))] += 1
    norm = m / np.maximum(m.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(2 + 0.35 * len(seen), 1.5 + 0.35 * len(seen)))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(seen) + 1), seen + ["(none)"], rotation=60, ha="right", fontsize=6)
    ax.set_yticks(range(len(seen)), seen, fontsize=6)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"{tag}: confusion (row-normalised, n={len(g)})", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_report(report: dict, tables: Dict[str, Dict[str, pd.DataFrame]], reprs: dict, out_dir: str,
                 taxonomy_of: Optional[dict] = None) -> Dict[str, str]:
    """Write figures, predictions.csv, report.json and REPORT.md (last: its presence means the rest is there)."""
    from .representation import plot_representations
    from ..model.taxonomy import load_taxonomy

    fig_dir = os.path.join(out_dir, "figures")
    os.makedirs(fig_dir, exist_ok=True)
    figures: Dict[str, str] = {}
    figures["accuracy by tag"] = os.path.relpath(
        plot_tag_accuracy(report, os.path.join(fig_dir, "accuracy_by_tag.png")), out_dir)
    first = next(iter(tables))
    halsted = tables[first]["halsted"]
    run_dir = report["runs"][first]["path"]
    candidates = [os.path.join(run_dir, f, "best", "config.json") for f in report["runs"][first]["folds"]]
    candidates.append(os.path.join(run_dir, "config.json"))  # a model folder (`halsted evaluate --model`)
    cfg_path = next((p for p in candidates if run_dir and os.path.exists(p)), None)
    taxonomy = (load_taxonomy(json.load(open(cfg_path)).get("taxonomy")) if cfg_path and os.path.exists(cfg_path)
                else None)
    if taxonomy is not None:
        for tag in main_tags(halsted):
            cats = list(taxonomy.task_of_tag(tag).tags[tag])
            p = plot_confusion(halsted, tag, cats, os.path.join(fig_dir, f"confusion_{tag.replace(' ', '_')}.png"))
            figures[f"confusion {tag} ({first})"] = os.path.relpath(p, out_dir)
    for name, (enc, dec, procs) in reprs.items():
        p = plot_representations(enc, dec, procs, os.path.join(fig_dir, f"representation_{name}.png"),
                                 title=f"{name}: test clips coloured by procedure (as the paper's Fig. 3)")
        figures[f"representation ({name})"] = os.path.relpath(p, out_dir)
    report["figures"] = figures
    all_preds = pd.concat([t.assign(run=n) for n, ts in tables.items() for t in ts.values()], ignore_index=True)
    with atomic_path(os.path.join(out_dir, "predictions.csv")) as tmp:
        all_preds.to_csv(tmp, index=False)
    atomic_write_text(os.path.join(out_dir, "report.json"), json.dumps(report, indent=1, default=str))
    atomic_write_text(os.path.join(out_dir, "REPORT.md"), markdown(report, figures))
    return figures
