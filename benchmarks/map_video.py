"""Benchmark `map_video`: wall time of a mapping split into decode, encoder and decoder.

    python benchmarks/map_video.py --minutes 60                      # makes a 1-hour 720p30 H.264 video
    python benchmarks/map_video.py --video case.mp4 --model DIR --device cuda --dtype bfloat16

Prints one JSON line: machine, date, video, model, mapping, wall_s, decode_s (decoding thread/processes,
overlapped with the model), wait_s (model idle waiting for frames), encoder_s, decoder_s, windows, the
real-time factor, the wall time extrapolated to one hour of video, and GPU utilisation (nvidia-smi
sampled every 0.5 s) where there is a GPU. Without --model it uses the demo model if installed, else a
random tiny model (same compute as a trained tiny one).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time


def make_video(path: str, minutes: float, size: str = "1280x720", rate: int = 30, bitrate: str = "8M",
               preset: str = "veryfast") -> str:
    """testsrc2 + temporal noise (so the encoder cannot cheat with static frames), H.264 at about 8 Mbit/s.
    `preset` matters for decode speed: "ultrafast" streams have no CABAC and no B-frames and decode several
    times faster than camera H.264; "veryfast" (the default) has both, like real recordings."""
    from halsted_hf.video.writer import ffmpeg_exe

    cmd = [ffmpeg_exe(), "-loglevel", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}",
           "-t", str(minutes * 60), "-vf", "noise=alls=12:allf=t", "-c:v", "libx264", "-preset", preset,
           "-b:v", bitrate, "-maxrate", bitrate, "-bufsize", "16M", "-g", "60", "-pix_fmt", "yuv420p", path]
    subprocess.run(cmd, check=True)
    return path


class GpuSampler(threading.Thread):
    """Samples `nvidia-smi` GPU utilisation (%) every `every_s` seconds while mapping runs."""

    def __init__(self, every_s: float = 0.5):
        super().__init__(daemon=True)
        self.every_s, self.samples, self.stop = every_s, [], threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                out = subprocess.run(["nvidia-smi", "--query-gpu=utilization.gpu,memory.used",
                                      "--format=csv,noheader,nounits"], capture_output=True, text=True, timeout=5)
                util, mem = out.stdout.strip().splitlines()[0].split(",")
                self.samples.append((float(util), float(mem)))
            except (OSError, ValueError, IndexError, subprocess.TimeoutExpired):
                return
            self.stop.wait(self.every_s)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", help="a video to map (default: generate one)")
    ap.add_argument("--minutes", type=float, default=5.0, help="length of the generated video")
    ap.add_argument("--model", default=None, help="model folder or Hub id (default: demo, else tiny random)")
    ap.add_argument("--preset", default="tiny", help="random model preset when no model is given (tiny|paper)")
    ap.add_argument("--x264-preset", default="veryfast",
                    help="x264 preset of the generated video (ultrafast decodes several times faster than camera H.264)")
    ap.add_argument("--mapping", default="full")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default=None, help="e.g. bfloat16")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--workers", type=int, default=None, help="decoding processes (default: one per core)")
    args = ap.parse_args()

    import torch

    from halsted_hf.model import hub
    from halsted_hf.mapping.workflow import MappingStats, load_model, map_video

    tmp = tempfile.mkdtemp(prefix="halsted-bench-")
    try:
        video = args.video or make_video(os.path.join(tmp, "bench.mp4"), args.minutes, preset=args.x264_preset)
        model, model_label = args.model, args.model
        if model is None and os.path.isdir(hub.DEMO_MODEL_PATH):
            model, model_label = hub.DEMO_MODEL_PATH, "demo"
        elif model is None:
            net, proc = hub.build_model(args.preset)
            model = hub.save_hub_layout(net, proc, os.path.join(tmp, "model"))
            model_label = f"random-{args.preset}"
        dtype = getattr(torch, args.dtype) if args.dtype else None
        load_model(model, device=args.device, dtype=dtype)  # loading is not mapping: keep it out of the timing
        gpu = GpuSampler() if shutil.which("nvidia-smi") and args.device.startswith("cuda") else None
        if gpu:
            gpu.start()
        stats = MappingStats()
        tl = map_video(video, mapping=args.mapping, model=model, device=args.device, dtype=dtype,
                       batch_size=args.batch_size, stats=stats, workers=args.workers)
        if gpu:
            gpu.stop.set()
            gpu.join()
        hour = 3600.0 / stats.video_s
        record = {
            "benchmark": "map_video", "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "machine": {"host": platform.node(), "cpu_cores": len(os.sched_getaffinity(0)),
                        "cpu": platform.processor() or platform.machine(), "torch_threads": torch.get_num_threads(),
                        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None},
            "video": {"path": os.path.basename(video), "duration_s": stats.video_s,
                      "width": tl.video.get("width"), "height": tl.video.get("height"), "fps": tl.video.get("fps")},
            "model": model_label, "mapping": args.mapping, "device": args.device, "dtype": args.dtype,
            "batch_size": args.batch_size, "segments": len(tl.segments), **{k: round(v, 3) if isinstance(v, float)
                                                                            else v for k, v in stats.to_dict().items()},
            "decode_fps": round(stats.frames_decoded / stats.decode_s, 1) if stats.decode_s else None,
            "realtime_factor": round(stats.video_s / stats.wall_s, 2),
            "wall_s_per_hour_extrapolated": round(stats.wall_s * hour, 1),
            "gpu_util_mean": round(sum(u for u, _ in gpu.samples) / len(gpu.samples), 1) if gpu and gpu.samples else None,
            "gpu_mem_max_mb": max((m for _, m in gpu.samples), default=None) if gpu else None,
        }
        print(json.dumps(record))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
