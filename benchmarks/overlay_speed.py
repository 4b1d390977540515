"""How fast `halsted overlay` draws: frames per wall second, for a generated test video.

    .venv/bin/python benchmarks/overlay_speed.py                     # 60 s, 640x360 @ 30 fps
    .venv/bin/python benchmarks/overlay_speed.py --seconds 30 --size 1280x720

Each frame is decoded, the tag band blended in and the frame encoded at its own timestamp
(TimedVideoWriter, PyAV's libx264). Prints one JSON line with the machine.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import emit  # noqa: E402
from halsted_hf.mapping.overlay import render_overlay  # noqa: E402
from halsted_hf.mapping.segment import Segment
from halsted_hf.mapping.timeline import Timeline  # noqa: E402
from halsted_hf.video import validate_video  # noqa: E402
from halsted_hf.video.writer import ffmpeg_exe  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--size", default="640x360")
    parser.add_argument("--rate", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        video = os.path.join(tmp, "bench.mp4")
        subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                        f"testsrc2=size={args.size}:rate={args.rate}", "-t", str(args.seconds), "-c:v", "libx264",
                        "-pix_fmt", "yuv420p", "-g", str(2 * args.rate), video], check=True)
        info = validate_video(video)
        half = info.duration_s / 2  # two tag sets: the band is rendered twice, blended on every frame
        timeline = Timeline(video={"id": "bench", "duration_s": info.duration_s}, model={"name": "none"},
                            workflow="suturing", segments=[
                                Segment(0.0, half, 1, "macro-activity",
                                        {"procedure": "prostatectomy", "step": "suturing"}),
                                Segment(half, info.duration_s, 1, "macro-activity",
                                        {"procedure": "prostatectomy", "step": "dissection"})])
        walls = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            render_overlay(video, timeline, os.path.join(tmp, "overlay.mp4"))
            walls.append(time.perf_counter() - t0)
    best = min(walls)
    emit({"benchmark": "overlay_speed", "video": f"{args.seconds:g} s {args.size} @ {args.rate} fps",
          "frames": info.num_frames, "wall_s": [round(w, 2) for w in walls],
          "frames_per_s": round(info.num_frames / best, 1), "video_s_per_wall_s": round(info.duration_s / best, 2)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
