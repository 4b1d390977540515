"""Fit a model folder's out-of-distribution description (mapping/ood.py) from an atlas's videos:
`halsted fit-ood --model DIR --atlas ATLAS`.

The atlas's videos are split by video (never by window: neighbouring windows of one video look alike):
every `held_out_every`-th video, in order of id, is held out; the others describe the training
distribution. Each video is cut into stage-1 windows (30 s, as mapping cuts it) every `stride_s` seconds,
decoded and encoded exactly as `halsted map` does (LoadedModel.encode), so the scores mapping computes are on
the same footing. Each part (embedding, colour) gets the (1 - rate / 2) quantile of the held-out videos'
window scores as its threshold, so a held-out window crosses either with probability about `rate`.

With `threshold_atlas` the thresholds come from that atlas's videos instead (videos the model never trained on;
at least `MIN_THRESHOLD_VIDEOS`, else ood.json carries a warning: from a few videos the quantile is little more
than their largest score) and every atlas video describes the training distribution. With `check_atlas`, the
false-alarm rate is measured on yet other in-distribution videos: the share flagged and the share borderline
(mapping/ood.py `BORDERLINE`), each with a 95% Wilson interval over videos.
"""

from __future__ import annotations

import datetime
import math
import os
from typing import Dict, List, Optional, Sequence

import numpy as np

from ..core.errors import HalstedError
from ..video import validate_video
from ..video.decode import iter_windows
from ..video.windows import STAGE1_WINDOW_S, full_length_window
from .ood import PARTS, OodCheck, OodModel, part_descriptors
from .workflow_engine import LoadedModel

DEFAULT_RATE = 0.01
DEFAULT_STRIDE_S = 7.5
MIN_THRESHOLD_VIDEOS = 20


def wilson(k: int, n: int, z: float = 1.96) -> List[float]:
    """[share, low, high]: k of n with its 95% Wilson score interval (sound at 0 of n, unlike the normal one)."""
    if n == 0:
        return [float("nan")] * 3
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return [round(p, 4), round(max(0.0, centre - half), 4), round(min(1.0, centre + half), 4)]


def _video_paths(atlas: str) -> Dict[str, str]:
    from ..data.atlas import read_atlas

    df = read_atlas(atlas)
    return df.drop_duplicates("video_id").sort_values("video_id").set_index("video_id")["video_path"].to_dict()


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
            stride_s: float = DEFAULT_STRIDE_S, progress=print, command: Optional[str] = None,
            threshold_atlas: Optional[str] = None, check_atlas: Optional[str] = None) -> Dict:
    """Fit, threshold and write MODEL_DIR/ood.json + ood.npz; returns what ood.json says."""
    if not 0.0 < rate < 0.5:
        raise HalstedError(f"--rate {rate} is not a false-alarm rate; give a fraction such as 0.01 (1%)")
    if not os.path.isdir(model_dir):
        raise HalstedError(f"{model_dir}: not a model folder; fit-ood writes its files next to the weights")
    paths = _video_paths(atlas)
    ids = sorted(paths)
    if threshold_atlas:
        extra = _video_paths(threshold_atlas)
        overlap = sorted(set(extra) & set(paths))
        if overlap:
            raise HalstedError(f"{threshold_atlas}: {len(overlap)} of its videos are in {atlas} too "
                               f"({overlap[0]}, ...); the threshold needs videos the description was not fitted on")
        held, fit_ids = sorted(extra), ids
        paths = {**paths, **extra}
    else:
        held = [v for i, v in enumerate(ids) if i % held_out_every == held_out_every - 1]
        fit_ids = [v for v in ids if v not in held]
    if len(held) < 1 or len(fit_ids) < 2:
        raise HalstedError(f"{atlas}: {len(ids)} videos; fit-ood needs at least {held_out_every} (one of every "
                           f"{held_out_every} is held out to choose the threshold); use a larger atlas")
    checks = _video_paths(check_atlas) if check_atlas else {}
    if set(checks) & (set(held) | set(fit_ids)):
        raise HalstedError(f"{check_atlas}: the check videos must be other videos than the fitting and threshold ones")
    # The engine without the folder's current description: refitting is how a stale one (fitted on another
    # encoder, which load_model refuses) gets replaced, so it must not stand in the way.
    from ..model.registry import create

    engine = LoadedModel(*create(model_dir), name=model_dir)
    desc: Dict[str, np.ndarray] = {}
    every = fit_ids + held
    for n, vid in enumerate(every, 1):
        desc[vid] = video_descriptors(engine, paths[vid], stride_s)
        progress(f"[{n}/{len(every)}] {vid}: {len(desc[vid]['embedding'])} windows")
    parts = {}
    for name in PARTS:  # each part's threshold at rate / len(PARTS): the union flags about `rate` of windows
        part = OodModel.fit(np.concatenate([desc[v][name] for v in fit_ids]))
        held_part = part.scores(np.concatenate([desc[v][name] for v in held]))
        part.threshold = float(np.quantile(held_part, 1.0 - rate / len(PARTS), method="higher"))
        parts[name] = part
    model = OodCheck(parts)
    held_scores = np.concatenate([model.scores_from(desc[v]) for v in held])
    video_scores = [float(np.median(model.scores_from(desc[v]))) for v in held]
    from .ood import BORDERLINE, encoder_fingerprint

    info = {
        "false_alarm_rate": rate,
        "encoder": encoder_fingerprint(model_dir),
        "rule": "a video is flagged when the median of its stage-1 window scores is above 1, borderline when it is "
                f"above {BORDERLINE}; a stretch when its windows are above 1",
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
        "threshold_from": {"atlas": os.path.abspath(threshold_atlas or atlas), "videos": held,
                           "windows": int(len(held_scores)), "quantile": 1.0 - rate / len(PARTS)},
        "held_out_window_flag_rate": float(np.mean(held_scores > model.threshold)),
        "held_out_video_scores": dict(zip(held, [round(s, 4) for s in video_scores])),
        "created": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": command or f"halsted fit-ood --model DIR --atlas {atlas} --rate {rate}",
    }
    if len(held) < MIN_THRESHOLD_VIDEOS:
        info["warning"] = (f"the thresholds come from {len(held)} held-out videos, fewer than {MIN_THRESHOLD_VIDEOS}: "
                           f"little more than their largest scores; refit with --threshold-atlas")
    if checks:
        scores = {}
        for n, (vid, path) in enumerate(sorted(checks.items()), 1):
            scores[vid] = float(np.median(model.scores_from(video_descriptors(engine, path, stride_s))))
            progress(f"[check {n}/{len(checks)}] {vid}: {scores[vid]:.3f}")
        flagged = sum(s > 1.0 for s in scores.values())
        borderline = sum(BORDERLINE < s <= 1.0 for s in scores.values())
        info["false_alarms"] = {"atlas": os.path.abspath(check_atlas), "videos": len(scores),
                                "flagged": wilson(flagged, len(scores)), "borderline": wilson(borderline, len(scores)),
                                "video_scores": {v: round(s, 4) for v, s in scores.items()}}
    model.save(model_dir, info)
    engine.ood = model  # an engine already cached for this folder sees the new description
    return model.info


def score_video(engine: LoadedModel, path: str, stride_s: float = STAGE1_WINDOW_S) -> Sequence[float]:
    """Window scores of one video without mapping it (benchmarks; mapping computes these itself)."""
    if engine.ood is None:
        raise HalstedError("this model has no out-of-distribution description; run `halsted fit-ood` first")
    return engine.ood.scores_from(video_descriptors(engine, path, stride_s)).tolist()
