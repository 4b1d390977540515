"""HalstedProcessor: video frames + instruction text in, model inputs out; generated ids in, tags out.

A clip is what transformers' video processors take: a (T, H, W, 3) or (T, 3, H, W) array or tensor, a list of
frames (PIL images or (H, W, 3) arrays), or the path of a video file (read whole, at `num_frames` instants: PyAV,
video_halsted.py). `videos` is one clip or a batch of them (a list, or a 5-D array). Any number of frames is
re-sampled to `num_frames` evenly in time. Frames are resized and normalised with plain torch ops (no
torchvision), so the processor runs anywhere transformers does.
"""

from __future__ import annotations

import os
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F
from transformers import BatchFeature
from transformers.processing_utils import ProcessorMixin

from .taxonomy import load_taxonomy, parse_tags
from .video_halsted import sample_video

IMAGENET_MEAN = (0.485, 0.456, 0.406)  # VideoMAE's pre-training statistics
IMAGENET_STD = (0.229, 0.224, 0.225)

Frames = Union[np.ndarray, torch.Tensor]  # (T, H, W, 3) uint8


class HalstedProcessor(ProcessorMixin):
    """Prepares clips and instructions for `HalstedForConditionalGeneration` and parses its output.

    Args:
        tokenizer: a `HalstedTokenizer`.
        num_frames: frames per clip the encoder expects (paper: 16). Longer or shorter inputs are
            re-sampled uniformly in time.
        image_size: square side the frames are resized to (paper: 224).
        num_instruction_slots: M, instruction ids are padded to this length (paper: 8).
    """

    tokenizer_class = "AutoTokenizer"

    def __init__(self, tokenizer=None, num_frames: int = 16, image_size: int = 224,
                 num_instruction_slots: int = 8, image_mean: Sequence[float] = IMAGENET_MEAN,
                 image_std: Sequence[float] = IMAGENET_STD, taxonomy: Optional[dict] = None, **kwargs):
        self.num_frames = int(num_frames)
        self.image_size = int(image_size)
        self.num_instruction_slots = int(num_instruction_slots)
        self.image_mean = list(image_mean)
        self.image_std = list(image_std)
        self.taxonomy = load_taxonomy(taxonomy).to_dict()
        super().__init__(tokenizer, **kwargs)

    # ---- inputs ---------------------------------------------------------------------------------
    def clips_of(self, videos) -> List[Frames]:
        """`videos` as a list of clips, each (T, H, W, 3) or (T, 3, H, W): one clip (an array, a list of frames, a
        path) is a batch of one."""
        if _is_one_clip(videos):
            return [self.load_clip(videos)]
        if hasattr(videos, "ndim"):
            if videos.ndim != 5:
                raise ValueError(f"videos: expected one clip (T, H, W, 3) or a batch (B, T, H, W, 3), got an array "
                                 f"of shape {tuple(videos.shape)}")
            return list(videos)
        clips = list(videos)
        bad = [i for i, c in enumerate(clips) if not _is_one_clip(c)]
        if not clips or bad:
            raise ValueError(f"videos: expected a clip ((T, H, W, 3) frames, a list of frames or a video path) or a "
                             f"list of clips; item {bad[0] if bad else 0} is neither")
        return [self.load_clip(c) for c in clips]

    def load_clip(self, clip) -> Frames:
        """One clip as an array: a path is read at `num_frames` instants, a list of frames stacked."""
        if isinstance(clip, (str, os.PathLike)):
            if not os.path.isfile(clip):
                raise ValueError(f"videos: no video file at {os.fspath(clip)!r}")
            return sample_video(os.fspath(clip), self.num_frames, self.image_size)
        if isinstance(clip, (list, tuple)):
            return np.stack([_frame_array(f) for f in clip])
        return clip

    def preprocess_frames(self, frames: Frames) -> torch.Tensor:
        """(T, H, W, 3) or (T, 3, H, W) frames (uint8, 0-255) -> (num_frames, 3, S, S) float, resized and
        normalised."""
        video = torch.as_tensor(np.asarray(frames) if not isinstance(frames, torch.Tensor) else frames)
        if video.ndim == 4 and video.shape[-1] != 3 and video.shape[1] == 3:
            video = video.permute(0, 2, 3, 1)  # channels first, as VideoMAE's processor also takes them
        if video.ndim != 4 or video.shape[-1] != 3:
            raise ValueError(f"expected frames of shape (T, H, W, 3), got {tuple(video.shape)}")
        if video.shape[0] != self.num_frames:  # uniform re-sampling in time
            idx = torch.linspace(0, video.shape[0] - 1, self.num_frames).round().long()
            video = video[idx]
        video = video.permute(0, 3, 1, 2).float().div_(255.0)
        if video.shape[-2:] != (self.image_size, self.image_size):
            video = F.interpolate(video, size=(self.image_size, self.image_size), mode="bilinear",
                                  antialias=True, align_corners=False)
        mean = torch.tensor(self.image_mean).view(1, 3, 1, 1)
        std = torch.tensor(self.image_std).view(1, 3, 1, 1)
        return (video - mean) / std

    def instruction_of(self, text: str) -> str:
        """Accept a task name ("proficiency") or its instruction ("map suturing activity")."""
        return load_taxonomy(self.taxonomy).task(text).instruction

    def encode_instructions(self, texts: Sequence[str]) -> Dict[str, torch.Tensor]:
        m = self.num_instruction_slots
        ids = torch.full((len(texts), m), self.tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(texts), m), dtype=torch.long)
        for i, text in enumerate(texts):
            tok = self.tokenizer(self.instruction_of(text), add_special_tokens=False)["input_ids"][:m]
            ids[i, : len(tok)] = torch.tensor(tok)
            mask[i, : len(tok)] = 1
        return {"instruction_ids": ids, "instruction_mask": mask}

    def encode_targets(self, texts: Sequence[str], tags: Sequence[Dict[str, str]], max_length: int) -> torch.Tensor:
        """Target tag ids ending in EOS, right-padded with -100 (ignored by the loss)."""
        taxonomy = load_taxonomy(self.taxonomy)
        labels = torch.full((len(texts), max_length), -100, dtype=torch.long)
        for i, (text, tag) in enumerate(zip(texts, tags)):
            target = taxonomy.task(text).format_target(tag)
            ids = self.tokenizer(target, add_special_tokens=False)["input_ids"] + [self.tokenizer.eos_token_id]
            if len(ids) > max_length:
                raise ValueError(f"target {target!r} is longer than max_length={max_length}")
            labels[i, : len(ids)] = torch.tensor(ids)
        return labels

    def __call__(self, videos: Optional[Union[Frames, List[Frames]]] = None, text=None,
                 tags: Optional[Sequence[Dict[str, str]]] = None, max_tag_length: int = 24,
                 return_tensors: str = "pt", **kwargs) -> BatchFeature:
        """Args: videos: one clip or a batch (see the module docstring); text: an instruction or task name, or one
        per clip (one text with several clips goes with each); tags: optional targets, {tag: category} or one
        per clip -> `labels`."""
        data: Dict[str, torch.Tensor] = {}
        n = None
        if videos is not None:
            clips = self.clips_of(videos)
            data["pixel_values"] = torch.stack([self.preprocess_frames(c) for c in clips])
            n = len(clips)
        if text is not None:
            texts = _per_clip("text", [text] if isinstance(text, str) else list(text), n)
            data.update(self.encode_instructions(texts))
            if tags is not None:
                tags = _per_clip("tags", [tags] if isinstance(tags, dict) else list(tags), len(texts))
                data["labels"] = self.encode_targets(texts, tags, max_tag_length)
        return BatchFeature(data=data, tensor_type=return_tensors)

    # ---- outputs --------------------------------------------------------------------------------
    def parse(self, sequences) -> List[Dict[str, str]]:
        """Generated ids (B, L) -> one {tag: category} per clip (unknown or malformed parts dropped)."""
        taxonomy = load_taxonomy(self.taxonomy)
        rows = sequences.tolist() if hasattr(sequences, "tolist") else sequences
        return [parse_tags(self.tokenizer.convert_ids_to_tokens(row), taxonomy) for row in rows]

    def batch_decode(self, *args, **kwargs):
        return self.tokenizer.batch_decode(*args, **kwargs)

    @property
    def model_input_names(self):
        return ["pixel_values", "instruction_ids", "instruction_mask"]


def _is_frame(x) -> bool:
    """A PIL image or an (H, W, 3) / (3, H, W) array: one frame."""
    return (hasattr(x, "getbands") and hasattr(x, "convert")) or (hasattr(x, "ndim") and x.ndim == 3)


def _is_one_clip(x) -> bool:
    if isinstance(x, (str, os.PathLike)):
        return True
    if hasattr(x, "ndim"):
        return x.ndim == 4
    return isinstance(x, (list, tuple)) and len(x) > 0 and all(_is_frame(f) for f in x)


def _frame_array(frame) -> np.ndarray:
    if hasattr(frame, "getbands"):  # PIL
        return np.asarray(frame.convert("RGB"))
    x = np.asarray(frame)
    return x.transpose(1, 2, 0) if x.shape[-1] != 3 and x.shape[0] == 3 else x


def _per_clip(name: str, values: list, n: Optional[int]) -> list:
    """One value per clip: a single value goes with every clip; other counts must match."""
    if n is None or len(values) == n:
        return values
    if len(values) == 1:
        return values * n
    raise ValueError(f"{name}: {len(values)} given for {n} clips; give one (for all) or one per clip")
