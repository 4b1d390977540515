"""Decoding speed of the video layer: frames/s for sequential and parallel (chunked) decoding.

    .venv/bin/python benchmarks/decode_speed.py --minutes 2            # makes a 720p30 H.264 video
    .venv/bin/python benchmarks/decode_speed.py --video case.mp4        # or measures yours

Prints one JSON line: machine (with its load: other jobs on the cores slow every wall-clock number),
date, versions, the video, and for each way of decoding the wall time, frames/s (frames of the video
per second of wall time; `decoded_fps` also counts the frames a chunked decoder decodes twice after
its seeks) and frames per CPU second (the per-core speed, which the load barely changes). Stage-1 plan: 30 s
windows, 16 frames of 224 x 224.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av

from halsted_hf.video import default_workers, iter_windows, parallel_iter_windows, plan_windows, probe_video


def cpu_seconds() -> float:
    """CPU time of this process (all threads) and of its finished children (ffmpeg, pool workers):
    frames per CPU second stays meaningful when other jobs share the cores and wall time does not."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def timed(fn):
    """(result of fn(), wall seconds, CPU seconds)."""
    c0, t0 = cpu_seconds(), time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0, cpu_seconds() - c0


def make_video(path: Path, minutes: float, height: int, fps: int, bitrate: str) -> None:
    """Synthetic H.264 at a surgical-video bitrate: moving test pattern plus temporal noise, so the
    encoder cannot shrink it to nothing (decode cost grows with bitrate)."""
    width = height * 16 // 9 // 2 * 2
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi",
         "-i", f"testsrc2=size={width}x{height}:rate={fps}:duration={minutes * 60}",
         "-vf", "noise=alls=12:allf=t", "-c:v", "libx264", "-preset", "veryfast",
         "-b:v", bitrate, "-maxrate", bitrate, "-bufsize", "16M", "-pix_fmt", "yuv420p", str(path)],
        check=True,
    )


def raw_pyav(path: Path, threads: int) -> dict:
    """Every frame decoded, none converted: the decoder's own speed."""

    def run() -> int:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "NONE" if threads == 1 else "AUTO"
            return sum(1 for _ in container.decode(stream))

    n, wall, cpu = timed(run)
    return {"frames": n, "wall_s": round(wall, 2), "fps": round(n / wall, 1), "fps_per_cpu_s": round(n / cpu, 1)}


def raw_ffmpeg(path: Path, threads: int, frames: int) -> dict:
    """The ffmpeg CLI decoding to nowhere, for the PyAV-or-subprocess choice."""
    cmd = ["ffmpeg", "-v", "error", "-threads", str(threads), "-i", str(path), "-f", "null", "-"]
    _, wall, cpu = timed(lambda: subprocess.run(cmd, check=True))
    return {"wall_s": round(wall, 2), "fps": round(frames / wall, 1), "fps_per_cpu_s": round(frames / cpu, 1)}


def windows_run(it, frames_in_video: int) -> dict:
    n, wall, cpu = timed(lambda: sum(1 for _ in it))
    cpu += getattr(it, "worker_cpu_s", 0.0)  # the parallel decoder's workers report their own
    return {
        "windows": n,
        "wall_s": round(wall, 2),
        "fps": round(frames_in_video / wall, 1),
        "decoded_fps": round(it.frames_decoded / wall, 1),
        "fps_per_cpu_s": round(frames_in_video / cpu, 1),
        "frames_decoded": it.frames_decoded,
    }


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, help="measure this file instead of making one")
    parser.add_argument("--minutes", type=float, default=2.0)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--bitrate", default="8M")
    parser.add_argument("--workers", type=int, default=default_workers())
    parser.add_argument("--window-s", type=float, default=30.0)
    parser.add_argument("--keep", type=Path, help="keep the generated video here (reused if present)")
    parser.add_argument("--modes", default="raw,ffmpeg,sequential,parallel", help="comma-separated subset to run")
    args = parser.parse_args()

    tmp = None
    path = args.video or args.keep
    if path is None:
        tmp = tempfile.TemporaryDirectory()
        path = Path(tmp.name) / "bench.mp4"
    if args.video is None and not path.exists():
        t0 = time.perf_counter()
        make_video(path, args.minutes, args.height, args.fps, args.bitrate)
        print(f"made {path} in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    try:
        info = probe_video(path)
        plan = plan_windows(info.duration_s, args.window_s)
        modes = set(args.modes.split(","))
        results = {}
        if "raw" in modes:
            results["pyav_raw_1thread"] = raw_pyav(path, 1)
            results["pyav_raw_threads"] = raw_pyav(path, 0)
        if "ffmpeg" in modes and shutil.which("ffmpeg"):
            results["ffmpeg_cli_1thread"] = raw_ffmpeg(path, 1, info.num_frames)
            results["ffmpeg_cli_threads"] = raw_ffmpeg(path, 0, info.num_frames)
        if "sequential" in modes:
            results["iter_windows_1thread"] = windows_run(iter_windows(path, plan, threads=1), info.num_frames)
            results["iter_windows_threads"] = windows_run(iter_windows(path, plan), info.num_frames)
        if "parallel" in modes:
            results["parallel_iter_windows"] = windows_run(
                parallel_iter_windows(path, plan, workers=args.workers), info.num_frames
            )
            results["parallel_iter_windows"]["workers"] = args.workers
            # Second call: the forkserver is warm, as in a worker that maps video after video.
            results["parallel_iter_windows_warm"] = windows_run(
                parallel_iter_windows(path, plan, workers=args.workers), info.num_frames
            )
        record = {
            "benchmark": "decode_speed",
            "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "usable_cores": default_workers(),
                        "load_avg_1min": round(os.getloadavg()[0], 2), "platform": platform.platform()},
            "versions": {"python": platform.python_version(), "av": av.__version__,
                         "libavcodec": ".".join(map(str, av.library_versions["libavcodec"]))},
            "video": {"duration_s": info.duration_s, "size": f"{info.width}x{info.height}", "fps": info.fps,
                      "frames": info.num_frames, "codec": info.codec,
                      "mbit_s": round(info.size_bytes * 8 / info.duration_s / 1e6, 2)},
            "plan": {"window_s": args.window_s, "windows": len(plan), "num_frames": 16, "size": [224, 224]},
            "results": results,
        }
        print(json.dumps(record))
    finally:
        if tmp is not None:
            tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
