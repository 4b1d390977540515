"""Fit a model folder's out-of-distribution description (mapping/ood.py) from an atlas's videos:
`halsted fit-ood --model DIR --atlas ATLAS`.

The atlas's videos are split by video (never by window: neighbouring windows of one video look alike):
every `held_out_every`-th video, in order of id, is held out; the others describe the training
distribution. Each video is cut into stage-1 windows (30 s, as mapping cuts it) every `stride_s` seconds,
decoded and encoded exactly as `halsted map` does (LoadedModel.encode), so the scores mapping computes are on
the same footing. Each part (embedding, colour) gets the (1 - rate / 2) quantile of the held-out videos'
window scores as its threshold, so a held-out window crosses either with probability about `rate`.
"""

from __future__ import annotations

import datetime
import os
from typing import Dict, List, Optional, Sequence

import numpy as np

from ..errors import HalstedError
from ..video import validate_video
from ..video.decode import iter_windows
from ..video.windows import STAGE1_WINDOW_S, full_length_window
from .ood import PARTS, OodCheck, OodModel, part_descriptors
from .workflow_engine import LoadedModel

DEFAULT_RATE = 0.01
DEFAULT_STRIDE_S = 7.5


def video_windows(duration_s: float, window_s: float = STAGE1_WINDOW_S, stride_s: float = DEFAULT_STRIDE_S):
    """Stage-1 windows every `stride_s` over a video (one window of the whole video when it is shorter)."""
    starts = np.arange(0.0, max(duration_s - window_s, 0.0) + 1e-6, stride_s)
    return [full_length_window(float(a), min(float(a) + window_s, duration_s), window_s) for a in starts]


def video_descriptors(engine: LoadedModel, path: str, stride_s: float = DEFAULT_STRIDE_S,
                      batch_size: int = 16) -> Dict[str, np.ndarray]:
    """Part -> (N, D) window descriptors of one video, through the mapping's decoder and encoder."""
    windows = video_windows(float(validate_video(path).duration_s), stride_s=stride_s)
    size = (engine.image_size, engine.image_size)
    out: Dict[str, List[np.ndarray]] = {name: [] for name in PARTS}
    batch: list = []
    tower = engine.model.config.vision_config.hidden_size  # motion thumbnails after it are not described

    def describe():
        embeds = engine.encode(batch)
        for name in PARTS:
            out[name].append(part_descriptors(name, embeds, batch, tower))

    for _, frames in iter_windows(path, windows, engine.num_frames, size, warn=False):
        batch.append(frames)
        if len(batch) == batch_size:
            describe()
            batch = []
    if batch:
        describe()
    return {name: np.concatenate(x) if x else np.zeros((0, 0)) for name, x in out.items()}


def fit_ood(model_dir: str, atlas: str, rate: float = DEFAULT_RATE, held_out_every: int = 4,
            stride_s: float = DEFAULT_STRIDE_S, progress=print, command: Optional[str] = None) -> Dict:
    """Fit, threshold and write MODEL_DIR/ood.json + ood.npz; returns what ood.json says."""
    from ..data.atlas import read_atlas

    if not 0.0 < rate < 0.5:
        raise HalstedError(f"--rate {rate} is not a false-alarm rate; give a fraction such as 0.01 (1%)")
    if not os.path.isdir(model_dir):
        raise HalstedError(f"{model_dir}: not a model folder; fit-ood writes its files next to the weights")
    df = read_atlas(atlas)
    paths = df.drop_duplicates("video_id").sort_values("video_id").set_index("video_id")["video_path"].to_dict()
    ids = sorted(paths)
    held = [v for i, v in enumerate(ids) if i % held_out_every == held_out_every - 1]
    fit_ids = [v for v in ids if v not in held]
    if len(held) < 1 or len(fit_ids) < 2:
        raise HalstedError(f"{atlas}: {len(ids)} videos; fit-ood needs at least {held_out_every} (one of every "
                           f"{held_out_every} is held out to choose the threshold); use a larger atlas")
    # The engine without the folder's current description: refitting is how a stale one (fitted on another
    # encoder, which load_model refuses) gets replaced, so it must not stand in the way.
    from ..model.registry import create

    engine = LoadedModel(*create(model_dir), name=model_dir)
    desc: Dict[str, np.ndarray] = {}
    for n, vid in enumerate(ids, 1):
        desc[vid] = video_descriptors(engine, paths[vid], stride_s)
        progress(f"[{n}/{len(ids)}] {vid}: {len(desc[vid]['embedding'])} windows")
    parts = {}
    for name in PARTS:  # each part's threshold at rate / len(PARTS): the union flags about `rate` of windows
        part = OodModel.fit(np.concatenate([desc[v][name] for v in fit_ids]))
        held_part = part.scores(np.concatenate([desc[v][name] for v in held]))
        part.threshold = float(np.quantile(held_part, 1.0 - rate / len(PARTS), method="higher"))
        parts[name] = part
    model = OodCheck(parts)
    held_scores = np.concatenate([model.scores_from(desc[v]) for v in held])
    video_scores = [float(np.median(model.scores_from(desc[v]))) for v in held]
    from .ood import encoder_fingerprint

    info = {
        "false_alarm_rate": rate,
        "encoder": encoder_fingerprint(model_dir),
        "rule": "a video is flagged when the median of its stage-1 window scores is above 1; a stretch when "
                "its windows are",
        "score": "per part, squared Mahalanobis distance / dimension under a probabilistic-PCA covariance, in "
                 "units of the part's threshold; a window's score is the larger of its parts'",
        "descriptor": {"embedding": "mean of per-frame features" if getattr(engine.model, "temporal", None)
                       is not None else "clip embedding",
                       "colour": "mean and spread of R, G, B and saturation over the window's frames"},
        "part_false_alarm_rate": rate / len(PARTS),
        "window_s": STAGE1_WINDOW_S, "stride_s": stride_s, "num_frames": engine.num_frames,
        "image_size": engine.image_size,
        "fitted_on": {"atlas": os.path.abspath(atlas), "videos": fit_ids,
                      "windows": int(sum(len(desc[v]["embedding"]) for v in fit_ids))},
        "threshold_from": {"videos": held, "windows": int(len(held_scores)), "quantile": 1.0 - rate / len(PARTS)},
        "held_out_window_flag_rate": float(np.mean(held_scores > model.threshold)),
        "held_out_video_scores": dict(zip(held, [round(s, 4) for s in video_scores])),
        "created": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": command or f"halsted fit-ood --model DIR --atlas {atlas} --rate {rate}",
    }
    model.save(model_dir, info)
    engine.ood = model  # an engine already cached for this folder sees the new description
    return model.info


def score_video(engine: LoadedModel, path: str, stride_s: float = STAGE1_WINDOW_S) -> Sequence[float]:
    """Window scores of one video without mapping it (benchmarks; mapping computes these itself)."""
    if engine.ood is None:
        raise HalstedError("this model has no out-of-distribution description; run `halsted fit-ood` first")
    return engine.ood.scores_from(video_descriptors(engine, path, stride_s)).tolist()
