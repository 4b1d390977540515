"""De-identification on upload: the copy that reaches the library, and what was removed from it.

When `Settings.deidentify` is on (the default; HALSTED_DEIDENTIFY=0 turns it off), storage.store_upload hands
the upload in tmp/ to `deidentify_upload` right after it decoded: the original is replaced by its de-identified
copy (halsted_hf/deid) and deleted, so only the copy is hashed, stored, thumbnailed and mapped. Its report sits
beside the videos, one per content like the file:

    deid/<sha[:2]>/<sha256>.json    halsted_hf.deid.report.DeidReport of the stored copy
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Optional, Tuple

from ..core.errors import HalstedError, VideoError
from ..core.io import atomic_write_text
from .settings import Settings

CHUNK_BYTES = 8 * 1024 * 1024


def report_relpath(sha256: str) -> str:
    return f"deid/{sha256[:2]}/{sha256}.json"


def deidentify_upload(settings: Settings, upload: Path, filename: str):
    """-> (copy, sha256, size, VideoInfo, DeidReport) for the upload at `upload` (deleted here, whatever happens).
    The copy lies beside it in tmp/; a failure is a VideoError that names `filename`, not the temp path."""
    from ..deid.rewrite import DeidOptions, deidentify
    from ..video.probe import validate_video

    copy = upload.with_name(upload.stem + "-deid.mp4")
    try:
        options = DeidOptions(classifier=settings.out_of_body,
                              default_classifier=str(settings.data_dir / "out-of-body"))
        report = deidentify(str(upload), str(copy), options=options)
        info = validate_video(str(copy))
    except HalstedError as err:
        copy.unlink(missing_ok=True)
        message = str(err).replace(str(upload), filename).replace(str(copy), filename)
        raise VideoError(f"{filename}: de-identification failed, nothing was stored: {message}") from None
    except BaseException:
        copy.unlink(missing_ok=True)
        raise
    finally:
        upload.unlink(missing_ok=True)  # the original never goes further than tmp/
    digest, size = hashlib.sha256(), 0
    with open(copy, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK_BYTES), b""):
            digest.update(chunk)
            size += len(chunk)
    return copy, digest.hexdigest(), size, info, report


def save_report(settings: Settings, sha256: str, report) -> None:
    path = settings.data_dir / report_relpath(sha256)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(str(path), report.to_json() + "\n")


def load_report(data_dir: Path, sha256: str):
    """The stored copy's DeidReport, or None (uploaded while de-identification was off, or before it existed)."""
    from ..deid.report import DeidReport

    path = Path(data_dir) / report_relpath(sha256)
    if not path.is_file():
        return None
    try:
        return DeidReport.load(str(path))
    except (OSError, ValueError, TypeError):
        return None


def remove_report(data_dir: Path, stored_relpath: Optional[str]) -> None:
    """Delete the report of a stored file that was just deleted (its name is the content's hash)."""
    if not stored_relpath:
        return
    sha = Path(stored_relpath).stem
    path = Path(data_dir) / report_relpath(sha)
    path.unlink(missing_ok=True)
    try:
        path.parent.rmdir()
    except OSError:
        pass


def stretches_of(data_dir: Path, sha256: str) -> Tuple[Tuple[float, float], ...]:
    report = load_report(data_dir, sha256)
    return tuple(report.removed_stretches) if report else ()


def skip_removed(settings: Settings, Session, video_id: int, timeline):
    """The worker's timeline with nothing mapped inside the stretches de-identification removed from the video."""
    from sqlalchemy import select

    from ..deid.timeline_mask import without_stretches
    from .tables import Video

    with Session() as db:
        sha = db.scalar(select(Video.sha256).where(Video.id == video_id))
    return without_stretches(timeline, stretches_of(settings.data_dir, sha)) if sha else timeline
