"""`halsted map-archive` on a real local Ray cluster (started here with `ray start`, stopped after), real
videos, a real (tiny, random) model and real Parquet files; `halsted archive-summary` over the result."""

from __future__ import annotations

import glob
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pandas as pd
import pytest

from halsted_hf.archive.store import TAGS, content_hash, list_videos
from halsted_hf.cli import main
from helpers import make_video

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RAY = os.path.join(os.path.dirname(sys.executable), "ray")


def env() -> dict:
    e = dict(os.environ, RAY_USAGE_STATS_ENABLED="0")
    e["PYTHONPATH"] = os.pathsep.join([ROOT] + [p for p in [os.environ.get("PYTHONPATH")] if p])
    return e


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ray_cluster():
    """A one-node Ray cluster on 127.0.0.1, as an operator would start it; stopped after, even on failure."""
    port = free_port()
    # The cluster's own token (Ray 2.60 turns token auth on by default): the test needs nothing from ~/.ray.
    saved = {k: os.environ.get(k) for k in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN")}
    os.environ.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=os.urandom(16).hex())
    try:
        subprocess.run([RAY, "start", "--head", "--port", str(port), "--node-ip-address", "127.0.0.1",
                        "--num-cpus", "2", "--include-dashboard=false", "--object-store-memory", str(100 << 20),
                        "--disable-usage-stats"], check=True, env=env(), capture_output=True, timeout=120)
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([RAY, "stop", "--force"], env=env(), capture_output=True, timeout=120)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    d = tmp_path_factory.mktemp("cases")
    for i, seconds in enumerate((3, 5, 7)):
        make_video(d / f"case{i}.mp4", seconds, size="96x72", rate=8)
    (d / "broken.mp4").write_bytes(os.urandom(4000))  # a corrupt upload: not a video at all
    return str(d)


def assert_same_timeline(a: dict, b: dict) -> None:
    """Same video, model, segments, tags and times; scores equal up to float rounding, because torch
    sums in another order with another thread count (an actor gets its share of the CPUs)."""
    assert {k: v for k, v in a.items() if k != "segments"} == {k: v for k, v in b.items() if k != "segments"}
    assert len(a["segments"]) == len(b["segments"]) > 0
    for sa, sb in zip(a["segments"], b["segments"]):
        assert {k: v for k, v in sa.items() if k != "scores"} == {k: v for k, v in sb.items() if k != "scores"}
        assert sa["scores"] == pytest.approx(sb["scores"], rel=1e-5, abs=1e-6)


def cli(*args) -> int:
    return main([str(a) for a in args])


def records(out) -> pd.DataFrame:
    return pd.read_parquet(os.path.join(out, "videos.parquet"))


def segments(out) -> pd.DataFrame:
    return pd.read_parquet(os.path.join(out, "segments"))


@pytest.fixture(scope="module")
def archive(ray_cluster, folder, tiny_model_dir, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("archive") / "out")
    # exit 1: broken.mp4 is not mapped, and a script must see that the archive is incomplete
    assert cli("map-archive", folder, "--out", out, "--model", tiny_model_dir, "--ray-address", ray_cluster,
               "--workers", 2, "--batch-size", 8, "--no-progress") == 1
    return out


def test_good_videos_match_halsted_map_and_corrupt_is_recorded(archive, folder, tiny_model_dir, tmp_path):
    videos = records(archive).set_index("path")
    assert len(videos) == 4
    bad = videos.loc[os.path.join(folder, "broken.mp4")]
    assert bad["status"] == "failed" and "not a video" in bad["error"] and "\n" not in bad["error"]
    rows = segments(archive)
    for name in ("case0", "case1", "case2"):
        path = os.path.join(folder, f"{name}.mp4")
        v = videos.loc[path]
        assert v["status"] == "ok" and v["attempts"] == 1 and v["duration_s"] > 0
        assert v["model_id"].startswith(os.path.basename(tiny_model_dir) + "@")
        json_out, csv_out = tmp_path / f"{name}.json", tmp_path / f"{name}.csv"
        assert cli("map", path, "--mapping", "full", "--model", tiny_model_dir, "--batch-size", 8,
                   "--out", json_out, "--csv", csv_out, "--no-progress") == 0
        digest = content_hash(path)
        assert v["content_hash"] == digest
        with open(os.path.join(archive, "timelines", f"{digest}.json"), encoding="utf-8") as f:
            assert_same_timeline(json.load(f), json.loads(json_out.read_text(encoding="utf-8")))
        mine = rows[rows["content_hash"] == digest].sort_values(["stage", "start_s", "task"])
        theirs = pd.read_csv(csv_out)
        assert len(mine) == len(theirs) == v["segments"] > 0
        for col in theirs.columns:  # every column `halsted map --csv` writes, value for value
            a, b = mine[col].reset_index(drop=True), theirs[col]
            if b.dtype.kind == "f":
                pd.testing.assert_series_equal(a.astype(float), b, check_names=False, rtol=1e-5, atol=1e-6)
            else:
                assert a.astype(str).tolist() == b.astype(str).tolist(), col
        extra = [t for t in TAGS if t not in theirs.columns]  # tags this video never got: empty
        assert mine[extra].isna().all().all()
    assert set(rows["video_procedure"].astype(str)) == set(videos["procedure"].dropna())


def test_second_run_does_nothing_new(archive, folder, tiny_model_dir, capsys):
    before = {p: os.stat(p).st_mtime_ns for p in glob.glob(os.path.join(archive, "**", "*.*"), recursive=True)}
    n_rows = len(segments(archive))
    # No --ray-address: nothing to do is found before any Ray is started.
    assert cli("map-archive", folder, "--out", archive, "--model", tiny_model_dir, "--no-progress") == 1
    line = capsys.readouterr().out
    assert "0 mapped, 0 failed, 3 already done, 1 failed before" in line
    after = {p: os.stat(p).st_mtime_ns for p in glob.glob(os.path.join(archive, "**", "*.*"), recursive=True)}
    assert after == before and len(segments(archive)) == n_rows and len(records(archive)) == 4


def test_killed_run_resumes_without_duplicates(ray_cluster, tiny_model_dir, tmp_path):
    src = tmp_path / "more"
    src.mkdir()
    for i, seconds in enumerate((3, 4, 5, 6)):
        make_video(src / f"v{i}.mp4", seconds, size="96x72", rate=8)
    out = str(tmp_path / "out")
    cmd = [sys.executable, "-m", "halsted_hf.cli", "map-archive", str(src), "--out", out, "--model", tiny_model_dir,
           "--ray-address", ray_cluster, "--workers", "1", "--batch-size", "8", "--no-progress"]
    driver = subprocess.Popen(cmd, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 240
        while not glob.glob(os.path.join(out, "records", "*.parquet")):
            assert driver.poll() is None, "the driver ended before it committed a video"
            assert time.monotonic() < deadline, "no video committed in time"
            time.sleep(0.05)
        driver.send_signal(signal.SIGKILL)  # no clean-up of any kind: as a power cut or an OOM kill
        driver.wait(timeout=30)
    finally:
        if driver.poll() is None:
            driver.kill()
    committed = len(glob.glob(os.path.join(out, "records", "*.parquet")))
    assert 1 <= committed < 4  # killed midway
    assert cli("map-archive", src, "--out", out, "--model", tiny_model_dir, "--ray-address", ray_cluster,
               "--batch-size", 8, "--no-progress") == 0
    videos = records(out)
    assert len(videos) == 4 and videos["content_hash"].is_unique and (videos["status"] == "ok").all()
    rows = segments(out)
    for digest, n in videos.set_index("content_hash")["segments"].items():
        with open(os.path.join(out, "timelines", f"{digest}.json"), encoding="utf-8") as f:
            assert len(json.load(f)["segments"]) == n == (rows["content_hash"] == digest).sum()
    assert not rows.duplicated(["content_hash", "stage", "task", "start_s"]).any()
    assert not glob.glob(os.path.join(out, "**", ".tmp-*"), recursive=True)


def test_embedded_default_starts_its_own_ray(archive, folder, tiny_model_dir, tmp_path):
    one = tmp_path / "one"
    one.mkdir()
    os.link(os.path.join(folder, "case1.mp4"), one / "case1.mp4")
    out = str(tmp_path / "out")
    assert cli("map-archive", one, "--out", out, "--model", tiny_model_dir, "--batch-size", 8, "--no-progress") == 0
    digest = content_hash(str(one / "case1.mp4"))
    assert records(out)["status"].tolist() == ["ok"]
    with open(os.path.join(out, "timelines", f"{digest}.json")) as a, \
            open(os.path.join(archive, "timelines", f"{digest}.json")) as b:
        assert_same_timeline(json.load(a), json.load(b))


def test_archive_summary_tables(archive, capsys):
    assert cli("archive-summary", archive) == 0
    printed = capsys.readouterr().out
    assert "== step_time ==" in printed and "== proficiency ==" in printed
    videos, rows = records(archive), segments(archive)
    ok = videos[videos["status"] == "ok"]
    status = pd.read_parquet(os.path.join(archive, "summary", "status.parquet")).set_index("status")
    assert status.loc["ok", "videos"] == 3 and status.loc["failed", "videos"] == 1
    procs = pd.read_parquet(os.path.join(archive, "summary", "procedures.parquet"))
    assert procs["videos"].sum() == 3 and procs["stitches"].sum() == ok["stitches"].sum()
    steps = pd.read_parquet(os.path.join(archive, "summary", "step_time.parquet"))
    stage1 = rows[(rows["stage"] == 1) & rows["step"].notna()]
    assert steps["total_s"].sum() == pytest.approx(stage1["duration_s"].sum())
    assert steps.groupby("procedure")["share"].sum().tolist() == pytest.approx([1.0] * steps["procedure"].nunique())
    phases = pd.read_parquet(os.path.join(archive, "summary", "phase_time.parquet"))
    assert phases["total_s"].sum() == pytest.approx(rows.loc[rows["phase"].notna(), "duration_s"].sum())
    prof = pd.read_parquet(os.path.join(archive, "summary", "proficiency.parquet"))
    assert set(prof["proficiency"]) == {"high", "low"}
    assert prof["stitches"].sum() == ok["stitches_with_proficiency"].sum()


def test_bad_input_is_one_line_exit_2(tmp_path, tiny_model_dir, capsys):
    assert cli("map-archive", tmp_path / "nowhere", "--out", tmp_path / "o", "--model", tiny_model_dir) == 2
    assert "no such folder, file list or file" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert cli("map-archive", tmp_path / "empty", "--out", tmp_path / "o", "--model", tiny_model_dir) == 2
    assert "no videos found" in capsys.readouterr().err
    assert cli("archive-summary", tmp_path / "empty") == 2
    assert "not a Halsted archive" in capsys.readouterr().err


def test_archive_refuses_another_model(archive, folder, tmp_path, capsys):
    from halsted_hf.model.hub import build_model, save_hub_layout

    other = str(tmp_path / "other-model")
    save_hub_layout(*build_model("tiny", seed=1), other)
    assert cli("map-archive", folder, "--out", archive, "--model", other, "--no-progress") == 2
    assert "give another --out folder" in capsys.readouterr().err


def test_sources_and_fixed_tag_schema(folder, tmp_path):
    from halsted_hf.model.taxonomy import HALSTED_TAXONOMY

    assert list(TAGS) == list(HALSTED_TAXONOMY.all_tags)  # the segment table's columns follow the taxonomy
    every = list_videos(folder)
    assert len(every) == 4 and every == sorted(every)
    listing = tmp_path / "list.txt"
    listing.write_text(f"# two of them\n{every[0]}\n\n{every[1]}\n")
    assert list_videos(str(listing)) == every[:2]
    assert list_videos(os.path.join(folder, "case*.mp4")) == [
        p for p in every if os.path.basename(p).startswith("case")]


def test_platform_worker_maps_jobs_on_ray(ray_cluster, folder, tiny_model_dir, tmp_path):
    """HALSTED_RAY_ADDRESS: the dashboard worker's backend hands each job to an actor on the cluster."""
    import ray

    from halsted_hf.core.errors import HalstedError
    from halsted_hf.mapping.workflow import map_video
    from halsted_hf.platform.errors import BackendError
    from halsted_hf.platform.inference import get_backend
    from halsted_hf.platform.settings import Settings

    settings = Settings.from_env({"HALSTED_RAY_ADDRESS": ray_cluster}, data_dir=tmp_path, model=tiny_model_dir)
    backend = get_backend(settings)
    assert type(backend).__name__ == "RayBackend"
    path = os.path.join(folder, "case0.mp4")
    calls = []
    try:
        tl = backend.map_video(path, "suturing", progress=lambda d, t: calls.append((d, t)))
        with pytest.raises(HalstedError, match="not a video") as err:
            backend.map_video(os.path.join(folder, "broken.mp4"), "full")
        assert not isinstance(err.value, BackendError)  # bad content: the job must not be retried
    finally:
        ray.shutdown()
    assert calls[-1] == (1, 1) and tl.workflow == "suturing"
    assert_same_timeline(tl.to_dict(), map_video(path, mapping="suturing", model=tiny_model_dir).to_dict())
