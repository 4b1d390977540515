"""halsted_hf.core.io: the one atomic write (whole file or the old one, never half; no temp file left
behind; an ordinary file's mode) and the one ffmpeg locator."""

from __future__ import annotations

import json
import os
import stat
import subprocess

import pytest

from halsted_hf.core.io import atomic_path, atomic_write_bytes, atomic_write_json, atomic_write_text, ffmpeg_exe


def test_text_bytes_and_json_variants_write_whole_files(tmp_path):
    text = tmp_path / "deep" / "er" / "a.txt"  # missing folders are created
    atomic_write_text(str(text), "line\r\nnext é\n")
    assert text.read_bytes() == "line\r\nnext é\n".encode("utf-8")  # no newline translation
    atomic_write_bytes(str(tmp_path / "b.bin"), b"\x00\x01")
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01"
    atomic_write_json(str(tmp_path / "c.json"), {"b": 1, "a": [1, 2]}, indent=1)
    raw = (tmp_path / "c.json").read_text()
    assert raw.endswith("}\n") and json.loads(raw) == {"b": 1, "a": [1, 2]} and list(json.loads(raw)) == ["b", "a"]
    assert sorted(os.listdir(tmp_path)) == ["b.bin", "c.json", "deep"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp_file(tmp_path):
    target = tmp_path / "timeline.json"
    atomic_write_text(str(target), "old\n")
    with pytest.raises(RuntimeError, match="disk full"):
        with atomic_path(str(target)) as tmp:
            with open(tmp, "w") as f:
                f.write("half of the new")
            raise RuntimeError("disk full")
    assert target.read_text() == "old\n"
    assert os.listdir(tmp_path) == ["timeline.json"]


def test_temp_file_is_beside_the_target_hidden_and_keeps_its_extension(tmp_path):
    target = tmp_path / "out.mp4"
    with atomic_path(str(target)) as tmp:
        assert os.path.dirname(tmp) == str(tmp_path)  # same filesystem: the rename is atomic
        name = os.path.basename(tmp)
        assert name.startswith(".tmp-") and name.endswith("-out.mp4") and not os.path.exists(tmp)
        open(tmp, "wb").write(b"x")
        assert not target.exists()  # nothing at the destination until the block ends
    assert target.read_bytes() == b"x" and not os.path.exists(tmp)


def test_files_get_the_process_umask_mode_not_a_private_temp_mode(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write_text(str(tmp_path / "shared.json"), "{}\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "shared.json").st_mode) == 0o644


def test_ffmpeg_exe_runs():
    res = subprocess.run([ffmpeg_exe(), "-version"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and res.stdout.startswith("ffmpeg version")
