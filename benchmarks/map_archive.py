"""Benchmark `halsted map-archive`: the same synthetic videos mapped with 1 and with 2 Ray workers, against
plain mapping (`map_video` in a loop, model loaded once: the floor) and one `halsted map` process.

    python benchmarks/map_archive.py                      # 20 videos of 20 s, 160x120 at 8 fps, tiny model
    python benchmarks/map_archive.py --videos 40 --seconds 60 --model DIR

Prints one JSON line: per run the wall time, videos per minute and hours of video per hour; the
speed-up of 2 workers over 1; the overhead per video of the archive (its wall time per video minus
plain mapping's, both including everything: Ray start, actor start, hashing, Parquet writes).
Each archive run starts its own local Ray (the embedded default), as a user's first run would.
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


def make_videos(folder: str, n: int, seconds: float) -> list:
    from halsted_hf.video.writer import ffmpeg_exe

    paths = []
    for i in range(n):
        path = os.path.join(folder, f"case{i:03d}.mp4")
        # a different test pattern offset per video: distinct content, distinct hashes
        subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                        f"testsrc2=size=160x120:rate=8:duration={seconds + i * 0.125}", "-c:v", "libx264",
                        "-pix_fmt", "yuv420p", path], check=True)
        paths.append(path)
    return paths


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--videos", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=20.0, help="length of each video")
    ap.add_argument("--model", default=None, help="model folder (default: a random tiny model)")
    ap.add_argument("--mapping", default="full")
    ap.add_argument("--workers", default="1,2", help="worker counts to run (default: 1,2)")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from halsted_hf.archive import map_archive
    from halsted_hf.mapping.workflow import map_video

    tmp = tempfile.mkdtemp(prefix="bench-archive-")
    model = args.model
    if model is None:
        from halsted_hf.model.hub import build_model, save_hub_layout
        model = os.path.join(tmp, "tiny-model")
        save_hub_layout(*build_model("tiny", seed=0), model)
    src = os.path.join(tmp, "videos")
    os.makedirs(src)
    paths = make_videos(src, args.videos, args.seconds)

    t0 = time.perf_counter()
    video_s = 0.0
    for p in paths:  # the floor: one process, model loaded once (first call), no Ray, no writes
        video_s += map_video(p, mapping=args.mapping, model=model).duration_s
    plain_s = time.perf_counter() - t0

    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [os.getcwd(), os.environ.get("PYTHONPATH")])))
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "halsted_hf.cli", "map", paths[0], "--mapping", args.mapping, "--model",
                    model, "--out", os.path.join(tmp, "one.json"), "--no-progress"], check=True, env=env,
                   stdout=subprocess.DEVNULL)
    cli_one_s = time.perf_counter() - t0

    runs = {}
    for w in (int(x) for x in args.workers.split(",")):
        t0 = time.perf_counter()
        run = map_archive(src, os.path.join(tmp, f"out-{w}"), mapping=args.mapping, model=model, workers=w)
        wall = time.perf_counter() - t0
        assert run.done == len(paths), run
        runs[w] = {"wall_s": round(wall, 1), "videos_per_min": round(60 * len(paths) / wall, 1),
                   "video_h_per_h": round(run.video_s / wall, 1),
                   "overhead_per_video_s": round((wall - plain_s) / len(paths), 2)}
    record = {"benchmark": "map_archive", "videos": len(paths), "video_s": round(video_s, 1),
              "mapping": args.mapping, "model": "tiny (random)" if args.model is None else args.model,
              "plain_map_video_loop_s": round(plain_s, 1),
              "plain_per_video_s": round(plain_s / len(paths), 2),
              "halsted_map_one_process_s": round(cli_one_s, 1), "archive": runs}
    if 1 in runs and 2 in runs:
        record["speedup_2_vs_1"] = round(runs[1]["wall_s"] / runs[2]["wall_s"], 2)
    emit(record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
