"""The "surgical-video-mapping" pipeline as a Hub file: it runs from a saved model folder without halsted_hf.

    from transformers import pipeline
    mapper = pipeline("surgical-video-mapping", model="path/to/model", trust_remote_code=True)
    timeline = mapper("case.mp4", mapping="suturing")   # a dict in the Timeline JSON format (`halsted map --out`)

`config.json` names this class under `custom_pipelines` (save_hub_layout writes it), and transformers copies
this file next to the model's own files. Where halsted_hf is installed, the package's pipeline
(halsted_hf/mapping/pipeline.py: one decoding pass, parallel decoders, truncation warnings, a `Timeline`
object) serves the task instead; this file is the small stand-alone version of the same workflow:

What is mapped is the model's mapping plan (plans.py, declared by its taxonomy; the Halsted taxonomy's suturing,
dissection, full and procedure):
1. stage 1: the plan's stage-1 windows tiling the video (the tail seen through the video's last window), its
   stage-1 task (Halsted: macro-activity over 30 s);
2. stage 2: the plan's short windows inside the stage-1 windows whose answer opens a stage-2 task (Halsted
   suturing: proficiency, and context where the phase is needle driving; dissection: micro-activity);
3. adjacent windows of one (stage, task) with the same tags merge into a segment whose score per tag is the
   duration-weighted mean.

As in the package, scores are calibrated with the folder's calibration.json (one temperature per task), and a
folder with an out-of-distribution description (ood.json, ood.npz) gives the Timeline its `ood` field from the
stage-1 windows (ood_halsted.py: the package's own arithmetic).

Frames are decoded with PyAV (a transformers video dependency, video_halsted.py) at the instants the package
samples: the centres of `num_frames` equal bins of each window, each taken as the last frame shown at or before
it. Only transformers, torch, numpy, av and the folder's own Hub files are imported.
"""

from __future__ import annotations

import json
import math
import os
from collections import defaultdict
from typing import Any, Dict, List, Tuple

import numpy as np
import torch
from transformers.pipelines.base import Pipeline

from .hub_companions import source_file
from .ood_halsted import colour_descriptor, distance_per_dimension, read_description, video_verdict, window_descriptor
from .video_halsted import decode_at, instants, probe

TASK = "surgical-video-mapping"
_EPS = 1e-9

Span = Tuple[float, float]


def tile(start_s: float, end_s: float, window_s: float) -> List[Span]:
    """Windows of `window_s` tiling [start_s, end_s); the last one shorter, however short."""
    n = int(math.floor((end_s - start_s) / window_s + _EPS))
    spans = [(start_s + k * window_s, start_s + (k + 1) * window_s) for k in range(n)]
    if end_s - (start_s + n * window_s) > _EPS:
        spans.append((start_s + n * window_s, end_s))
    return spans


def seen_through(span: Span, window_s: float) -> Span:
    """What the model looks at to tag `span`: the span, or a full-length window ending where it ends."""
    a, b = span
    return span if b - a + _EPS >= window_s else (max(0.0, b - window_s), b)


def merge(windows: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Adjacent windows of one (stage, task) with equal tags -> one segment, scores duration-weighted."""
    groups: Dict[Tuple[int, str], List[Dict[str, Any]]] = defaultdict(list)
    for w in windows:
        groups[(w["stage"], w["task"])].append(w)
    out = []
    for run_key, ws in groups.items():
        ws.sort(key=lambda w: w["start_s"])
        runs: List[List[Dict[str, Any]]] = []
        for w in ws:
            if runs and abs(w["start_s"] - runs[-1][-1]["end_s"]) <= 1e-6 and w["tags"] == runs[-1][-1]["tags"]:
                runs[-1].append(w)
            else:
                runs.append([w])
        for run in runs:
            total = defaultdict(float)
            weight = defaultdict(float)
            for w in run:
                for tag, s in w["scores"].items():
                    total[tag] += s * (w["end_s"] - w["start_s"])
                    weight[tag] += w["end_s"] - w["start_s"]
            out.append({"start_s": run[0]["start_s"], "end_s": run[-1]["end_s"], "stage": run_key[0],
                        "task": run_key[1], "tags": dict(run[0]["tags"]),
                        "scores": {t: total[t] / weight[t] for t in total if weight[t] > 0}})
    out.sort(key=lambda s: (s["stage"], s["start_s"], s["task"]))
    return out


def calibrated(p: float, temperature: float) -> float:
    """Top-label temperature scaling, as mapping applies it (halsted_hf/core/confidence.py): sigmoid(logit(p) / T)."""
    if temperature == 1.0:
        return p
    q = min(max(p, 1e-6), 1 - 1e-6)
    return 1.0 / (1.0 + math.exp(-math.log(q / (1 - q)) / temperature))


class SurgicalVideoMappingPipeline(Pipeline):
    """Video file path -> Timeline dict. Call kwargs: mapping (one of the model's plans, default its first: for the
    Halsted taxonomy "suturing", "dissection", "full", "procedure"), clip_batch_size (clips per model call,
    default 32)."""

    _load_processor = True
    _load_tokenizer = False
    _load_image_processor = False
    _load_feature_extractor = False
    _load_video_processor = False

    def _sanitize_parameters(self, mapping=None, clip_batch_size=None, **kwargs):
        if kwargs:
            raise TypeError(f"unknown arguments {sorted(kwargs)} for {TASK}; use mapping, clip_batch_size")
        forward = {}
        if mapping is not None:
            try:
                self.model.taxonomy.plan(mapping)
            except KeyError as err:
                raise ValueError(str(err).strip('"')) from None
            forward["mapping"] = mapping
        if clip_batch_size is not None:
            forward["clip_batch_size"] = int(clip_batch_size)
        return {}, forward, {}

    def preprocess(self, video, **_):
        if not isinstance(video, (str, os.PathLike)) or not os.path.isfile(video):
            raise ValueError(f"{TASK} takes the path of a video file, got {video!r}")
        return {"video": os.fspath(video)}

    def _companions(self):
        """(temperatures {task: T}, out-of-distribution description or None) of the model's folder, read once."""
        if not hasattr(self, "_read_companions"):
            name = getattr(self.model, "name_or_path", "") or ""
            calibration = source_file(name, "calibration.json")
            temperatures = {}
            if calibration:
                with open(calibration, encoding="utf-8") as f:
                    temperatures = {str(k): float(v) for k, v in (json.load(f).get("temperatures") or {}).items()
                                    if float(v) > 0}
            folder = os.path.dirname(source_file(name, "ood.json") or "")
            ood = read_description(folder) if folder and source_file(name, "ood.npz") else None
            self._read_companions = (temperatures, ood)
        return self._read_companions

    def _window_scores(self, embeds: torch.Tensor, clips: List[np.ndarray]) -> List[float]:
        """Each window's out-of-distribution score (1 is the line), as mapping/ood.py computes it."""
        _, parts = self._companions()[1]
        per_part = []
        for name, part in parts.items():
            x = (window_descriptor(embeds[..., :part["mean"].shape[0]]) if name == "embedding"
                 else colour_descriptor(clips))
            per_part.append(distance_per_dimension(x, part["mean"], part["components"], part["variances"],
                                                   part["residual_variance"]) / part["threshold"])
        return [float(v) for v in np.max(per_part, axis=0)]

    @torch.no_grad()
    def _tag(self, path: str, spans: List[Span], seen: List[Span], task: str, batch: int, stage2_window_s: float,
             far=None):
        """Tags and calibrated scores of `task` for each span, the model seeing `seen[i]` for `spans[i]`; with a
        list `far`, each window's out-of-distribution score is appended to it."""
        n, size = self.processor.num_frames, self.processor.image_size
        # a frame encoder samples both stages on the stage-2 frame spacing, as the package's mapping does
        grid = stage2_window_s / n if getattr(self.model, "temporal", None) is not None else None
        frames = decode_at(path, [t for s in seen for t in instants(s, n, grid)], size)
        temperature = self._companions()[0].get(task, 1.0)
        out = []
        for k in range(0, len(spans), batch):
            clips = [np.stack([frames[float(t)] for t in instants(s, n, grid)]) for s in seen[k:k + batch]]
            inputs = {key: v.to(self.device)
                      for key, v in self.processor(videos=clips, text=[task] * len(clips)).items()}
            embeds = self.model.get_video_features(inputs.pop("pixel_values"))
            result = self.model.generate(video_embeds=embeds, **inputs)
            out.extend(zip(result.tags, result.scores))
            if far is not None:
                far.extend(self._window_scores(embeds, clips))
        return [(a, b, tags, {t: calibrated(float(p), temperature) for t, p in scores.items()})
                for (a, b), (tags, scores) in zip(spans, out)]

    def _forward(self, inputs, mapping=None, clip_batch_size: int = 32):
        path = inputs["video"]
        video = probe(path)
        duration = video["duration_s"]
        if not duration > 0:
            raise ValueError(f"{path}: no video duration could be read; is it a video file?")
        plans = self.model.taxonomy.mapping_plans()
        plan = plans[mapping if mapping is not None else next(iter(plans))]
        w1, w2 = plan.stage1_window_s, plan.stage2_window_s
        windows = []
        stage1 = tile(0.0, duration, w1)
        far = [] if self._companions()[1] is not None else None
        for a, b, tags, scores in self._tag(path, stage1, [seen_through(s, w1) for s in stage1],
                                            plan.stage1_task, clip_batch_size, w2, far):
            windows.append({"start_s": a, "end_s": b, "stage": 1, "task": plan.stage1_task, "tags": tags,
                            "scores": scores})
        by_task = defaultdict(list)  # stage-2 task -> its spans
        for w in list(windows):
            for task in plan.stage2_tasks(w["tags"].get(plan.stage1_tag)):
                by_task[task].extend(tile(w["start_s"], w["end_s"], w2))
        for task, spans in by_task.items():
            spans = sorted(spans)
            seen = [seen_through(s, w2) for s in spans]
            fine = self._tag(path, spans, seen, task, clip_batch_size, w2)
            follow = defaultdict(list)  # follow-up task -> the windows it is asked of (Halsted: needle driving)
            for i, (a, b, tags, scores) in enumerate(fine):
                windows.append({"start_s": a, "end_s": b, "stage": 2, "task": task, "tags": tags, "scores": scores})
                then = plan.follow_up(task, tags)
                if then is not None:
                    follow[then].append(i)
            for then, keep in follow.items():
                for a, b, tags, scores in self._tag(path, [spans[i] for i in keep], [seen[i] for i in keep], then,
                                                    clip_batch_size, w2):
                    windows.append({"start_s": a, "end_s": b, "stage": 2, "task": then, "tags": tags,
                                    "scores": scores})
        name = getattr(self.model, "name_or_path", "") or "in-memory"
        timeline = {"video": video, "workflow": plan.name, "tasks": list(plan.tasks), "segments": merge(windows),
                    "model": {"name": os.path.basename(os.path.normpath(name)) if os.path.isdir(name) else name,
                              "revision": "unknown"}}
        if far is not None:
            info = self._companions()[1][0]
            timeline["ood"] = video_verdict([(a, b, d) for (a, b), d in zip(stage1, far)], 1.0, info)
        return timeline

    def postprocess(self, outputs, **_):
        return outputs
