"""The demo account: a library that already holds a mapped synthetic procedure.

`halsted serve` calls `seed_demo` on start. It is idempotent: the synthetic video is rendered
deterministically (same script, same bytes, same content hash), so a second start finds the
video already stored (per-surgeon dedupe) and its result already there, and does nothing.

The procedure goes through the same path as a surgeon's upload: rendered to an MP4 by
halsted_hf.data.synthetic, stored by `SurgeonSession.upload_video`, queued as a mapping job, and
mapped by the worker (`halsted worker`, or `map_now=True` here: the same `Worker` class in-process).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from . import storage

DEMO_EMAIL = "demo@halsted.example"
DEMO_NAME = "Demo Surgeon"
DEMO_PASSWORD = "halsted-demo"  # a local demo account; the sign-in page prints it
DEMO_FILENAME = "demo-synthetic-procedure.mp4"
DEMO_MAPPING = "full"
DEMO_MINUTES = 1.5  # long enough for stage 1 (30 s windows) to see several steps, short to map on CPU
DEMO_SEED = 2024


@dataclass(frozen=True)
class DemoState:
    surgeon_id: int
    video_id: int
    job_id: Optional[int]  # the mapping job (None when the model is missing and nothing was queued)
    result_id: Optional[int]  # set once mapped
    message: str  # what happened, for the console


def model_available(settings) -> bool:
    """True when mapping can run: a Space is configured, or the model folder exists (a Hub id is
    trusted; loading it later reports its own error)."""
    if settings.space:
        return True
    model = str(settings.model)
    if os.path.isdir(model):
        return os.path.exists(os.path.join(model, "config.json"))
    return model.count("/") == 1 and not model.startswith((".", "/", "~"))


def render_demo_video(path: Path, minutes: float = DEMO_MINUTES, seed: int = DEMO_SEED) -> Path:
    """Render the demo procedure (160x120, 8 fps H.264) to `path`; deterministic in its arguments."""
    from halsted_hf.data.synthetic import plan_atlas, render_video

    script = plan_atlas(1, minutes, seed)[0]
    render_video(script, str(path))
    return path


def seed_demo(platform, map_now: bool = False, minutes: float = DEMO_MINUTES,
              log: Callable[[str], None] = print) -> DemoState:
    """Make sure the demo account exists and holds the mapped demo procedure.

    Queues the mapping job for the worker; with `map_now`, maps it here before returning (tests,
    or a start without a worker). When the model is missing, the video is stored but not queued
    and `message` says how to fix it; the next start maps it."""
    me = platform.ensure_account(DEMO_EMAIL, DEMO_NAME, DEMO_PASSWORD)
    video = next((v for v in me.list_videos() if v.original_filename == DEMO_FILENAME), None)
    if video is None:
        tmp_dir = platform.settings.tmp_dir
        tmp_dir.mkdir(parents=True, exist_ok=True)
        rendered = tmp_dir / f"demo-{os.getpid()}.mp4"
        try:
            log(f"rendering the demo procedure ({minutes:g} min of synthetic surgery)...")
            render_demo_video(rendered, minutes)
            # synthetic surgery shows no one and carries no names: stored as it is (no classifier to build first)
            plain = dataclasses.replace(platform.settings, deidentify=False)
            video = storage.store_upload(plain, platform.Session, me.id, rendered, DEMO_FILENAME)
        finally:
            rendered.unlink(missing_ok=True)

    result = me.latest_result(video.id, DEMO_MAPPING)
    if result is not None:
        return DemoState(me.id, video.id, result.job_id, result.id, "the demo account is ready")
    if not model_available(platform.settings):
        return DemoState(me.id, video.id, None, None,
                         f"the model {platform.settings.model} is missing, so the demo procedure is not mapped yet: "
                         "install or train it (or set HALSTED_MODEL to a model folder), then start again")

    active = me.list_jobs(video.id, status=("queued", "running"))
    job = active[0] if active else me.enqueue_job(video.id, DEMO_MAPPING)
    if not map_now:
        return DemoState(me.id, video.id, job.id, None, f"the demo procedure is queued for mapping (job {job.id})")

    from .worker import Worker

    worker = Worker(platform, poll_s=0.5, log=log)
    while me.get_job(job.id).active:
        if worker.run_one() is None:  # another worker holds it: wait for that one
            worker.stop.wait(0.5)
            worker.requeue_stale()
    final = me.get_job(job.id)
    result = me.latest_result(video.id, DEMO_MAPPING)
    if result is None:
        return DemoState(me.id, video.id, job.id, None, f"mapping the demo procedure {final.status}: {final.error}")
    return DemoState(me.id, video.id, job.id, result.id, "the demo procedure is mapped")
