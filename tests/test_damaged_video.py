"""A video with damaged data in the middle (4 KB overwritten inside an 8-s H.264 MP4): decoding goes on past
the packets the decoder refuses, as ffmpeg's command line does, the mapping reaches the end, and the
warning names where the damage is."""

from __future__ import annotations

import json
import random

from halsted_hf.video.decode import iter_windows
from halsted_hf.video.windows import plan_windows
from helpers import make_video, run_cli


def _damaged(tmp_path):
    path = make_video(tmp_path / "case.mp4", 8, size="160x120", rate=30, faststart=True)
    data = bytearray(path.read_bytes())
    mid = len(data) // 2  # inside the frame data (faststart: the index is at the front)
    data[mid:mid + 4096] = random.Random(0).randbytes(4096)
    path.write_bytes(bytes(data))
    return path


def test_decoding_goes_past_damaged_packets_and_says_where(tmp_path):
    path = _damaged(tmp_path)
    with iter_windows(str(path), plan_windows(8.0, 2.5), 4, (32, 32), warn=False) as it:
        got = [k for k, _ in it]
    assert got == [0, 1, 2] and not it.truncated
    assert it.damaged_s and all(2.5 < t < 6.0 for t in it.damaged_s), it.damaged_s
    assert it.frames_decoded > 200


def test_a_damaged_middle_is_mapped_to_the_end_with_a_warning_naming_the_span(tmp_path, tiny_model_dir):
    path = _damaged(tmp_path)
    out = tmp_path / "t.json"
    res = run_cli("map", str(path), "--mapping", "suturing", "--model", tiny_model_dir, "--out", str(out),
                  "--no-progress")
    assert res.returncode == 0, res.stderr[-2000:]
    timeline = json.loads(out.read_text())
    assert max(s["end_s"] for s in timeline["segments"]) > 7.9
    assert timeline.get("decoded_until_s") is None
    [warning] = [w for w in timeline["warnings"] if "damaged at" in w]
    assert "could not be decoded and were skipped" in warning
    assert f"halsted map: warning: {warning}" in res.stderr
