"""Synthetic surgery with exact ground truth: `plan_atlas` (cheap scripts), `render_atlas` (videos,
timelines, atlas table). See script.py for what happens when, render.py for how it looks."""

from .build import DEFAULT_FPS, DEFAULT_SIZE, render_atlas, render_videos
from .render import VideoRenderer, render_video
from .script import SYNTH_VERSION, VideoScript, coverage, missing_categories, plan_atlas

__all__ = ["DEFAULT_FPS", "DEFAULT_SIZE", "SYNTH_VERSION", "VideoRenderer", "VideoScript", "coverage",
           "missing_categories", "plan_atlas", "render_atlas", "render_video", "render_videos"]
