"""The dashboard worker's Ray backend (HALSTED_RAY_ADDRESS): each mapping job runs on a model-holding
actor of a Ray cluster instead of in the worker process, so several dashboard workers, or one, can
share the cluster's machines. Same interface as platform.inference's LocalBackend and SpaceBackend:
`map_video(path, mapping, progress, cancel) -> Timeline`.

The video must be readable at the same path where the actor runs (one machine, or shared storage).
"""

from __future__ import annotations

from typing import Callable, Optional

from ..core.errors import HalstedError


class RayBackend:
    name = "ray"

    def __init__(self, address: str, model: Optional[str] = None, poll_s: float = 0.5):
        self.address, self.model, self.poll_s = address, model, poll_s
        self._actor = None

    def _get_actor(self):
        if self._actor is None:
            from ..archive.run import _ray_env, _start_actors, _start_ray

            _ray_env()
            import ray

            if not ray.is_initialized():
                _start_ray(ray, self.address, 0, False)
            # One actor with one CPU: a dashboard worker takes one job at a time.
            actors, _ = _start_actors(ray, self.model, "full", 1, 0.0, 1.0, 32)
            self._actor = actors[0]
        return self._actor

    def map_video(self, path: str, mapping: str, progress: Callable[[int, int], None] = lambda d, t: None,
                  cancel: Callable[[], bool] = lambda: False):
        import ray

        from ..mapping.timeline import Timeline
        from .errors import BackendError, JobCancelled

        ref = self._get_actor().map.remote(str(path), "", mapping)
        progress(0, 1)  # an actor maps a video in one call: no window-level progress crosses the cluster
        while True:
            ready, _ = ray.wait([ref], timeout=self.poll_s)
            if ready:
                break
            if cancel():
                ray.cancel(ref)
                raise JobCancelled("cancelled while the Ray cluster was mapping")
        try:
            result = ray.get(ref)
        except ray.exceptions.RayError as err:
            self._actor = None  # a dead actor: the next job starts another
            raise BackendError(f"the Ray worker failed mapping this video: "
                               f"{' '.join(str(err).split())[:300]}") from err
        record = result["record"]
        if record["status"] != "ok":
            if record.get("retryable"):
                raise BackendError(record["error"])
            raise HalstedError(record["error"])  # the video itself is at fault: retrying cannot help
        progress(1, 1)
        return Timeline.from_json(result["timeline_json"])

    def __repr__(self) -> str:
        return f"RayBackend(address={self.address!r}, model={self.model!r})"
