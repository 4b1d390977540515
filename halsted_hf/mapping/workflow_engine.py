"""The model side of the workflow: an `LoadedModel` wraps a loaded model and processor, runs the frozen
encoder once per clip and the decoder once per (clip, task), and times both. With a frame encoder, each
distinct frame is encoded once: frame features are memoised by content (the preprocessed frame's bytes), so
windows or stages that sample the same frames share them (the workflow samples both stages on one time grid
so that they do).

Precision: float32 by default on every machine, so one video maps to the same answers whatever the CPU. With
`precision="bfloat16"` a frame encoder's frozen backbone runs under bfloat16 autocast instead: faster on CPUs with
bfloat16 instructions (AVX512-BF16 or AMX), slower elsewhere, and its answers differ from float32's on some
windows (measured in docs/benchmarks.md). The Timeline records which precision made it.

Loaded engines are cached per (model path, device, dtype): a worker or a notebook that maps many
videos loads the weights once.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from dataclasses import asdict, dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from ..core.errors import CheckpointError


@dataclass
class MappingStats:
    """Where a mapping run spent its time (seconds of wall clock) and how much it did.

    decode_s: the decoding thread's time getting frames (overlaps with the model);
    wait_s: time the model side sat waiting for frames (decoding not hidden behind the model);
    encoder_s / decoder_s: the video encoder and the tag decoder (generate), incl. host<->device copies;
    windows_stage1 / windows_stage2: clips encoded; decoder_rows: (clip, task) rows generated;
    frames_encoded / frames_shared (frame encoders): frames run through the backbone / taken from the memo."""

    wall_s: float = 0.0
    decode_s: float = 0.0
    wait_s: float = 0.0
    encoder_s: float = 0.0
    decoder_s: float = 0.0
    windows_stage1: int = 0
    windows_stage2: int = 0
    decoder_rows: int = 0
    frames_decoded: int = 0
    frames_encoded: int = 0
    frames_shared: int = 0
    video_s: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


class LoadedModel:
    """A loaded model + processor on one device. `encode` and `generate` are what the workflow calls.

    Args: model: a `HalstedForConditionalGeneration` (eval mode); processor: its `HalstedProcessor`;
    name / revision: what Timelines record as the model that made them; temperatures: {task: T} from the
    model folder's calibration.json (evaluation/calibration.py), applied to every score it returns;
    ood: the folder's out-of-distribution description (mapping/ood.py), None when it has none;
    precision: "float32" (the default everywhere) or "bfloat16" (a frame encoder's backbone under bfloat16
    autocast on the CPU; for video towers and on GPUs `dtype` at loading chooses);
    reliability: the folder's record of which tags its card found reliable (mapping/reliability.py), copied
    into every Timeline it maps."""

    # frame features kept for reuse (frame encoders): 4096 x 1280 float32 is 21 MB
    FRAME_MEMO_SIZE = 4096

    def __init__(self, model, processor, name: str = "in-memory", revision: str = "unknown",
                 temperatures: Optional[Dict[str, float]] = None, ood=None, precision: str = "float32",
                 reliability=None):
        self.model = model.eval()
        self.ood = ood
        from .reliability import NONE

        self.reliability = reliability if reliability is not None else NONE  # the card's verdict per tag
        self.temperatures = dict(temperatures or {})
        self.processor = processor
        self.name = name
        self.revision = revision
        self.device = next(model.parameters()).device
        self.taxonomy = model.taxonomy
        self._instructions: Dict[Tuple[str, int], Dict[str, torch.Tensor]] = {}
        self.lock = threading.Lock()  # one mapping at a time per engine: torch already uses every core
        self._frame_memo: "OrderedDict[bytes, torch.Tensor]" = OrderedDict()
        self.backbone_bf16 = (check_precision(precision) == "bfloat16" and self.shares_frames
                              and self.device.type == "cpu")

    @property
    def precision(self) -> str:
        """What the Timeline records: the weights' dtype, and the backbone's autocast where it differs."""
        weights = str(next(self.model.parameters()).dtype).replace("torch.", "")
        return f"{weights}, backbone bfloat16" if self.backbone_bf16 else weights

    @property
    def shares_frames(self) -> bool:
        """A frame encoder: each frame is encoded on its own, so windows that sample the same instant share
        its features (the workflow then samples on one time grid, `video.windows.shared_grid_s`)."""
        return getattr(self.model, "temporal", None) is not None

    @property
    def num_frames(self) -> int:
        return int(self.processor.num_frames)

    @property
    def image_size(self) -> int:
        return int(self.processor.image_size)

    @torch.no_grad()
    def encode(self, clips: Sequence[np.ndarray], stats: Optional[MappingStats] = None) -> torch.Tensor:
        """clips: B arrays (T, H, W, 3) uint8 -> the tower's output on the engine's device: (B, Dv) clip embeddings
        (video tower) or (B, T, Df) per-frame features (frame encoder; distinct frames encoded once)."""
        t0 = time.perf_counter()
        pixels = self.processor(videos=list(clips))["pixel_values"]
        if self.shares_frames:
            embeds = self._encode_frames(pixels, stats)
        else:
            embeds = self.model.get_video_features(pixels.to(self.device))
        if stats is not None:
            _sync(self.device)
            stats.encoder_s += time.perf_counter() - t0
        return embeds

    def _encode_frames(self, pixels: torch.Tensor, stats: Optional[MappingStats]) -> torch.Tensor:
        """(B, T, 3, S, S) preprocessed clips -> (B, T, Df) per-frame features; only frames not in the memo
        (keyed by a BLAKE2 digest of their bytes, least recently used dropped first) go through the backbone."""
        b, t = pixels.shape[:2]
        flat = pixels.flatten(0, 1).contiguous()
        keys = [hashlib.blake2b(f.numpy().tobytes(), digest_size=16).digest() for f in flat]
        todo: Dict[bytes, int] = {}
        for i, k in enumerate(keys):
            if k not in self._frame_memo and k not in todo:
                todo[k] = i
        if todo:
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.backbone_bf16):
                feats = self.model.get_frame_features(flat[list(todo.values())].to(self.device))
            feats = feats.float() if self.backbone_bf16 else feats
            for k, f in zip(todo, feats):
                self._frame_memo[k] = f
        out = []
        for k in keys:
            self._frame_memo.move_to_end(k)
            out.append(self._frame_memo[k])
        while len(self._frame_memo) > self.FRAME_MEMO_SIZE:
            self._frame_memo.popitem(last=False)
        if stats is not None:
            stats.frames_encoded += len(todo)
            stats.frames_shared += len(keys) - len(todo)
        return torch.stack(out).view(b, t, -1)

    def _instruction(self, task: str, batch: int) -> Dict[str, torch.Tensor]:
        key = (task, batch)
        if key not in self._instructions:
            enc = self.processor.encode_instructions([task] * batch)
            self._instructions[key] = {k: v.to(self.device) for k, v in enc.items()}
        return self._instructions[key]

    @torch.no_grad()
    def generate(self, embeds: torch.Tensor, task: str, stats: Optional[MappingStats] = None
                 ) -> Tuple[List[Dict[str, str]], List[Dict[str, float]]]:
        """(B, Dv) embeddings, a task name -> per clip ({tag: category}, {tag: probability})."""
        t0 = time.perf_counter()
        out = self.model.generate(video_embeds=embeds, **self._instruction(task, embeds.shape[0]))
        if stats is not None:
            stats.decoder_s += time.perf_counter() - t0
            stats.decoder_rows += embeds.shape[0]
        t = self.temperatures.get(task)
        if t is None or t == 1.0:
            return list(out.tags), [{k: float(v) for k, v in s.items()} for s in out.scores]
        from ..core.confidence import scale  # calibrated: the confidence words mean what they say

        return list(out.tags), [{k: float(scale(float(v), t)) for k, v in s.items()} for s in out.scores]


PRECISIONS = ("float32", "bfloat16")


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise CheckpointError(f"precision must be one of {', '.join(PRECISIONS)}, got {str(precision)[:40]!r}")
    return precision


def cpu_has_bf16() -> bool:
    """Does this CPU run bfloat16 matrix products natively (oneDNN then uses them)? Without, bf16 is slower."""
    cpu = getattr(torch, "cpu", None)
    for probe in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"):
        check = getattr(cpu, probe, None)
        try:
            if check is not None and check():
                return True
        except RuntimeError:
            continue
    return False


def _sync(device: torch.device) -> None:
    if device.type == "cuda":  # kernels run asynchronously: time them honestly
        torch.cuda.synchronize(device)


_CACHE: Dict[Tuple[str, str, str], LoadedModel] = {}
_CACHE_LOCK = threading.Lock()


def load_model(model: Union[None, str, LoadedModel, Tuple[Any, Any]] = None, device: str = "cpu",
               dtype: Optional[torch.dtype] = None, precision: str = "float32") -> LoadedModel:
    """An `LoadedModel` for `model`: a registered name ("demo", "tiny", ...: halsted_hf.model.registry), a folder, a
    Hub id, None ($HALSTED_MODEL, else the demo model), an already loaded (model, processor) pair, or an `LoadedModel`
    (returned as is). Names, folders and Hub ids are loaded once per (what they resolve to, device, dtype,
    precision); see `LoadedModel` for `precision`."""
    check_precision(precision)
    if isinstance(model, LoadedModel):
        return model
    if isinstance(model, tuple) and len(model) == 2:
        net, processor = model
        return LoadedModel(net, processor, precision=precision)
    if model is not None and not isinstance(model, str):
        raise CheckpointError(f"model must be a name, a folder, a Hub id, None or a (model, processor) pair, "
                              f"got {type(model).__name__}")
    from ..model.registry import create, resolve

    name = resolve(model)
    key = (name, str(device), str(dtype), precision)
    with _CACHE_LOCK:
        if key not in _CACHE:
            net, processor = create(name, device=device, dtype=dtype)
            _CACHE[key] = engine_for(net, processor, name, precision=precision)
        return _CACHE[key]


def model_plans(model) -> Optional[Dict[str, Any]]:
    """The mapping plans of `model` (anything `load_model` takes) without loading its weights: a name or folder's
    from its config (registry.plans_of), a loaded model's from its taxonomy; None for a Hub id (known once the
    model is loaded)."""
    if isinstance(model, LoadedModel):
        return model.taxonomy.mapping_plans()
    if isinstance(model, tuple) and len(model) == 2:
        return model[0].taxonomy.mapping_plans()
    if model is not None and not isinstance(model, str):
        return None  # load_model says what is wrong with it
    from ..model.registry import plans_of

    return plans_of(model)


def engine_for(model, processor, name_or_path: str, precision: str = "float32") -> LoadedModel:
    """An LoadedModel for an already loaded model, named as `load_model` would name it for that path, so a
    Timeline records the same model whichever front end loaded it."""
    import os

    from ..model.hub import model_revision
    from ..model.registry import MODELS

    if os.path.isdir(name_or_path):
        revision = model_revision(name_or_path)
    else:  # a Hub id, or a model built from a preset (random weights: seed 0 unless its caller said otherwise)
        revision = "random" if name_or_path in MODELS else "hub"
    return LoadedModel(model, processor, name=_display_name(name_or_path), revision=revision,
                        temperatures=_temperatures(name_or_path), ood=_ood(name_or_path), precision=precision,
                        reliability=load_reliability(name_or_path))


def load_reliability(name: str):
    from .reliability import load

    return load(name)


def _temperatures(name: str) -> Dict[str, float]:
    """The folder's calibration (one temperature per task), {} for a Hub id or an uncalibrated model."""
    import os

    from ..core.confidence import load_calibration

    return load_calibration(name) if os.path.isdir(name) else {}


def _ood(name: str):
    """The folder's out-of-distribution description (mapping/ood.py), None for a Hub id or a folder without one;
    refused when it was fitted on another vision encoder."""
    import os

    from .ood import check_matches, load_ood

    ood = load_ood(name) if os.path.isdir(name) else None
    if ood is not None:
        check_matches(ood, name)
    return ood


def _display_name(name: str) -> str:
    import os

    return os.path.basename(os.path.normpath(name)) if os.path.isdir(name) else name
