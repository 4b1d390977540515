"""One way to write a file so that a reader never sees half of it, and one way to find ffmpeg.

Every writer of results, checkpoints, tables and videos goes through `atomic_path` (or its text /
bytes / JSON shortcuts; `atomic_dir` for a whole folder, e.g. a checkpoint or a Space bundle): the data goes
to a temp file in the destination's own folder (same filesystem, so the rename is atomic), is flushed to disk
(fsync), then `os.replace`d over the destination. A failure or an interrupt removes the temp file and leaves
the destination as it was.
Temp files are named `.tmp-<random>-<name>`: hidden, and with the destination's extension last
(ffmpeg picks its container from it). They are created with the process's umask, as `open` would.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
from typing import Any, Iterator

from .errors import HalstedError

TEMP_PREFIX = ".tmp-"


def temp_path_for(path: str) -> str:
    """A fresh, unused temp path beside `path` (its folder is created); nothing is created at it."""
    folder, name = os.path.split(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    return os.path.join(folder, f"{TEMP_PREFIX}{uuid.uuid4().hex[:12]}-{name}")


def commit(tmp: str, path: str) -> str:
    """fsync `tmp`, then rename it over `path` and fsync the folder: the new file is whole and lasts."""
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    with contextlib.suppress(OSError):  # not every filesystem lets a folder be opened and synced
        dir_fd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    return path


def discard(tmp: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)


@contextlib.contextmanager
def atomic_path(path: str) -> Iterator[str]:
    """Yield a temp path to write (by any writer: torch.save, to_parquet, save_file, ffmpeg); when
    the block ends normally it becomes `path`, otherwise it is removed."""
    tmp = temp_path_for(path)
    try:
        yield tmp
        commit(tmp, path)
    except BaseException:
        discard(tmp)
        raise


def atomic_write_bytes(path: str, data: bytes) -> str:
    with atomic_path(path) as tmp, open(tmp, "xb") as f:
        f.write(data)
    return path


def atomic_write_text(path: str, text: str) -> str:
    """UTF-8, newlines written as given (no platform translation)."""
    with atomic_path(path) as tmp, open(tmp, "x", encoding="utf-8", newline="") as f:
        f.write(text)
    return path


def atomic_write_json(path: str, obj: Any, **dump_kwargs) -> str:
    """`json.dumps(obj, **dump_kwargs)` plus a final newline, written atomically."""
    return atomic_write_text(path, json.dumps(obj, **dump_kwargs) + "\n")


@contextlib.contextmanager
def atomic_dir(path: str) -> Iterator[str]:
    """The folder version of `atomic_path`: yield a fresh temp folder beside `path` to fill; when the block
    ends normally it replaces `path` (an existing folder is renamed aside first and removed after), so a
    reader sees the old folder or the new one, never half of either. Otherwise the temp folder is removed."""
    tmp = temp_path_for(path)
    os.mkdir(tmp)
    try:
        yield tmp
        old = None
        if os.path.lexists(path):
            old = temp_path_for(path)
            os.replace(path, old)
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def ffmpeg_exe() -> str:
    """The ffmpeg binary: the system one if on PATH, else the one bundled with imageio-ffmpeg."""
    exe = shutil.which("ffmpeg")
    if exe:
        return exe
    try:
        import imageio_ffmpeg
        return imageio_ffmpeg.get_ffmpeg_exe()
    except Exception as err:  # imageio-ffmpeg missing or its binary absent
        raise HalstedError("ffmpeg not found: install it (apt-get install ffmpeg) or `pip install imageio-ffmpeg`"
                           ) from err
