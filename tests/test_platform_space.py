"""SpaceBackend against a real Gradio server on loopback that speaks the Space's `/map_video`
contract (video file, mapping) -> Timeline JSON; remote errors become clear, retryable messages."""

from __future__ import annotations

import os
import socket
import time

import pytest

from halsted_hf.platform import BackendError, Settings
from halsted_hf.platform.errors import JobCancelled
from halsted_hf.platform.inference import LocalBackend, SpaceBackend, explain_remote_error, get_backend

from helpers import make_timeline

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def space_url():
    import gradio as gr  # the "space" extra, installed by `make install`
    seen = []

    def map_video(video, mapping, progress=gr.Progress()):
        if not video or not os.path.getsize(video):
            raise gr.Error("No video received: upload a video file.")
        if mapping == "procedure":
            raise gr.Error("You have exceeded your GPU quota (60s requested vs. 0s left).")
        if mapping == "dissection":
            raise gr.Error("not a video that can be decoded")
        steps = 20 if mapping == "full" else 3  # full: 3 s, long enough to cancel
        for i in range(steps):
            progress((i, steps), desc="mapping")
            time.sleep(0.15)
        seen.append((os.path.getsize(video), mapping))
        return make_timeline(workflow=mapping).to_dict()

    with gr.Blocks() as demo:
        video, mapping, out = gr.File(), gr.Textbox(), gr.JSON()
        gr.Button().click(map_video, [video, mapping], out, api_name="map_video")
    port = free_port()
    demo.queue().launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    yield f"http://127.0.0.1:{port}/", seen
    demo.close()


def test_space_backend_returns_the_timeline_with_progress(space_url, videos):
    url, seen = space_url
    calls = []
    timeline = SpaceBackend(url, poll_s=0.05).map_video(str(videos["a"]), "suturing",
                                                        progress=lambda d, t: calls.append((d, t)))
    assert timeline.to_json() == make_timeline(workflow="suturing").to_json()
    assert seen[-1] == (videos["a"].stat().st_size, "suturing")  # the file itself reached the server
    assert calls and all(t == 3 for _, t in calls)


@pytest.mark.parametrize("mapping, expected, retryable", [
    ("procedure", "used up its GPU quota", True),
    ("dissection", "refused the video: not a video that can be decoded", False),
])
def test_remote_errors_become_clear_messages(space_url, videos, mapping, expected, retryable):
    with pytest.raises(BackendError, match=expected) as info:
        SpaceBackend(space_url[0], poll_s=0.05).map_video(str(videos["a"]), mapping)
    assert info.value.retryable is retryable


def test_cancel_stops_waiting_for_the_space(space_url, videos):
    started = time.monotonic()
    with pytest.raises(JobCancelled):
        SpaceBackend(space_url[0], poll_s=0.05).map_video(str(videos["a"]), "full",
                                                          cancel=lambda: time.monotonic() - started > 0.3)
    assert time.monotonic() - started < 2.0  # well before the 3 s the Space needs


def test_unreachable_space_is_a_retryable_clear_error(videos):
    url = f"http://127.0.0.1:{free_port()}/"
    with pytest.raises(BackendError, match="Cannot reach the Space") as info:
        SpaceBackend(url).map_video(str(videos["a"]), "suturing")
    assert info.value.retryable and url in str(info.value)


@pytest.mark.parametrize("error, expected, retryable", [
    (ValueError("The current space is in the invalid state: PAUSED. Please contact the owner to fix this."),
     "paused by its owner", False),
    (ValueError("Could not find Space: org/nope."), "check HALSTED_SPACE", False),
    (TimeoutError("read timed out"), "did not answer in time", True),
    (RuntimeError("503 Service Unavailable: Space is sleeping"), "asleep or starting up", True),
])
def test_explain_remote_error(error, expected, retryable):
    err = explain_remote_error(error, "org/halsted")
    assert expected in str(err) and "org/halsted" in str(err) and err.retryable is retryable


def test_get_backend_follows_settings(tmp_path):
    assert isinstance(get_backend(Settings(data_dir=tmp_path, model="/m")), LocalBackend)
    backend = get_backend(Settings(data_dir=tmp_path, space="org/halsted"))
    assert isinstance(backend, SpaceBackend) and backend.space == "org/halsted"
