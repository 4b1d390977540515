"""`halsted fit-out-of-body`: train the out-of-body classifier, choose its threshold on validation material,
and measure it on material it never saw (material.py says what each part is).

Splits, decided by source so that no picture or video lends frames to two of them:
- train:      in body: the CholecT50 videos but two (when a folder is given) and synthetic seeds 1-3;
              out of body: four of every five scikit-image pictures and gradio's stills but its lion (random
              crops), gradio's clips a.mp4 and world.mp4, lfw faces 0-79.
- validation: in body: one more CholecT50 video (when given) and synthetic seed 4; out of body: every fifth
              scikit-image picture, gradio's lion and b.mp4, lfw faces 80-99. The threshold is the lowest
              probability at which at least `keep` of the in-body validation frames are still kept: as many
              out-of-body frames removed as that budget of lost surgery allows (high recall first).
- test:       in body: the held-out CholecT50 video; out of body: opencv-doc, scikit-learn and Matplotlib
              pictures and opencv-doc's videos. Reported, never used to choose anything.

With `permissive_only` the CholecT50 frames are used for the test alone, so the weights owe nothing to
CC BY-NC-SA material. Measured, such a classifier removes almost every real in-body frame (synthetic surgery
does not teach what real tissue looks like: docs/evaluation.md), so none is shipped; the default is built at
first use from real frames (classifier_folder.load_classifier).
"""

from __future__ import annotations

import datetime as dt
import os
import platform
from typing import Callable, Dict, Optional, Sequence

import numpy as np

from ..core.errors import HalstedError
from . import material as mat
from .out_of_body import FrameDescriber, OutOfBodyClassifier, fit_classifier

CROPS_PER_PICTURE = 40
TEST_CROPS_PER_PICTURE = 4
C = 0.01  # L2 strength of the logistic regression (smaller: stronger); 0.001-0.03 gave the same validation scores
DEFAULT_KEEP = 0.995


def build_splits(cholect50: Optional[str], test_video: Optional[str], validation_video: Optional[str],
                 permissive_only: bool, log: Callable[[str], None] = print,
                 quick: bool = False) -> Dict[str, mat.Material]:
    """`quick`: a small classifier in a fraction of the time (every fourth real frame, 8 crops a picture, no test
    material), for the test suite; its numbers are not the ones docs/evaluation.md reports."""
    splits = {name: mat.Material() for name in ("train", "validation", "test")}
    crops = 8 if quick else CROPS_PER_PICTURE
    if cholect50:
        videos = mat.cholect50_videos(cholect50)
        names = [os.path.basename(v) for v in videos]
        test_video = test_video or names[-1]
        validation_video = validation_video or next(n for n in reversed(names) if n != test_video)
        for wanted in (test_video, validation_video):
            if wanted not in names:
                raise HalstedError(f"{wanted} is not a video of {cholect50} (it has {', '.join(names)})")
        for folder, name in zip(videos, names):
            split = "test" if name == test_video else "validation" if name == validation_video else "train"
            if permissive_only and split != "test":
                continue
            if quick and split == "test":
                continue
            splits[split].add(mat.cholect50_frames(folder, every=4 if quick else 1), 0, f"cholect50/{name}")
            log(f"in body: CholecT50 {name} -> {split}")
    for seed in (1,) if quick else (1, 2, 3):
        splits["train"].add(mat.synthetic_frames(2, seed), 0, f"synthetic/seed{seed}")
    splits["validation"].add(mat.synthetic_frames(2, 4), 0, "synthetic/seed4")
    pictures = mat.skimage_pictures()
    if not pictures:
        raise HalstedError("scikit-image's sample pictures are not installed: pip install 'halsted-hf[data]' "
                           "(scikit-image ships the out-of-body training pictures)")
    mat.pictures_material([p for i, p in enumerate(pictures) if i % 5], crops, 0, splits["train"], "skimage/")
    mat.pictures_material(pictures[::5], crops, 1, splits["validation"], "skimage/")
    stills = mat.gradio_files(mat.GRADIO_STILLS)
    mat.pictures_material([p for p in stills if "lion" not in p], crops, 3, splits["train"], "gradio/")
    mat.pictures_material([p for p in stills if "lion" in p], crops, 4, splits["validation"], "gradio/")
    for video in mat.gradio_files(mat.GRADIO_VIDEOS):
        split = "validation" if video.endswith("b.mp4") else "train"
        splits[split].add(mat.video_frames(video, every_s=2.0 if quick else 0.5), 1,
                          f"gradio/{os.path.basename(video)}")
    faces = mat.lfw_faces()
    splits["train"].add(faces[:80], 1, "skimage/lfw_subset")
    splits["validation"].add(faces[80:], 1, "skimage/lfw_subset")
    if not quick:
        mat.pictures_material(mat.held_out_pictures(), TEST_CROPS_PER_PICTURE, 2, splits["test"], "held-out/")
        for video in mat.held_out_videos():
            splits["test"].add(mat.video_frames(video), 1, f"held-out/{os.path.basename(video)}")
    for name, split in splits.items():
        log(f"{name}: {split.counts()}")
    return splits


def choose_threshold(p_out: np.ndarray, labels: np.ndarray, keep: float) -> float:
    """The lowest threshold (a frame is removed from p >= threshold) that keeps at least `keep` of the in-body
    frames: just above the in-body score at that quantile."""
    scores = np.sort(p_out[labels == 0])
    if len(scores) == 0:
        raise HalstedError("no in-body validation frames: the threshold cannot be chosen")
    k = min(len(scores) - 1, max(0, int(np.ceil(keep * len(scores))) - 1))  # frames 0..k are kept
    return float(np.nextafter(scores[k], 1.0))


def roc_auc(p: np.ndarray, y: np.ndarray) -> float:
    pos, neg = p[y == 1], p[y == 0]
    if not len(pos) or not len(neg):
        return float("nan")
    order = np.argsort(np.concatenate([pos, neg]), kind="mergesort")
    ranks = np.empty(len(order))
    ranks[order] = np.arange(1, len(order) + 1)
    allp = np.concatenate([pos, neg])
    for value in np.unique(allp):  # ties share their mean rank
        tie = allp == value
        ranks[tie] = ranks[tie].mean()
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def scores(p: np.ndarray, y: np.ndarray, threshold: float) -> Dict[str, float]:
    removed = p >= threshold
    return {"roc_auc": roc_auc(p, y),
            "in_body_kept": float((~removed[y == 0]).mean()) if (y == 0).any() else float("nan"),
            "out_of_body_removed": float(removed[y == 1].mean()) if (y == 1).any() else float("nan")}


def bootstrap(p: np.ndarray, y: np.ndarray, sources: Sequence[str], threshold: float, n: int = 1000,
              seed: int = 0) -> Dict[str, list]:
    """95% percentile intervals. Out-of-body frames are resampled by source (a picture's crops, a video's frames
    go together); in-body frames, which come from one held-out video, are resampled frame by frame (so their
    interval says how precisely this video was measured, not how other videos would go)."""
    rng = np.random.default_rng(seed)
    src = np.asarray(sources)
    out_groups = [np.flatnonzero((src == s) & (y == 1)) for s in sorted(set(src[y == 1]))]
    in_idx = np.flatnonzero(y == 0)
    draws = {k: [] for k in ("roc_auc", "in_body_kept", "out_of_body_removed")}
    for _ in range(n):
        pick = [out_groups[i] for i in rng.integers(0, len(out_groups), len(out_groups))]
        idx = np.concatenate(pick + [rng.choice(in_idx, len(in_idx))])
        for k, v in scores(p[idx], y[idx], threshold).items():
            draws[k].append(v)
    return {k: [float(np.nanpercentile(v, 2.5)), float(np.nanpercentile(v, 97.5))] for k, v in draws.items()}


def fit_out_of_body(out: str, cholect50: Optional[str] = None, test_video: Optional[str] = None,
                    validation_video: Optional[str] = None, permissive_only: bool = False,
                    keep: float = DEFAULT_KEEP, log: Callable[[str], None] = print,
                    quick: bool = False) -> OutOfBodyClassifier:
    """Train, threshold and test; save the classifier (with its measurements in out_of_body.json) to `out`."""
    if not 0.5 < keep < 1.0:
        raise HalstedError(f"--keep must be between 0.5 and 1, got {keep}")
    splits = build_splits(cholect50, test_video, validation_video, permissive_only, log, quick)
    describe = FrameDescriber()
    described = {name: describe(split.frames) for name, split in splits.items()}
    train, val, test = splits["train"], splits["validation"], splits["test"]
    info = {"name": "halsted-out-of-body" + ("-permissive" if permissive_only else "") + ("-quick" if quick else ""),
            "trained_on": {"counts": train.counts(), "sources": sorted(set(train.sources))},
            "validated_on": {"counts": val.counts(), "sources": sorted(set(val.sources)), "in_body_keep_target": keep},
            "built": {"date": dt.date.today().isoformat(), "machine": platform.processor() or platform.machine()}}
    clf = fit_classifier(described["train"], train.labels, c=C, info=info)
    clf.threshold = choose_threshold(clf.probability(described["validation"]), val.labels, keep)
    clf.info["validation"] = scores(clf.probability(described["validation"]), val.labels, clf.threshold)
    if len(test.items):
        p = clf.probability(described["test"])
        clf.info["test"] = {**scores(p, test.labels, clf.threshold),
                            "ci95": bootstrap(p, test.labels, test.sources, clf.threshold),
                            "counts": test.counts(), "sources": sorted(set(test.sources))}
    clf.save(out)
    log(f"threshold {clf.threshold:.4f}; validation {clf.info['validation']}; test {clf.info.get('test', {})}")
    return clf
