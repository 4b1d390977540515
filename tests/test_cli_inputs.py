"""`halsted map` on inputs refused before any model loads: an unknown mapping name of any size, a video too
short to map, a FIFO given as the video."""

from __future__ import annotations

import os
import subprocess
import sys

from helpers import make_video


def _map_in_process(*args):
    """`halsted map ARGS` in a child, which also reports whether torch was imported by the time it returned."""
    code = ("import sys; from halsted_hf.cli import main; rc = main(sys.argv[1:]); "
            "print('torch' in sys.modules); sys.exit(rc)")
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    return subprocess.run([sys.executable, "-c", code, "map", *args], capture_output=True, text=True, env=env,
                          timeout=120)


def test_bad_inputs_are_refused_in_one_short_line_before_the_model_loads(tmp_path, tiny_model_dir):
    short = make_video(tmp_path / "short.mp4", 1, size="64x48")
    os.mkfifo(tmp_path / "pipe.mp4")
    huge = "x" * 100_000  # (an argument is limited to 128 kB; the Space takes any size)
    cases = {
        "too short": ([str(short)], "lasts 1.00 s, shorter than one 2.5-s mapping window"),
        "fifo": ([str(tmp_path / "pipe.mp4")], "is a FIFO (named pipe), not a video file"),
        "huge mapping": ([str(short), "--mapping", huge], "Unknown mapping 'xxxx"),
    }
    for name, (args, needle) in cases.items():
        res = _map_in_process(*args, "--model", tiny_model_dir, "--out", str(tmp_path / "t.json"), "--no-progress")
        lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
        assert res.returncode == 2 and len(lines) == 1 and needle in lines[0], (name, lines[:3])
        assert len(lines[0]) < 300, (name, len(lines[0]))
        assert res.stdout.strip() == "False", f"{name}: torch was imported before the refusal"
    assert "(cut; 100,000 characters)" in _map_in_process(str(short), "--mapping", huge).stderr
    assert not os.path.exists(tmp_path / "t.json")
