"""Uploaded videos on disk: content-addressed, streamed, atomic.

Layout under the data directory (file names never come from the user):

    videos/<sha[:2]>/<sha256>.<ext>       the upload: its de-identified copy (.mp4; deid_upload.py), or byte for
                                          byte when Settings.deidentify is off
    deid/<sha[:2]>/<sha256>.json          what de-identification removed from it
    thumbnails/<sha[:2]>/<sha256>.png     a frame from ~10% into the video
    proxies/<sha[:2]>/<sha256>.mp4        a browser-playable copy, made by the worker when needed
    tmp/                                  uploads in progress (same filesystem: os.replace is atomic)

An upload is copied in chunks (several-GB videos never sit in memory) into tmp/ while it is
hashed, validated by decoding its first frame, and only then moved into place and given a row.
A file that is not a decodable video leaves no file and no row. The same bytes uploaded twice
by one surgeon are one video; two surgeons uploading the same bytes get a row each and share
the file, which is deleted with the last row that references it.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import BinaryIO, Callable, Optional, Union

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from ..core.errors import VideoError
from ..core.io import atomic_path, commit, ffmpeg_exe, temp_path_for
from .deid_upload import deidentify_upload, remove_report, save_report
from .errors import NotFoundError
from .tables import Video
from .records import VideoRecord
from .settings import Settings

CHUNK_BYTES = 8 * 1024 * 1024
THUMBNAIL_WIDTH = 320
THUMBNAIL_AT = 0.10  # fraction of the duration: past the black lead-in most videos start with
VIDEO_EXTENSIONS = {"mp4", "m4v", "mov", "mkv", "webm", "avi", "mpg", "mpeg", "ts", "mts", "m2ts", "wmv", "flv", "3gp"}

Source = Union[str, os.PathLike, BinaryIO]


def safe_filename(name: Optional[str]) -> str:
    """The user's file name for display: no folders, no control characters, at most 200 chars."""
    base = os.path.basename(str(name or "").replace("\\", "/")) or "video"
    base = re.sub(r"[\x00-\x1f\x7f]", "", base).strip() or "video"
    return base[:200]


def extension_for(name: str) -> str:
    """A known video extension taken from the user's name (browsers pick the player by it), else
    'mp4'. Never anything else from the name reaches the filesystem."""
    ext = os.path.splitext(name)[1].lower().lstrip(".")
    return ext if ext in VIDEO_EXTENSIONS else "mp4"


def video_relpath(sha256: str, ext: str) -> str:
    return f"videos/{sha256[:2]}/{sha256}.{ext}"


def thumbnail_relpath(sha256: str) -> str:
    return f"thumbnails/{sha256[:2]}/{sha256}.png"


def too_large(filename: str, settings: Settings) -> VideoError:
    return VideoError(f"{filename} is larger than the {settings.max_upload_text} upload limit: trim or re-encode it "
                      f"(the dashboard's administrator sets the limit: HALSTED_MAX_UPLOAD_MB).")


def _copy_hashing(src: BinaryIO, dst: BinaryIO, settings: Settings, filename: str) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    while True:
        chunk = src.read(CHUNK_BYTES)
        if not chunk:
            break
        size += len(chunk)
        if size > settings.max_upload_bytes:
            raise too_large(filename, settings)
        digest.update(chunk)
        dst.write(chunk)
    return digest.hexdigest(), size


def make_thumbnail(video: Path, out: Path, at_s: float, width: int = THUMBNAIL_WIDTH) -> bool:
    """Write one frame at `at_s` seconds as a PNG `width` pixels wide (never upscaled), atomically
    (halsted_hf.core.io). Returns False instead of raising: a video that decodes but cannot be
    thumbnailed is still a valid upload."""
    for t in (max(0.0, at_s), 0.0):
        try:
            with atomic_path(str(out)) as tmp:
                subprocess.run([ffmpeg_exe(), "-nostdin", "-v", "error", "-y", "-ss", f"{t:.3f}", "-i", str(video),
                                "-frames:v", "1", "-vf", f"scale='min({width},iw)':-2", tmp],
                               check=True, capture_output=True, timeout=120)
                if not os.path.exists(tmp) or os.path.getsize(tmp) == 0:
                    raise OSError("ffmpeg wrote no frame")
            return True
        except (subprocess.SubprocessError, OSError):
            pass
    return False


def _validate(path: Path, filename: str):
    """halsted_hf.video.probe.validate_video, with the temp path in its message replaced by the
    name the surgeon knows."""
    from halsted_hf.video.probe import validate_video  # lazily: the video layer is heavy

    try:
        return validate_video(str(path))
    except VideoError as err:
        message = str(err).replace(str(path), filename)
        raise VideoError(message if filename in message else f"{filename}: {message}") from None


def store_upload(settings: Settings, Session, owner_id: int, source: Source,
                 filename: Optional[str] = None) -> VideoRecord:
    """Store a video for `owner_id` and return its record (the existing one, with
    `already_stored=True`, when this surgeon already uploaded the same bytes under any name). `source` is a path
    or a binary file object (Streamlit's UploadedFile works); `filename` is only for display and the extension.
    Raises VideoError for anything that is not a decodable video, leaving no file and no row."""
    if filename is None:
        filename = source if isinstance(source, (str, os.PathLike)) else getattr(source, "name", None)
    filename = safe_filename(filename)
    settings.tmp_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix="upload-", suffix="." + extension_for(filename), dir=settings.tmp_dir)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as dst:
            if isinstance(source, (str, os.PathLike)):
                if not Path(source).is_file():
                    raise VideoError(f"{filename}: no such file; check the path and upload it again.")
                with open(source, "rb") as src:
                    sha, size = _copy_hashing(src, dst, settings, filename)
            else:
                if hasattr(source, "seek"):
                    source.seek(0)  # Streamlit may have read it already (previews)
                sha, size = _copy_hashing(source, dst, settings, filename)
        if size == 0:
            raise VideoError(f"{filename} is empty (0 bytes): upload the video file itself.")
        info = _validate(tmp, filename)
        deid = None
        if settings.deidentify:  # from here on only the de-identified copy exists (deid_upload.py)
            tmp, sha, size, info, deid = deidentify_upload(settings, tmp, filename)

        with Session() as db:
            existing = db.scalar(select(Video).where(Video.owner_id == owner_id, Video.sha256 == sha))
            if existing is not None:
                return replace(VideoRecord.of(existing, settings.data_dir), already_stored=True)

        rel = video_relpath(sha, "mp4" if deid is not None else extension_for(filename))
        final = settings.data_dir / rel
        final.parent.mkdir(parents=True, exist_ok=True)
        if final.exists():  # another surgeon's identical upload: share the file
            tmp.unlink()
        else:
            os.replace(tmp, final)

        if deid is not None:
            save_report(settings, sha, deid)
        thumb_rel = thumbnail_relpath(sha)
        thumb = settings.data_dir / thumb_rel
        if not thumb.exists() and not make_thumbnail(final, thumb, THUMBNAIL_AT * float(info.duration_s or 0.0)):
            thumb_rel = None

        row = Video(
            owner_id=owner_id, sha256=sha, stored_path=rel, original_filename=filename, size_bytes=size,
            duration_s=float(info.duration_s), fps=float(info.fps or 0.0),
            width=int(info.width), height=int(info.height), thumbnail_path=thumb_rel,
            # an identical upload of another surgeon's may already have its proxy: share it at once
            proxy_path=proxy_relpath(sha) if (settings.data_dir / proxy_relpath(sha)).is_file() else None,
        )
        try:
            with Session.begin() as db:
                db.add(row)
            return VideoRecord.of(row, settings.data_dir)
        except IntegrityError:
            # The same surgeon uploaded the same bytes concurrently: theirs won, use it.
            with Session() as db:
                existing = db.scalar(select(Video).where(Video.owner_id == owner_id, Video.sha256 == sha))
                if existing is not None:
                    return replace(VideoRecord.of(existing, settings.data_dir), already_stored=True)
            raise
        except BaseException:
            remove_unreferenced(settings, Session, rel, thumb_rel)
            raise
    finally:
        tmp.unlink(missing_ok=True)


def remove_unreferenced(settings: Settings, Session, stored_path: Optional[str], thumbnail_path: Optional[str],
                        proxy_path: Optional[str] = None) -> None:
    """Delete the files unless a video row still references them (shared content)."""
    with Session() as db:
        for rel, column in ((stored_path, Video.stored_path), (thumbnail_path, Video.thumbnail_path),
                            (proxy_path, Video.proxy_path)):
            if rel and not db.scalar(select(func.count()).where(column == rel)):
                path = settings.data_dir / rel
                path.unlink(missing_ok=True)
                if column is Video.stored_path:
                    remove_report(settings.data_dir, rel)
                try:  # the <sha[:2]> folder, once empty
                    path.parent.rmdir()
                except OSError:
                    pass


def owned_video(db, owner_id: int, video_id: int) -> Video:
    """The video row if it exists and belongs to owner_id; otherwise NotFoundError (the same
    message either way, so an id reveals nothing about other surgeons)."""
    row = db.scalar(select(Video).where(Video.id == video_id, Video.owner_id == owner_id))
    if row is None:
        raise NotFoundError(f"Video {video_id} is not in your library: pick one from the Library page.")
    return row


def delete_video(settings: Settings, Session, owner_id: int, video_id: int) -> None:
    """Delete the video's row, its jobs and results (cascade), then its file and thumbnail unless
    another surgeon's row shares the same content. A worker mapping it at that moment finds its
    job gone and drops the result."""
    with Session.begin() as db:
        row = owned_video(db, owner_id, video_id)
        stored, thumb, proxy = row.stored_path, row.thumbnail_path, row.proxy_path
        db.delete(row)
    remove_unreferenced(settings, Session, stored, thumb, proxy)


# -- browser-playable proxies ------------------------------------------------------------------
# What every browser plays: H.264 (8-bit 4:2:0) video, AAC audio or none, in MP4. Anything else (Cinepak
# AVI, an MP3 track, HEVC, 10-bit, MKV...) gets a proxy, made once per content by the worker.
PROXY_CRF = 23  # visually close to the source at a fraction of a lossless size; it is only for viewing


def proxy_relpath(sha256: str) -> str:
    return f"proxies/{sha256[:2]}/{sha256}.mp4"


def browser_playable(path: Path) -> bool:
    """Whether Chromium, Firefox and Safari all play the file as it is (read with PyAV)."""
    import av  # lazily: only the worker needs it

    try:
        with av.open(str(path)) as container:
            if "mp4" not in container.format.name.split(","):
                return False
            videos = [s for s in container.streams.video if s.codec_context is not None]
            if not videos or videos[0].codec_context.name != "h264":
                return False
            if (videos[0].codec_context.format.name if videos[0].codec_context.format else "") != "yuv420p":
                return False
            return all(s.codec_context.name == "aac" for s in container.streams.audio)
    except Exception:  # noqa: BLE001 - unreadable here: let ffmpeg try to make a proxy
        return False


def _die_with_parent() -> None:
    """In the ffmpeg child, before exec: Linux kills it when the worker dies, even by SIGKILL (`halsted
    serve` SIGKILLs a worker that does not stop in 15 s), so no transcoder outlives its worker."""
    try:
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the stop check below still ends it
        pass


def make_proxy(src: Path, out: Path, timeout_s: float = 3600.0, cancel: Optional[Callable[[], bool]] = None) -> None:
    """Transcode `src` to a browser-playable MP4 at `out` (via a temp file and os.replace). Every frame
    keeps its timestamp (-fps_mode passthrough), so the timeline's seconds match the proxy's; the moov
    atom goes first (+faststart) so playback and seeking start before the whole file arrived. `cancel`
    (the worker's stop / cancel check) is polled: when it says so, ffmpeg is killed within a second."""
    tmp = Path(temp_path_for(str(out)))  # halsted_hf.core.io: beside `out`, committed below
    cmd = [ffmpeg_exe(), "-nostdin", "-v", "error", "-y", "-i", str(src), "-map", "0:v:0", "-map", "0:a:0?",
           "-c:v", "libx264", "-preset", "veryfast", "-crf", str(PROXY_CRF), "-pix_fmt", "yuv420p",
           "-vf", "scale=trunc(iw/2)*2:trunc(ih/2)*2", "-fps_mode", "passthrough",
           "-c:a", "aac", "-b:a", "128k", "-movflags", "+faststart", str(tmp)]
    err = tempfile.TemporaryFile()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                            preexec_fn=_die_with_parent if os.name == "posix" else None)
    deadline = time.monotonic() + timeout_s
    try:
        while proc.poll() is None:
            if (cancel is not None and cancel()) or time.monotonic() > deadline:
                proc.kill()
                proc.wait()
                raise VideoError("making a browser-playable copy was stopped" if time.monotonic() <= deadline
                                 else f"making a browser-playable copy took over {timeout_s:.0f} s: stopped")
            time.sleep(0.2)
        if proc.returncode != 0 or not tmp.is_file() or tmp.stat().st_size == 0:
            err.seek(0)
            last = err.read().decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
            raise VideoError(f"could not make a browser-playable copy of the video: ffmpeg said {last[0]!r}")
        commit(str(tmp), str(out))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        err.close()
        tmp.unlink(missing_ok=True)


def ensure_proxy(settings: Settings, Session, video_id: int,
                 cancel: Optional[Callable[[], bool]] = None) -> Optional[str]:
    """Give the video a browser-playable proxy unless its upload plays as it is; returns the proxy's
    relative path (None when none is needed). Identical uploads share it, like their file."""
    with Session() as db:
        row = db.get(Video, video_id)
        if row is None or row.proxy_path:
            return row.proxy_path if row is not None else None
        sha, stored = row.sha256, row.stored_path
    src = settings.data_dir / stored
    if browser_playable(src):
        return None
    rel = proxy_relpath(sha)
    out = settings.data_dir / rel
    if not out.is_file():
        make_proxy(src, out, cancel=cancel)
    with Session.begin() as db:
        # every row with these bytes (other surgeons' identical uploads too) plays the same proxy
        for same in db.scalars(select(Video).where(Video.sha256 == sha, Video.proxy_path.is_(None))):
            same.proxy_path = rel
    return rel
