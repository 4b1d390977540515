"""The Gradio Space (space/app.py), run for real: launched on loopback in a subprocess with a tiny
model, called with gradio_client (as the dashboard's SpaceBackend does), compared with in-process
mapping by `halsted_hf.map_video` with the same model."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "space" / "app.py"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _make_video(path: Path, seconds: int = 8) -> str:
    from halsted_hf.core.io import ffmpeg_exe

    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i",
                    f"testsrc2=size=96x72:rate=10:duration={seconds}", "-pix_fmt", "yuv420p", "-c:v", "libx264",
                    str(path)], check=True)
    return str(path)


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> str:
    return _make_video(tmp_path_factory.mktemp("space-video") / "case 1.mp4")


@pytest.fixture(scope="module")
def space_url(tiny_model_dir, tmp_path_factory):
    """space/app.py serving on 127.0.0.1:<free port> with HALSTED_MODEL = the tiny model."""
    port = _free_port()
    log = tmp_path_factory.mktemp("space-log") / "app.log"
    env = dict(os.environ, HALSTED_MODEL=tiny_model_dir, GRADIO_SERVER_NAME="127.0.0.1",
               GRADIO_SERVER_PORT=str(port), GRADIO_ANALYTICS_ENABLED="False", HF_HUB_OFFLINE="1",
               PYTHONPATH=str(ROOT))
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, str(APP)], cwd=str(ROOT), env=env, stdout=out,
                                stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180  # start-up renders the synthetic example once (cached in /tmp)
    try:
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"space/app.py exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
            try:
                urllib.request.urlopen(url + "/config", timeout=2).read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError(f"space/app.py did not start:\n{log.read_text()[-3000:]}")
                time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def client(space_url):
    from gradio_client import Client

    return Client(space_url, verbose=False, analytics_enabled=False)


def _content(timeline):
    """What must agree between two runs of one model: spans, stages, tasks, tags (not timings/paths)."""
    return [(round(s.start_s, 3), round(s.end_s, 3), s.stage, s.task, dict(s.tags),
             {k: round(v, 4) for k, v in s.scores.items()})
            for s in sorted(timeline.segments, key=lambda s: (s.stage, s.task, s.start_s))]


@pytest.fixture(scope="module")
def local_timelines(tiny_model_dir, video):
    import halsted_hf

    return {m: halsted_hf.map_video(video, mapping=m, model=tiny_model_dir) for m in ("suturing", "full")}


@pytest.mark.parametrize("mapping", ["suturing", "full"])
def test_space_api_gives_the_same_timeline_as_map_video(client, video, local_timelines, mapping):
    from gradio_client import handle_file

    from halsted_hf.mapping.timeline import Timeline

    text = client.predict(handle_file(video), mapping, api_name="/map_video")
    remote = Timeline.from_json(text)
    local = local_timelines[mapping]
    assert remote.workflow == mapping
    assert remote.segments, "the Space returned an empty timeline"
    assert _content(remote) == _content(local)
    assert remote.model["revision"] == local.model["revision"]
    assert remote.video["duration_s"] == pytest.approx(local.video["duration_s"])


def test_space_backend_against_the_launched_app(space_url, video, local_timelines, monkeypatch):
    from halsted_hf.platform.inference import SpaceBackend

    monkeypatch.delenv("HF_TOKEN", raising=False)  # a loopback app needs none
    seen = []
    backend = SpaceBackend(space_url, poll_s=0.05)
    timeline = backend.map_video(video, "suturing", progress=lambda d, t: seen.append((d, t)))
    assert _content(timeline) == _content(local_timelines["suturing"])
    assert seen and all(0 <= d <= t for d, t in seen)  # gr.api endpoints report progress too


def test_space_api_is_documented_with_two_inputs(client):
    api = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert "/map_video" in api
    assert len(api["/map_video"]["parameters"]) == 2  # (video, mapping): what SpaceBackend sends


def test_the_api_endpoint_is_a_gr_api_function_not_hidden_components(monkeypatch, tiny_model_dir):
    """/map_video is declared with gr.api: its inputs are gradio's bodiless Api components built from
    map_video's type hints, and the page holds no invisible row of stand-in components."""
    app = _load_space(monkeypatch, tiny_model_dir)
    config = app.demo.config
    by_id = {c["id"]: c for c in config["components"]}
    [dep] = [d for d in config["dependencies"] if d.get("api_name") == "map_video"]
    assert [by_id[i]["type"] for i in dep["inputs"]] == ["api", "api"]
    assert [by_id[i]["type"] for i in dep["outputs"]] == ["api"]
    assert not [c for c in config["components"] if c.get("props", {}).get("visible") is False]


@pytest.mark.parametrize("case, expected", [
    ("no file", "No video"),
    ("not a video", "not a video|no video stream|cannot be decoded|Choose the video file"),
    ("unknown mapping", "Unknown mapping 'bogus'"),
])
def test_bad_input_gives_a_clear_error_not_a_traceback(client, video, tmp_path, case, expected):
    import re

    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    if case == "no file":
        args = (None, "suturing")
    elif case == "not a video":
        junk = tmp_path / "notes.mp4"
        junk.write_text("these are operative notes, not a video\n" * 20)
        args = (handle_file(str(junk)), "suturing")
    else:
        args = (handle_file(video), "bogus")
    with pytest.raises(AppError) as info:
        client.predict(*args, api_name="/map_video")
    message = str(info.value)
    assert re.search(expected, message), message
    assert "Traceback" not in message and "File \"" not in message
    assert "/tmp/gradio" not in message  # the upload is named as the user knows it


def test_space_backend_reports_a_refused_video_as_not_retryable(space_url, tmp_path, monkeypatch):
    from halsted_hf.platform.errors import BackendError
    from halsted_hf.platform.inference import SpaceBackend

    monkeypatch.delenv("HF_TOKEN", raising=False)
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00" * 4096)
    with pytest.raises(BackendError) as info:
        SpaceBackend(space_url, poll_s=0.05).map_video(str(junk), "suturing")
    assert "junk.mp4" in str(info.value)
    assert getattr(info.value, "retryable", True) is False


def test_page_handler_builds_figure_table_subtitles_and_json(tiny_model_dir, video, local_timelines, monkeypatch):
    """The page's own handler (not exposed to API clients), run in-process."""
    import importlib.util

    from halsted_hf.mapping.timeline import Timeline

    monkeypatch.setenv("HALSTED_MODEL", tiny_model_dir)
    spec = importlib.util.spec_from_file_location("halsted_space_app", APP)
    app = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app)
    fig, table, video_update, json_path, model_text = app.map_and_show(video, "suturing")
    assert f"`{Path(tiny_model_dir).name}`" in model_text and "trained on" in model_text
    local = local_timelines["suturing"]
    assert _content(Timeline.load(json_path)) == _content(local)
    assert Path(json_path).name == "case 1.timeline.json"
    assert len(table) == len(local.segments)
    # the dashboard's figure (halsted_hf/plots.py): a bar per (segment, tag), each category once in the legend
    from halsted_hf.plots import NOT_MAPPED, category_colour

    bars = [t for t in fig.data if t.type == "bar" and t.name != NOT_MAPPED]
    assert sum(len(t.x) for t in bars) == sum(len(s.tags) for s in local.segments)
    legend = [t.name for t in fig.data if t.showlegend]
    assert len(legend) == len(set(legend)) and all(t.marker.color == category_colour(t.name) for t in bars)
    assert not [c for c in table.columns if c.endswith("_score")]  # confidence in words on the page
    assert Path(video_update.subtitles["path"] if isinstance(video_update.subtitles, dict)
                else video_update.subtitles.path).read_text().startswith("WEBVTT")
    assert app.gpu_seconds(video, "suturing") >= 30
    assert app.gpu_seconds(video, "suturing") < app.gpu_seconds(_make_video(Path(json_path).with_suffix(".mp4"), 600),
                                                                 "suturing")


def _load_space(monkeypatch, model=None):
    import importlib.util

    if model is None:
        monkeypatch.delenv("HALSTED_MODEL", raising=False)
    else:
        monkeypatch.setenv("HALSTED_MODEL", model)
    spec = importlib.util.spec_from_file_location("halsted_space_app", APP)
    app = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app)
    return app


def test_the_space_labels_the_bundled_demo_model_as_synthetic_with_its_card(monkeypatch):
    app = _load_space(monkeypatch)  # no HALSTED_MODEL: the bundled demo model
    assert app.CARD.name == "demo-model" and app.CARD.synthetic
    shown = [str(c.get("props", {}).get("value")) for c in app.demo.config["components"]
             if c.get("type") == "markdown"]
    # the card's held-out accuracy (its exact wording: test_model_card_summary.py), beside the synthetic label
    assert any("Trained on synthetic video, not real surgery" in v and re.search(r"macro-activity \d+%", v)
               for v in shown)
    assert any("Demo checkpoint" in v for v in shown)  # the card itself, in an accordion
