"""Output files of every front end: is a path safe to write (not an input under another name, not a
folder, writable), and writing a set of files all or none.

Standard library only: `halsted map` checks its outputs before torch is imported, so a bad path is
refused in a second.
"""

from __future__ import annotations

import os
import tempfile
from typing import List, Sequence, Tuple

from ..core.errors import HalstedError
from ..core.io import commit, discard, temp_path_for


def write_atomically(files: Sequence[Tuple[str, str]]) -> None:
    """Write every (path, text) or none: all texts go to temp files next to their targets first, and only
    when every one is complete are they renamed into place (a rename within a folder does not fail for
    want of space or rights). A failure leaves every target as it was and no temp file behind; it is
    raised as a one-line HalstedError. Missing folders are created."""
    temps: List[Tuple[str, str]] = []
    try:
        try:
            for path, text in files:
                tmp = temp_path_for(path)  # beside its target (io.py): the rename stays on one filesystem
                temps.append((tmp, path))
                with open(tmp, "x", encoding="utf-8", newline="") as f:
                    f.write(text)
        except OSError as err:
            raise HalstedError(f"could not write {path}: {err.strerror or err}; nothing was written. "
                               f"Choose a folder you can write to (and check the free space)") from err
        for i, (tmp, path) in enumerate(temps):
            commit(tmp, path)
            temps[i] = ("", path)
    finally:
        for tmp, _ in temps:
            if tmp:
                discard(tmp)


def same_file(a: str, b: str) -> bool:
    """True when the paths name one file: through symlinks, hard links, `..` or relative paths. An output
    that is an input under another name would otherwise replace it."""
    try:
        return os.path.samefile(a, b)
    except OSError:  # one does not exist (yet): compare where it would be created
        return os.path.realpath(a) == os.path.realpath(b)


def check_output_path(path: str, what: str = "output") -> None:
    """Raise a one-line HalstedError unless a file can be written at `path`, before any slow work starts.

    Refused: a folder, an existing file that is not a regular file (/dev/null: replacing it would
    replace the device), a path under a regular file, and a folder the user cannot create files in.
    The folder is probed by creating and deleting a temp file in it (or in its nearest existing
    parent when it does not exist yet): os.access says yes to root and on read-only mounts."""
    if os.path.isdir(path):
        raise HalstedError(f"{what} {path} is a folder; give a file path, e.g. {os.path.join(path, 'NAME')}")
    if os.path.lexists(path) and not os.path.isfile(path):
        raise HalstedError(f"{what} {path} exists and is not a regular file; choose another path")
    folder = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(folder):
        folder = os.path.dirname(folder)
    if not os.path.isdir(folder):
        raise HalstedError(f"cannot write {what} {path}: {folder} is a file, not a folder; choose another path")
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".tmp-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise HalstedError(f"cannot write {what} {path}: {err.strerror or err} in {folder}; "
                           f"choose a folder you can write to") from err
