"""What a result is downloaded as: the timeline CSV, JSON and WebVTT subtitles, and the overlay video, with
their file names. One place for the Review page (which renders the overlay) and the owner-only routes that
serve them (web.py), so both name the same file."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Tuple

# kind -> (media type, what the file name ends with)
KINDS = {
    "csv": ("text/csv; charset=utf-8", ".csv"),
    "json": ("application/json", ".json"),
    "vtt": ("text/vtt; charset=utf-8", ".vtt"),
    "overlay": ("video/mp4", "-overlay.mp4"),
}


def overlay_path(settings, rv) -> Path:
    """Where the overlay video of a Review is cached: named by content (the video's bytes and the Timeline as
    shown, corrections included), so a reused result id or a new correction never finds a stale overlay."""
    key = hashlib.sha256((rv.video.sha256 + rv.json()).encode()).hexdigest()[:24]
    return settings.data_dir / "overlays" / f"{key}.mp4"


def file_name(rv, kind: str) -> str:
    """The download's file name: a pseudonymous id of the stored video (never the name the surgeon uploaded it
    under, which may hold a patient's name), the mapping, the kind."""
    return f"video-{rv.video.sha256[:12]}-{rv.result.mapping}{KINDS[kind][1]}"


def content(rv, kind: str) -> Tuple[str, str]:
    """(text, media type) of a text export."""
    text = {"csv": rv.csv, "json": rv.json, "vtt": rv.webvtt}[kind]()
    return text, KINDS[kind][0]
