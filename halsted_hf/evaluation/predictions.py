"""Running a training RUN's fold models over atlas clips (the RUN folder itself: training/runs.py).

Predictions come out "long": one row per (clip, tag) that the clip's truth carries, so every metric is
a group-by over one table, and baselines produce the same table (same code scores all of them).
"""

from __future__ import annotations

import os
from typing import Dict, Optional, Sequence

import numpy as np
import pandas as pd
import torch

from ..data.atlas import tags_of
from ..data.feature_cache import decode_clips, embed_clips
from ..data.windows import read_windows
from ..core.errors import HalstedError
from ..training.runs import Fold, Run, RunError, load_run  # noqa: F401  (re-exported)

PRED_COLUMNS = ["fold", "system", "clip", "video_id", "start_s", "end_s", "task", "tag", "true", "pred", "score",
                "p_positive", "specialty", "procedure", "annotation_source"]


def run_atlas(run: Run, atlas: Optional[str] = None) -> pd.DataFrame:
    path = atlas or run.arg("atlas", "atlas_path")
    if not path:
        raise RunError(f"{run.path}/run.json names no atlas; pass --atlas ATLAS")
    if not os.path.isabs(path) and not os.path.exists(path):
        path = os.path.join(run.path, path)
    return read_windows(path)  # the windows training used and mapping feeds (data/windows.py)


# ---- clip embeddings ---------------------------------------------------------------------------------
def clip_key(df: pd.DataFrame) -> pd.Series:
    """One key per distinct clip window: rows of several tasks on one window share an embedding."""
    return (df["video_path"].astype(str) + "|" + df["start_s"].map("{:.3f}".format)
            + "|" + df["end_s"].map("{:.3f}".format))


def _from_feature_cache(run: Optional[Run], df: pd.DataFrame, model, processor) -> Optional[np.ndarray]:
    """Embeddings from the trainer's feature cache when the run has one for this encoder and it covers
    every clip; else None (then they are computed from pixels)."""
    cache = run.arg("cache", "cache_dir") if run is not None else None
    if not cache or not os.path.isdir(cache):
        return None
    from ..data.feature_cache import load_cached

    kind = run.info.get("cache_kind", "features")
    try:
        out = load_cached(df, cache, model=model, processor=processor, kind=kind)
    except (HalstedError, KeyError, ValueError, OSError):  # another encoder, or clips it never saw
        return None
    if kind == "pixels":  # a pixel cache (--train-encoder): encode the decoded clips, no re-decoding
        out = embed_clips(model, processor, out).numpy()
    out = np.asarray(out, dtype=np.float32)
    return out if len(out) == len(df) else None


@torch.no_grad()
def clip_embeddings(model, processor, df: pd.DataFrame, batch_size: int = 16, run: Optional[Run] = None) -> np.ndarray:
    """(len(df), Dv) float32 frozen-encoder clip embeddings, one row per atlas row.

    From the run's feature cache when possible, else decoded from pixels (each distinct window once)."""
    cached = _from_feature_cache(run, df, model, processor)
    if cached is not None:
        return cached
    keys = clip_key(df)
    unique = df.loc[~keys.duplicated()]
    windows = list(zip(unique["video_path"], unique["start_s"], unique["end_s"]))
    clips = torch.from_numpy(decode_clips(windows, processor.num_frames, processor.image_size))
    emb = embed_clips(model, processor, clips, batch_size).numpy()
    feats = dict(zip(clip_key(unique), emb))
    return np.stack([feats[k] for k in keys]).astype(np.float32)


# ---- predictions -------------------------------------------------------------------------------------
def positive_category(categories: Sequence[str]) -> Optional[str]:
    """The positive class of a binary tag: the second category (proficiency: low, high -> high)."""
    return categories[1] if len(categories) == 2 else None


def long_rows(df: pd.DataFrame, taxonomy, pred_tags: Sequence[Dict[str, str]], scores: Sequence[Dict[str, float]],
              dists: Sequence[Dict[str, Dict[str, float]]], system: str, fold: str) -> pd.DataFrame:
    """One row per (clip, true tag): truth, prediction, its probability, and P(positive) for binary tags."""
    out = []
    for i, row in enumerate(df.itertuples(index=False)):
        task = taxonomy.task(row.task)
        for tag, true in tags_of(row.tags).items():
            if tag not in task.tags or true is None:
                continue
            pos = positive_category(task.tags[tag])
            pred = pred_tags[i].get(tag)
            score = scores[i].get(tag, float("nan"))
            p_pos = float("nan")
            if pos is not None:
                if tag in dists[i]:
                    p_pos = dists[i][tag].get(pos, float("nan"))
                elif pred is not None:  # no full distribution: the binary complement of the emitted one
                    p_pos = score if pred == pos else 1.0 - score
                else:
                    p_pos = 0.5
            out.append(dict(fold=fold, system=system, clip=int(df.index[i]), video_id=row.video_id,
                            start_s=row.start_s, end_s=row.end_s, task=task.name, tag=tag, true=true, pred=pred,
                            score=score, p_positive=p_pos, specialty=row.specialty, procedure=row.procedure,
                            annotation_source=row.annotation_source))
    return pd.DataFrame(out, columns=PRED_COLUMNS)


@torch.no_grad()
def halsted_predictions(model, processor, df: pd.DataFrame, embeds: np.ndarray, batch_size: int = 64,
            fold: str = "fold-0", system: str = "halsted") -> pd.DataFrame:
    """Greedy, grammar-constrained generation for every row of `df` from its clip embedding (N, Dv)."""
    from ..training.trainer import generate_all

    if df.empty:
        return long_rows(df, model.taxonomy, [], [], [], system, fold)
    inputs = processor(text=list(df["task"]))
    tags, scores, dists = generate_all(model, processor, torch.as_tensor(embeds), inputs["instruction_ids"],
                                       inputs["instruction_mask"], batch_size, model.device)
    return long_rows(df, model.taxonomy, tags, scores, dists, system, fold)


@torch.no_grad()
def decoder_features(model, processor, df: pd.DataFrame, embeds: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """(N, D) final-decoder-layer states averaged over the sequence (prefix and generated tags up to EOS),
    the paper's Fig. 3 representation."""
    feats = []
    eos, pad = model.config.eos_token_id, model.config.pad_token_id
    for i in range(0, len(df), batch_size):
        part = df.iloc[i:i + batch_size]
        inputs = processor(text=list(part["task"]))
        kw = dict(video_embeds=torch.as_tensor(embeds[i:i + batch_size], device=model.device),
                  instruction_ids=inputs["instruction_ids"].to(model.device),
                  instruction_mask=inputs["instruction_mask"].to(model.device))
        seq = model.generate(**kw).sequences
        hidden = model(decoder_input_ids=seq, **kw).hidden_states.float()
        prefix_valid = torch.cat([kw["instruction_mask"].new_ones(len(part), 1), kw["instruction_mask"]], 1).bool()
        # tokens after EOS are padding: they must not dilute the average
        after_eos = (seq == eos).long().cumsum(1) - (seq == eos).long() > 0
        tag_valid = ~after_eos & (seq != pad)
        valid = torch.cat([prefix_valid, tag_valid], 1).float()[..., None]
        feats.append(((hidden * valid).sum(1) / valid.sum(1)).cpu().numpy())
    return np.concatenate(feats) if feats else np.zeros((0, model.config.hidden_size), np.float32)
