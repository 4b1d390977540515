"""Shared pieces of the dataset loaders: the error they raise, taxonomy files, video probing."""

from __future__ import annotations

import os
from functools import lru_cache

from ...core.errors import HalstedError, VideoError
from ...model.taxonomy import Taxonomy

TAXONOMY_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "taxonomies")


class DatasetError(HalstedError):
    """A dataset folder, table or label file that cannot be used; the message names the file."""


@lru_cache(maxsize=None)
def load_builtin_taxonomy(name: str) -> Taxonomy:
    """A taxonomy shipped as data next to the loaders (`taxonomies/<name>.json`), e.g. "rarp50"."""
    path = os.path.join(TAXONOMY_DIR, f"{name}.json")
    if not os.path.exists(path):
        known = sorted(f[:-5] for f in os.listdir(TAXONOMY_DIR) if f.endswith(".json"))
        raise DatasetError(f"no built-in taxonomy {name!r}; known: {known}")
    return Taxonomy.from_json(path)


def require_path(path: str, what: str) -> str:
    """Absolute path of an existing file or folder, or a DatasetError that says what was expected there."""
    if not path or not os.path.exists(path):
        raise DatasetError(f"{path}: no such {what}; check the path")
    return os.path.abspath(path)


def probe_duration(path: str) -> float:
    """Duration of a video file in seconds (container duration, else the first video stream's).

    Uses ffprobe (via ffmpeg-python) so only the header is read: cheap even for hour-long videos.
    """
    import ffmpeg  # imported here: the folder and HSA-27k loaders need no ffprobe

    if not os.path.isfile(path):
        raise VideoError(f"{path}: video file not found; check the dataset folder")
    try:
        info = ffmpeg.probe(path)
    except ffmpeg.Error as err:
        detail = (err.stderr or b"").decode("utf-8", "replace").strip().splitlines()
        raise VideoError(f"{path}: not a readable video ({detail[-1] if detail else 'ffprobe failed'}); "
                         f"re-download or re-encode it") from err
    streams = [s for s in info.get("streams", []) if s.get("codec_type") == "video"]
    if not streams:
        raise VideoError(f"{path}: has no video stream; is it the right file?")
    for value in (info.get("format", {}).get("duration"), streams[0].get("duration")):
        try:
            if value is not None and float(value) > 0:
                return float(value)
        except ValueError:
            pass
    raise VideoError(f"{path}: ffprobe reports no duration; the file may be truncated, re-encode it")
