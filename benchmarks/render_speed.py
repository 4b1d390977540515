"""How fast synthetic surgery renders: seconds of video per wall second on this machine.

    .venv/bin/python benchmarks/render_speed.py                 # 12 videos x 5 min, 160x120 @ 8 fps
    .venv/bin/python benchmarks/render_speed.py --videos 2 --minutes 1 --size 224x224

Reports (1) one process drawing frames only (no encoding), (2) one process drawing + H.264 encoding,
(3) the whole `render_atlas` with one worker per core, and checks the budget: a 12-video, 5-minute
atlas must render in well under 15 minutes. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from halsted_hf.data.synthetic import VideoRenderer, plan_atlas, render_atlas, render_video  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=12)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--size", default="160x120")
    parser.add_argument("--fps", type=float, default=8.0)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--budget-s", type=float, default=15 * 60, help="fail (exit 1) above this wall time")
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    result = {"machine": f"{platform.machine()}, {os.cpu_count()} cores", "size": args.size, "fps": args.fps,
              "videos": args.videos, "minutes": args.minutes}

    # (1) and (2): one process, one 1-minute video
    script = plan_atlas(1, 1.0, seed=123, fps=args.fps)[0]
    t0 = time.perf_counter()
    renderer = VideoRenderer(script, size)
    for _ in renderer.frames():
        pass
    draw_s = time.perf_counter() - t0
    result["draw_only_frames_per_s"] = round(script.n_frames / draw_s, 1)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        render_video(script, os.path.join(tmp, "one.mp4"), size=size)
        enc_s = time.perf_counter() - t0
    result["one_process_video_s_per_s"] = round(script.duration_s / enc_s, 2)

    # (3) the whole atlas, one worker per core
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        render_atlas(tmp, args.videos, args.minutes, seed=0, size=size, fps=args.fps, workers=args.workers)
        wall = time.perf_counter() - t0
    video_s = args.videos * args.minutes * 60
    result["atlas_wall_s"] = round(wall, 1)
    result["atlas_video_s_per_s"] = round(video_s / wall, 2)
    result["budget_s"] = args.budget_s
    result["within_budget"] = wall < args.budget_s
    print(json.dumps(result, indent=1))
    return 0 if result["within_budget"] else 1


if __name__ == "__main__":
    sys.exit(main())
