"""Uploads that go to disk as they arrive, never into the dashboard's memory (platform/web.py's routes).

Streamlit's own uploader keeps a whole file in the server's memory (a 1.5-GB upload took it from 0.35 to
3.44 GB, for good). Under `halsted serve` the Library page sends files to POST /api/uploads instead, in two
steps:
1. `check`: the file's name, its size and its first HEAD_BYTES, before anything else is sent: refused at once
   when the size is over the limit, when the data folder has too little free space, or when the first bytes
   are not a video container (a text file named .mp4 is refused after one megabyte, not after 1.5 GB);
2. the file itself, streamed to a temp file under DATA_DIR/tmp (checked again: a client can skip step 1),
   then stored as any upload is (storage.store_upload: decoded, hashed, deduplicated, thumbnail).
Each outcome is one line for the Library page (`outcome`), the same words as Streamlit's uploader path.
"""

from __future__ import annotations

import shutil
import threading
from collections import defaultdict, deque
from typing import Optional, Tuple

from ..core.errors import HalstedError, VideoError
from .storage import safe_filename, too_large

HEAD_BYTES = 1 * 2**20
SPARE_BYTES = 256 * 2**20  # what the data folder keeps free beyond an upload (the database, thumbnails)

# Container signatures: (offset, bytes). A file that matches none is still accepted when FFmpeg (PyAV) opens its
# first megabyte and finds a video stream (MPEG-TS, elementary streams, the formats not listed).
_SIGNATURES = [(4, b"ftyp"), (4, b"moov"), (4, b"mdat"), (4, b"wide"), (4, b"free"), (4, b"skip"),  # MP4 / MOV / 3GP
               (0, b"\x1a\x45\xdf\xa3"),  # Matroska, WebM
               (0, b"RIFF"),  # AVI (checked below: RIFF....AVI)
               (0, b"\x00\x00\x01\xba"), (0, b"\x00\x00\x01\xb3"),  # MPEG program stream, MPEG video
               (0, b"OggS"), (0, b"FLV"), (0, b"\x30\x26\xb2\x75\x8e\x66\xcf\x11")]  # Ogg, FLV, ASF / WMV


def _known_container(head: bytes) -> bool:
    for offset, magic in _SIGNATURES:
        if head[offset:offset + len(magic)] == magic:
            return magic != b"RIFF" or head[8:12] == b"AVI "
    return False


def _ffmpeg_sees_video(head: bytes, tmp_dir) -> bool:
    import tempfile

    import av  # the decoder the platform uses anyway (lazily: a refused name costs nothing)

    with tempfile.NamedTemporaryFile(dir=tmp_dir, prefix="head-") as f:
        f.write(head)
        f.flush()
        try:
            with av.open(f.name) as container:
                return bool(container.streams.video)
        except (av.FFmpegError, OSError, ValueError):
            return False


def check(settings, filename: str, size: Optional[int], head: bytes) -> None:
    """Raise VideoError (one line: what is wrong, what to do) unless an upload of `size` bytes whose first bytes
    are `head` may be taken. Nothing is written but a 1-MB probe file, removed at once."""
    if size is not None and size > settings.max_upload_bytes:
        raise too_large(filename, settings)
    settings.tmp_dir.mkdir(parents=True, exist_ok=True)
    if size is not None:
        free = shutil.disk_usage(settings.tmp_dir).free
        needed = 2 * size + SPARE_BYTES  # the temp file and the stored copy exist together for a moment
        if free < needed:
            raise VideoError(f"Not enough free disk space for {filename}: it needs {needed / 1e9:.1f} GB on the "
                             f"dashboard's data folder, which has {free / 1e9:.1f} GB free. Free some space there "
                             f"(or ask its administrator), then upload it again.")
    if not head:
        raise VideoError(f"{filename} is empty (0 bytes): upload the video file itself.")
    if not (_known_container(head) or _ffmpeg_sees_video(head, settings.tmp_dir)):
        raise VideoError(f"{filename} is not a video: its first bytes are no video format FFmpeg reads. Upload "
                         f"the video file itself (MP4, MOV, MKV, WebM, AVI...); nothing was stored.")


def outcome(filename: str, video=None, error: Optional[HalstedError] = None) -> Tuple[str, str]:
    """(kind, line) for the Library page: success, info (the same bytes again) or error. A refusal's message
    that names the file already is not given the name a second time ("Refused x.mp4: x.mp4: ...")."""
    name = safe_filename(filename)
    if error is not None:
        text = str(error)
        return "error", f"Refused: {text}" if name in text else f"Refused {name}: {text}"
    if video.already_stored:  # same bytes as an earlier upload: one video, under its first name
        return "info", f"{name} is already in your library as {video.original_filename}."
    return "success", f"Stored {name} ({video.duration_s:.0f} s, {video.width}x{video.height})."


class Notices:
    """Outcomes of uploads made through the routes, per surgeon, until their Library page shows them (the
    routes and the pages run in one process under `st.App`). Bounded: an unread backlog drops its oldest."""

    def __init__(self, per_surgeon: int = 50):
        self._lock = threading.Lock()
        self._by_surgeon = defaultdict(lambda: deque(maxlen=per_surgeon))

    def add(self, surgeon_id: int, kind: str, line: str) -> None:
        with self._lock:
            self._by_surgeon[surgeon_id].append((kind, line))

    def take(self, surgeon_id: int) -> list:
        with self._lock:
            return list(self._by_surgeon.pop(surgeon_id, ()))


notices = Notices()
