"""`halsted map-archive` and `archive-summary` on inputs that are not plain video archives: special files in
the source folder, an archive with no suturing (neither needs Ray: nothing there can be mapped), and a driver
killed mid-run (a local Ray of its own)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pandas as pd

from halsted_hf.archive.actor import segment_rows
from halsted_hf.archive.store import ArchiveStore
from halsted_hf.cli import main
from halsted_hf.mapping.timeline import Timeline
from helpers import alive, descendants, make_video, seg


def test_fifos_and_devices_are_refused_before_hashing_and_the_run_exits_non_zero(tmp_path, tiny_model_dir):
    src = tmp_path / "src"
    src.mkdir()
    os.mkfifo(src / "pipe.mp4")  # opening it to hash would wait for a writer forever
    os.symlink("/dev/zero", src / "zero.mp4")  # hashing it would never end
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    res = subprocess.run([sys.executable, "-m", "halsted_hf.cli", "map-archive", str(src),
                          "--out", str(tmp_path / "out"), "--model", tiny_model_dir, "--no-progress"],
                         capture_output=True, text=True, env=env,
                         timeout=60)
    assert res.returncode == 1, res.stderr[-2000:]
    errors = res.stderr.splitlines()
    assert any("pipe.mp4: a FIFO (named pipe), not a regular file" in ln for ln in errors), errors
    assert any("zero.mp4: a character device, not a regular file" in ln for ln in errors), errors
    assert errors[-1] == (f"halsted map-archive: 2 of 2 videos are not mapped (2 failed in this run, 0 before); "
                          f"their errors are in {tmp_path / 'out'}/videos.parquet")
    assert "0 mapped, 2 failed" in res.stdout and "Traceback" not in res.stderr


def test_archive_summary_of_an_archive_without_suturing(tmp_path, capsys):
    """A procedure mapping has stage-1 segments only: no phase rows at all."""
    out = str(tmp_path / "archive")
    store = ArchiveStore(out)
    store.check_manifest("procedure", "m@1")
    tl = Timeline(video={"id": "v", "duration_s": 30.0, "fps": 10.0}, model={"name": "m", "revision": "1"},
                  workflow="procedure", segments=[seg(0, 30, 1, "macro-activity", {
                      "specialty": "urology", "procedure": "prostatectomy", "step": "dissection"})])
    record = {"content_hash": "abc", "model_id": "m@1", "path": "/cases/v.mp4", "status": "ok", "duration_s": 30.0,
              "procedure": "prostatectomy", "stitches": 0, "stitches_with_proficiency": 0,
              "high_proficiency_stitches": 0}
    store.write_video("abc-k", record, tl.to_json(), segment_rows(tl, "abc", "m@1"))
    store.compact()
    assert main(["archive-summary", out]) == 0
    assert "== phase_time ==\n(empty)" in capsys.readouterr().out
    steps = pd.read_parquet(os.path.join(out, "summary", "step_time.parquet"))
    assert steps[["step", "total_s", "mean_s_per_video"]].values.tolist() == [["dissection", 30.0, 30.0]]
    assert len(pd.read_parquet(os.path.join(out, "summary", "phase_time.parquet"))) == 0


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def test_a_killed_driver_leaves_no_ray_process_behind(tmp_path, tiny_model_dir):
    """SIGKILL to `map-archive` mid-run: the raylet's agents used to live on for about two minutes."""
    src = tmp_path / "src"
    for i in range(2):
        make_video(src / f"v{i}.mp4", 20, size="96x72", rate=8)
    env = dict(os.environ, HF_HUB_OFFLINE="1", RAY_USAGE_STATS_ENABLED="0")
    driver = subprocess.Popen([sys.executable, "-m", "halsted_hf.cli", "map-archive", str(src), "--out",
                               str(tmp_path / "out"), "--model", tiny_model_dir, "--no-progress"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    tree: set = set()
    try:
        deadline = time.monotonic() + 120
        while not any("VideoMapper.map" in _cmdline(p) for p in tree):  # the actors map: Ray is all up
            assert driver.poll() is None and time.monotonic() < deadline, "the run never started mapping"
            time.sleep(0.2)
            tree = descendants(driver.pid)
        tree = descendants(driver.pid)
        assert any("Agent" in _cmdline(p) for p in tree), [_cmdline(p)[:60] for p in tree]
        driver.kill()
        driver.wait(timeout=30)
        deadline = time.monotonic() + 15
        while alive(tree) and time.monotonic() < deadline:
            time.sleep(0.2)
        left = {p: _cmdline(p)[:60] for p in alive(tree)}
    finally:
        if driver.poll() is None:
            driver.kill()
        for p in alive(tree):  # never leak them into the rest of the run
            os.kill(p, signal.SIGKILL)
    assert not left, f"outlived the killed driver by 15 s: {left}"
