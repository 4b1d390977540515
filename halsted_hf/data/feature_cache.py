"""A clip cache: the frozen encoder's clip embeddings (or the decoded clips themselves), computed once.

Layout of a cache folder:

    CACHE/manifest.json            {"version", "kind", "encoder", "num_frames", "image_size", "shards": [...]}
    CACHE/shard-00000.safetensors  tensor "values": (n, Dv) float32 embeddings, or (n, T, S, S, 3) uint8 clips;
                                   the n clip keys in the safetensors metadata ("keys": JSON list)

Keys. A clip's key is the SHA-256 of (video key, start_s, end_s, num_frames, image_size, encoder hash).
The window (start and end, hence its length) is in the key: training reads atlases as the mapping
workflow's fixed windows (data/windows.py), and a window of another length is another clip.
- the *video key* hashes the file's size and its first and last MiB (not the whole file: hashing an
  hour of surgery would cost more than decoding the clips we need; not the path or mtime either, so a
  copied or moved video keeps its cache). An edit that keeps the size and both ends of a file is not
  seen: re-run with a fresh CACHE after editing videos in place. Frame folders (CholecT50) hash the
  sorted list of their file names and sizes.
- the *encoder hash* is the SHA-256 of the encoder's state dict (names, dtypes, shapes, bytes), so new
  encoder weights give new keys. A cache holds one encoder: opening it with other weights drops the
  old shards (`invalidated` in the result) before computing anything.
Frame encoders (a model whose tower embeds frames, e.g. EfficientNet-Lite): a "features" cache holds one
(Df,) row per *frame*, keyed by (video key, the frame's instant, image_size, encoder hash); a clip's instants
are `clip_timestamps(start_s, end_s, num_frames)`, so windows that sample the same instants share rows, and
`load_cached` returns (N, T, Df) per-frame features for the trainable temporal module.
A pixel cache (kind "pixels", for training the encoder from pixels) stores uint8 clips resized to
(image_size, image_size); its "encoder" is the string "pixels".

Resuming. Shards are written to a temporary file and renamed, then the manifest is rewritten the same
way; a shard the manifest lists is complete. A second run computes only the keys no listed shard holds,
so an interruption loses at most the shard in progress.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import OrderedDict
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from ..core.errors import HalstedError
from ..core.io import atomic_path, atomic_write_json

CACHE_VERSION = 1
MIB = 1 << 20
DEFAULT_SHARD_SIZE = 512  # clips per shard: ~1 MB of tiny embeddings, ~300 MB of 16x112x112 uint8 clips


class CacheError(HalstedError):
    """A cache folder that cannot be used for this request; the message says what to do."""


# ---- keys -------------------------------------------------------------------------------------------
def video_key(path: str, _memo: Dict[Tuple[str, int, float], str] = {}) -> str:
    """Content id of a video file (size + first and last MiB) or a frame folder (names + sizes)."""
    try:
        st = os.stat(path)
    except OSError as err:
        raise CacheError(f"{path}: cannot read this video ({err.strerror}); fix the atlas's video_path") from err
    memo_key = (path, st.st_size, st.st_mtime)
    if memo_key in _memo:
        return _memo[memo_key]
    digest = hashlib.sha256()
    if os.path.isdir(path):
        for name in sorted(os.listdir(path)):
            digest.update(f"{name}:{os.path.getsize(os.path.join(path, name))};".encode())
    else:
        digest.update(str(st.st_size).encode())
        with open(path, "rb") as f:
            digest.update(f.read(MIB))
            if st.st_size > 2 * MIB:
                f.seek(-MIB, os.SEEK_END)
                digest.update(f.read(MIB))
    _memo[memo_key] = digest.hexdigest()
    return _memo[memo_key]


def encoder_hash(encoder: torch.nn.Module) -> str:
    """SHA-256 of an encoder's state dict: any change of weights (or of architecture) changes it."""
    digest = hashlib.sha256()
    for name, tensor in sorted(encoder.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}".encode())
        # 0-dim too (BatchNorm counters)
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()


def features_id(model) -> str:
    """What a feature row depends on: the encoder's weights, and whether a motion thumbnail follows them."""
    motion = getattr(model.config, "temporal_motion_size", 0)
    return encoder_hash(model.video_encoder) + (f"+thumb{motion}" if motion else "")


def clip_key(vkey: str, start_s: float, end_s: float, num_frames: int, image_size: int, encoder: str) -> str:
    text = f"{vkey}|{float(start_s):.4f}|{float(end_s):.4f}|{int(num_frames)}|{int(image_size)}|{encoder}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def atlas_keys(df: pd.DataFrame, num_frames: int, image_size: int, encoder: str) -> List[str]:
    """One key per atlas row (rows of the same window share a key: the clip is computed once)."""
    return [clip_key(video_key(p), s, e, num_frames, image_size, encoder)
            for p, s, e in zip(df["video_path"], df["start_s"], df["end_s"])]


FRAME_HALF_WIDTH_S = 1e-3  # a frame is decoded as the 1-frame window [t - this, t + this): its centre is t


def is_frame_encoder(model) -> bool:
    return getattr(model, "temporal", None) is not None


def frame_key(vkey: str, t: float, image_size: int, encoder: str) -> str:
    return hashlib.sha256(f"{vkey}|frame|{float(t):.4f}|{int(image_size)}|{encoder}".encode()).hexdigest()[:32]


def atlas_frame_keys(df: pd.DataFrame, num_frames: int, image_size: int, encoder: str
                     ) -> Tuple[List[str], List[Tuple[str, float]]]:
    """Frame encoders: N x T keys (row-major: each row's frames in time order) and their (video_path, instant).
    A frame folder (CholecT50, 1 fps, often with gaps) shows the frames `read_frame_clip` picks (`pick_frames`:
    the nearest image inside the window, repeated when the window holds fewer), each at its second's centre,
    so a gap never asks for an image that is not there."""
    from ..video.windows import clip_timestamps
    from .loaders.cholect50 import list_frames, pick_frames

    keys, where, folders = [], [], {}
    for p, s, e in zip(df["video_path"], df["start_s"], df["end_s"]):
        vkey = video_key(p)
        if os.path.isdir(p):
            seconds = folders[p] if p in folders else folders.setdefault(p, sorted(list_frames(p)))
            instants = pick_frames(seconds, float(s), float(e), int(num_frames), p) + 0.5
        else:
            instants = clip_timestamps(float(s), float(e), int(num_frames))
        for t in instants:
            keys.append(frame_key(vkey, t, image_size, encoder))
            where.append((p, float(t)))
    return keys, where


# ---- decoding ---------------------------------------------------------------------------------------
def decode_clips(clips: Sequence[Tuple[str, float, float]], num_frames: int, image_size: int) -> np.ndarray:
    """[(video_path, start_s, end_s)] -> (n, T, S, S, 3) uint8, in the given order.

    Clips of one video are decoded in one forward pass (`iter_windows`); frame folders use the
    CholecT50 frame reader."""
    from ..video import iter_windows

    out = np.empty((len(clips), num_frames, image_size, image_size, 3), dtype=np.uint8)
    by_video: Dict[str, List[int]] = OrderedDict()
    for i, (path, _, _) in enumerate(clips):
        by_video.setdefault(path, []).append(i)
    size = (image_size, image_size)
    for path, idx in by_video.items():
        if os.path.isdir(path):
            from .loaders import read_frame_clip
            for i in idx:
                out[i] = read_frame_clip(path, clips[i][1], clips[i][2], num_frames, size)
            continue
        order = sorted(idx, key=lambda i: (clips[i][1], clips[i][2]))
        windows = [(clips[i][1], clips[i][2]) for i in order]
        # No seeking: a forward pass from the start (seek_gap_s=inf). Seeking into the last seconds of some
        # files hung the decoder (reported to the video layer); the cost is decoding a few skipped frames.
        it = iter_windows(path, windows, num_frames, size, warn=False, seek_gap_s=float("inf"))
        seen = set()
        for w, frames in it:
            out[order[w]] = frames
            seen.add(w)
        if len(seen) != len(order):
            first = windows[min(set(range(len(order))) - seen)]
            raise CacheError(f"{path}: the clip [{first[0]:.2f}, {first[1]:.2f}) s could not be decoded (the data "
                             f"stops at {it.decoded_until_s:.2f} s); "
                             "re-export the video or drop its rows from the atlas")
    return out


def normalise(clips: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """(B, T, S, S, 3) uint8 -> (B, T, 3, S, S) float normalised, as the processor does (no resize needed)."""
    x = clips.permute(0, 1, 4, 2, 3).float().div_(255.0)
    m = torch.tensor(mean, device=x.device).view(1, 1, 3, 1, 1)
    s = torch.tensor(std, device=x.device).view(1, 1, 3, 1, 1)
    return (x - m) / s


def embed_frames(model, processor, frames: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
    """Frame encoders: (n, S, S, 3) uint8 frames -> (n, Df) float32 CPU features (`get_frame_features`)."""
    device = next(model.parameters()).device
    parts = []
    with torch.inference_mode():
        for b in range(0, len(frames), batch_size):
            x = normalise(frames[b:b + batch_size, None].to(device), processor.image_mean, processor.image_std)
            parts.append(model.get_frame_features(x[:, 0]).float().cpu())
    return torch.cat(parts) if parts else torch.zeros((0, model.frame_feature_size))


def embed_clips(model, processor, clips: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
    """(N, T, S, S, 3) uint8 clips -> (N, Dv) float32 CPU embeddings of the model's encoder, in batches
    (memory). The one place clips become clip embeddings: the cache, the probes and evaluation share it."""
    device = next(model.parameters()).device
    parts = []
    with torch.inference_mode():
        for b in range(0, len(clips), batch_size):
            x = normalise(clips[b:b + batch_size].to(device), processor.image_mean, processor.image_std)
            parts.append(model.get_video_features(x).float().cpu())
    return torch.cat(parts) if parts else torch.zeros((0, model.config.vision_config.hidden_size))


# ---- the cache --------------------------------------------------------------------------------------
class ClipCache:
    """One cache folder. `index` maps each stored key to (shard file, row)."""

    def __init__(self, root: str):
        self.root = root
        self.manifest_path = os.path.join(root, "manifest.json")
        self.manifest: dict = {}
        if os.path.exists(self.manifest_path):
            try:
                with open(self.manifest_path) as f:
                    self.manifest = json.load(f)
            except (OSError, json.JSONDecodeError) as err:
                raise CacheError(f"{self.manifest_path}: unreadable manifest ({err}); delete {root} and "
                                 f"run `halsted features` again") from err

    @property
    def shards(self) -> List[dict]:
        return self.manifest.get("shards", [])

    def index(self) -> Dict[str, Tuple[str, int]]:
        return {k: (s["file"], i) for s in self.shards for i, k in enumerate(s["keys"])}

    def _write_manifest(self) -> None:
        atomic_write_json(self.manifest_path, self.manifest)

    def prepare(self, kind: str, encoder: str, num_frames: int, image_size: int) -> bool:
        """Make the folder hold `kind`/`encoder` clips; returns True when older shards were dropped."""
        os.makedirs(self.root, exist_ok=True)
        want = {"version": CACHE_VERSION, "kind": kind, "encoder": encoder}
        have = {k: self.manifest.get(k) for k in want}
        invalidated = False
        if self.manifest and have != want:
            for s in self.shards:  # other weights (or kind): these embeddings answer a different question
                path = os.path.join(self.root, s["file"])
                if os.path.exists(path):
                    os.remove(path)
            invalidated = True
            self.manifest = {}
        if not self.manifest:
            self.manifest = dict(want, num_frames=int(num_frames), image_size=int(image_size), shards=[])
            self._write_manifest()
        return invalidated

    def add_shard(self, keys: List[str], values: torch.Tensor) -> str:
        n = len(self.shards)
        name = f"shard-{n:05d}.safetensors"
        while os.path.exists(os.path.join(self.root, name)):  # never overwrite a file we did not list
            n += 1
            name = f"shard-{n:05d}.safetensors"
        path = os.path.join(self.root, name)
        with atomic_path(path) as tmp:
            save_file({"values": values.contiguous()}, tmp, metadata={"keys": json.dumps(keys)})
        self.manifest["shards"].append({"file": name, "keys": keys})
        self._write_manifest()
        return path

    def load(self, keys: Sequence[str]) -> torch.Tensor:
        """Values for `keys`, stacked in order: (n, ...). Raises CacheError naming how many are missing."""
        index = self.index()
        missing = [k for k in keys if k not in index]
        if missing:
            raise CacheError(f"{self.root}: {len(missing)} of {len(keys)} clips are not cached for this model "
                             f"(a different atlas, sampling or encoder?); run `halsted features` for this atlas "
                             f"and model first")
        by_file: Dict[str, List[int]] = {}
        for k in keys:
            by_file.setdefault(index[k][0], []).append(index[k][1])
        rows: Dict[Tuple[str, int], torch.Tensor] = {}
        for fname, wanted in by_file.items():
            with safe_open(os.path.join(self.root, fname), framework="pt") as f:
                values = f.get_tensor("values")
            for r in set(wanted):
                rows[(fname, r)] = values[r]
        return torch.stack([rows[index[k]] for k in keys])


def build_cache(df: pd.DataFrame, out: str, *, model=None, processor=None, kind: str = "features",
                batch_size: int = 32, shard_size: int = DEFAULT_SHARD_SIZE, device: str = "cpu",
                max_shards: Optional[int] = None, progress: Optional[Callable[[dict], None]] = None) -> dict:
    """Compute and store what the cache lacks for the atlas `df`. Returns a summary dict:
    {"cached": clips already there, "computed": clips computed now, "shards": shards written now,
     "invalidated": bool, "total": unique clips in the atlas, "complete": bool, "unit": "clips" | "frames"}.

    kind "features": the model's frozen encoder (`get_video_features`) on normalised clips -> (Dv,) float32;
    for a frame encoder, one (Df,) row per distinct frame instant ("cached"/"computed"/"total" count frames).
    kind "pixels": the decoded clips as uint8 (T, S, S, 3), sized by `processor` (num_frames, image_size).
    `max_shards` stops after that many new shards (to bound a run; tests use it to simulate an interruption);
    `progress` is called after each shard with the running summary."""
    if kind not in ("features", "pixels"):
        raise CacheError(f"unknown cache kind {kind!r}: use 'features' or 'pixels'")
    num_frames, image_size = int(processor.num_frames), int(processor.image_size)
    encoder = features_id(model) if kind == "features" else "pixels"
    cache = ClipCache(out)
    invalidated = cache.prepare(kind, encoder, num_frames, image_size)
    if cache.manifest.get("num_frames") != num_frames or cache.manifest.get("image_size") != image_size:
        # sampling is in the keys, so mixed sampling is correct; record the latest for readers
        cache.manifest.update(num_frames=num_frames, image_size=image_size)
    frames = kind == "features" and is_frame_encoder(model)
    if frames:  # one row per distinct frame instant, decoded as a 1-frame window centred on it
        keys, where = atlas_frame_keys(df, num_frames, image_size, encoder)
        spans = [(p, t - FRAME_HALF_WIDTH_S, t + FRAME_HALF_WIDTH_S) for p, t in where]
    else:
        keys = atlas_keys(df, num_frames, image_size, encoder)
        spans = [(p, float(s), float(e)) for p, s, e in zip(df["video_path"], df["start_s"], df["end_s"])]
    todo: Dict[str, Tuple[str, float, float]] = OrderedDict()
    done = cache.index()
    for k, span in zip(keys, spans):
        if k not in done and k not in todo:
            todo[k] = span
    summary = {"total": len(set(keys)), "cached": len(set(keys)) - len(todo), "computed": 0, "shards": 0,
               "invalidated": invalidated, "complete": not todo, "unit": "frames" if frames else "clips"}
    # Sort by video then time so a shard's clips come from few videos: one decoding pass each.
    pending = sorted(todo.items(), key=lambda kv: (kv[1][0], kv[1][1], kv[1][2]))
    if kind == "features":
        model = model.to(device).eval()
    for start in range(0, len(pending), shard_size):
        if max_shards is not None and summary["shards"] >= max_shards:
            break
        chunk = pending[start:start + shard_size]
        clips = torch.from_numpy(decode_clips([c for _, c in chunk], 1 if frames else num_frames, image_size))
        if frames:
            values = embed_frames(model, processor, clips[:, 0], batch_size)
        else:
            values = clips if kind == "pixels" else embed_clips(model, processor, clips, batch_size)
        cache.add_shard([k for k, _ in chunk], values)
        summary["computed"] += len(chunk)
        summary["shards"] += 1
        summary["complete"] = summary["cached"] + summary["computed"] == summary["total"]
        if progress is not None:
            progress(dict(summary))
    return summary


def load_cached(df: pd.DataFrame, cache_dir: str, *, model=None, processor=None,
                kind: str = "features") -> torch.Tensor:
    """The cached values for every row of `df`, in row order: (N, Dv) float32, (N, T, Df) float32 per-frame
    features (frame encoders) or (N, T, S, S, 3) uint8."""
    cache = ClipCache(cache_dir)
    if not cache.manifest:
        raise CacheError(f"{cache_dir}: no cache here; run `halsted features ATLAS --model MODEL --out {cache_dir}`")
    encoder = features_id(model) if kind == "features" else "pixels"
    if cache.manifest.get("kind") != kind or cache.manifest.get("encoder") != encoder:
        raise CacheError(f"{cache_dir}: this cache holds {cache.manifest.get('kind')} of another encoder than the "
                         f"model's; run `halsted features` again with this model (it replaces the old shards)")
    if kind == "features" and is_frame_encoder(model):
        keys, _ = atlas_frame_keys(df, processor.num_frames, processor.image_size, encoder)
        return cache.load(keys).view(len(df), int(processor.num_frames), -1)
    return cache.load(atlas_keys(df, processor.num_frames, processor.image_size, encoder))
