"""Inference backends: who turns a video into a Timeline for the worker.

Both have one method, `map_video(path, mapping, progress, cancel) -> Timeline`, where
`progress(done, total)` reports windows mapped and `cancel()` returning True asks to stop.

- LocalBackend: the model in the worker's own process (halsted_hf.mapping.workflow.map_video).
- SpaceBackend: a Hugging Face Space (or any URL) running space/app.py, through gradio_client;
  its `/map_video` endpoint takes (video file, mapping) and returns the Timeline JSON. Remote
  failures (asleep, paused, quota, timeout, unreachable) become a BackendError whose message
  says what happened and whether retrying the job can help.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Callable, Optional

from ..core.errors import HalstedError
from .errors import BackendError, JobCancelled

Progress = Callable[[int, int], None]
Cancel = Callable[[], bool]


def _never() -> bool:
    return False


def _ignore(done: int, total: int) -> None:
    pass


def timeline_from(obj: Any):
    """A Timeline from what a backend returned: a Timeline, a dict, JSON text, or a JSON file."""
    from halsted_hf.mapping.timeline import Timeline

    if isinstance(obj, Timeline):
        return obj
    if isinstance(obj, (list, tuple)) and len(obj) == 1:
        obj = obj[0]
    if isinstance(obj, (str, os.PathLike)) and not str(obj).lstrip().startswith("{") and Path(obj).is_file():
        obj = Path(obj).read_text(encoding="utf-8")
    if isinstance(obj, dict):
        obj = json.dumps(obj)
    if not isinstance(obj, str):
        raise BackendError(f"The mapping service returned {type(obj).__name__}, not a Timeline: check that "
                           "it runs this version of space/app.py.", retryable=False)
    return Timeline.from_json(obj)


class LocalBackend:
    """Map in this process with the model at `model` (a directory or Hub id), loaded once per backend
    (the workflow's `load_model`) so a worker does not reload weights for every job."""

    name = "local"

    def __init__(self, model: str):
        self.model = model
        self._loaded: Any = None

    def _model(self):
        if self._loaded is None:
            from halsted_hf.mapping.workflow import load_model

            self._loaded = load_model(self.model)
        return self._loaded

    def map_video(self, path: str, mapping: str, progress: Progress = _ignore, cancel: Cancel = _never):
        from halsted_hf.mapping.workflow import map_video

        return map_video(str(path), mapping=mapping, model=self._model(), progress=progress, cancel=cancel)

    def __repr__(self) -> str:
        return f"LocalBackend(model={self.model!r})"


def explain_remote_error(err: BaseException, space: str) -> BackendError:
    """Turn whatever gradio_client or the network raised into a message a surgeon can act on."""
    text = str(getattr(err, "message", "") or err)
    low = text.lower()
    name = type(err).__name__
    if isinstance(err, BackendError):
        return err
    if "quota" in low or "zerogpu" in low or "gpu task aborted" in low:
        return BackendError(f"The Space {space} has used up its GPU quota ({text}): retry the job later, or "
                            "set HF_TOKEN to a logged-in account with more quota.")
    if "paused" in low:
        return BackendError(f"The Space {space} is paused by its owner: restart it on huggingface.co "
                            "or unset HALSTED_SPACE to map locally.", retryable=False)
    if "sleep" in low or "503" in low or "building" in low or "starting" in low:
        return BackendError(f"The Space {space} is asleep or starting up: it wakes on request, so retry "
                            "the job in a minute or two.")
    if "could not find space" in low or "404" in low or "invalid state" in low:
        return BackendError(f"The Space {space} cannot be used ({text}): check HALSTED_SPACE (owner/name or "
                            "URL) and that the Space runs.", retryable=False)
    if isinstance(err, TimeoutError) or "timeout" in name.lower() or "timed out" in low:
        return BackendError(f"The Space {space} did not answer in time: retry the job, or map a shorter video.")
    if name in ("TooManyRequestsError", "QueueError") or "429" in low or "queue is full" in low:
        return BackendError(f"The Space {space} is busy ({text or name}): retry the job in a few minutes.")
    if isinstance(err, (ConnectionError, OSError)) or "connect" in name.lower() or "connect" in low:
        return BackendError(f"Cannot reach the Space {space} ({text or name}): check the network and "
                            "HALSTED_SPACE, then retry the job.")
    if name == "AppError":
        # The app itself refused the input (not a video, unknown mapping): retrying won't help.
        return BackendError(f"The Space {space} refused the video: {text}", retryable=False)
    return BackendError(f"The Space {space} failed ({name}: {text}): retry the job; if it fails again, "
                        "check the Space's logs.")


class SpaceBackend:
    """Map on a remote Space. `space` is an "owner/name" Space id or an http(s) URL."""

    name = "space"

    def __init__(self, space: str, token: Optional[str] = None, timeout_s: float = 4 * 3600, poll_s: float = 0.5):
        self.space = space
        self.token = token or os.environ.get("HF_TOKEN") or None  # an empty token would send "Bearer "
        self.timeout_s = timeout_s
        self.poll_s = poll_s
        self._client = None

    def client(self):
        if self._client is None:
            try:
                from gradio_client import Client
            except ImportError as err:  # the "app" extra is not installed
                raise BackendError("gradio_client is not installed: pip install gradio_client, or unset "
                                   "HALSTED_SPACE to map locally.", retryable=False) from err
            try:
                self._client = Client(self.space, token=self.token, verbose=False, analytics_enabled=False)
            except Exception as err:  # noqa: BLE001 - every failure becomes a clear message
                raise explain_remote_error(err, self.space) from err
        return self._client

    def map_video(self, path: str, mapping: str, progress: Progress = _ignore, cancel: Cancel = _never):
        from gradio_client import handle_file

        client = self.client()
        try:
            job = client.submit(handle_file(str(path)), mapping, api_name="/map_video")
        except Exception as err:  # noqa: BLE001
            raise explain_remote_error(err, self.space) from err
        deadline = time.monotonic() + self.timeout_s
        last = None
        while not job.done():
            if cancel():
                job.cancel()
                raise JobCancelled("cancelled while the Space was mapping")
            if time.monotonic() > deadline:
                job.cancel()
                raise BackendError(f"The Space {self.space} took longer than {self.timeout_s / 60:.0f} minutes: "
                                   "retry the job, or map a shorter video.")
            units = getattr(job.status(), "progress_data", None) or []
            unit = units[-1] if units else None
            if unit is not None and unit.length and (unit.index, unit.length) != last:
                last = (unit.index, unit.length)
                progress(int(unit.index or 0), int(unit.length))
            time.sleep(self.poll_s)
        try:
            out = job.result()
        except Exception as err:  # noqa: BLE001
            raise explain_remote_error(err, self.space) from err
        try:
            return timeline_from(out)
        except HalstedError:
            raise
        except Exception as err:  # noqa: BLE001 - malformed JSON from a wrong app version
            raise BackendError(f"The Space {self.space} returned something that is not a Timeline ({err}): "
                               "check that it runs this version of space/app.py.", retryable=False) from err

    def __repr__(self) -> str:
        return f"SpaceBackend(space={self.space!r})"


def get_backend(settings):
    """SpaceBackend when settings.space (HALSTED_SPACE) is set, else RayBackend when settings.ray_address
    (HALSTED_RAY_ADDRESS) is, else LocalBackend(settings.model)."""
    if settings.space:
        return SpaceBackend(settings.space)
    if settings.ray_address:
        from .ray_backend import RayBackend
        return RayBackend(settings.ray_address, settings.model)
    return LocalBackend(settings.model)
