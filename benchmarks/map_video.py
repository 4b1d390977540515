"""Benchmark `map_video`: wall time of a mapping split into decode, encoder and decoder.

    python benchmarks/map_video.py --minutes 60                      # makes a 1-hour 720p30 H.264 video
    python benchmarks/map_video.py --minutes 6 --keyframe-s 20       # keyframes 20 s apart
    python benchmarks/map_video.py --video case.mp4 --model DIR --device cuda --dtype bfloat16
    python benchmarks/map_video.py --video case.mp4 --model lite0-dir --route-all   # frame encoder, worst case

Prints one JSON line: machine, date, video, model, mapping, wall_s, decode_s (decoding thread/processes,
overlapped with the model), wait_s (model idle waiting for frames), encoder_s, decoder_s, windows, the
real-time factor, the wall time extrapolated to one hour of video, and GPU utilisation (nvidia-smi
sampled every 0.5 s) where there is a GPU. Without --model it uses the demo model if installed, else a
random tiny model (same compute as a trained tiny one). `--route-all` makes stage 1 send every window on to
stage 2 (alternately as suturing and dissection for `full`): the most work a mapping can do, which a model
with random weights (a fresh `halsted convert-backbone` folder) would otherwise not ask for.
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


def make_video(path: str, minutes: float, size: str = "1280x720", rate: int = 30, bitrate: str = "8M",
               preset: str = "veryfast", keyframe_s: float = 2.0) -> str:
    """testsrc2 + temporal noise (so the encoder cannot cheat with static frames), H.264 at about 8 Mbit/s.
    `preset` matters for decode speed: "ultrafast" streams have no CABAC and no B-frames and decode several
    times faster than camera H.264; "veryfast" (the default) has both, like real recordings. `keyframe_s`:
    seconds between keyframes, exactly (no scene-cut keyframes): 2 s is common, 10-20 s is x264's default
    at 25-15 fps and what screen and OR recorders often use."""
    from halsted_hf.core.io import ffmpeg_exe

    keyint = max(1, int(round(keyframe_s * rate)))
    cmd = [ffmpeg_exe(), "-loglevel", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}",
           "-t", str(minutes * 60), "-vf", "noise=alls=12:allf=t", "-c:v", "libx264", "-preset", preset,
           "-b:v", bitrate, "-maxrate", bitrate, "-bufsize", "16M", "-g", str(keyint),
           "-x264-params", f"keyint={keyint}:min-keyint={keyint}:scenecut=0", "-pix_fmt", "yuv420p", path]
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


def route_all(engine, mapping: str) -> None:
    """Overwrite stage 1's step (after the real decoder ran) so that every window goes on to stage 2."""
    from halsted_hf.model.plans import halsted_plans

    steps = [answer for answer, _ in halsted_plans()[mapping].stage2] or ("none",)
    generate, count = engine.generate, [0]

    def generate_routing_all(embeds, task, stats=None):
        tags, scores = generate(embeds, task, stats)
        if task == "macro-activity":
            for t in tags:
                t["step"] = steps[count[0] % len(steps)]
                count[0] += 1
        return tags, scores

    engine.generate = generate_routing_all


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", help="a video to map (default: generate one)")
    ap.add_argument("--minutes", type=float, default=5.0, help="length of the generated video")
    ap.add_argument("--model", default=None, help="model folder or Hub id (default: demo, else tiny random)")
    ap.add_argument("--preset", default="tiny", help="random model preset when no model is given (tiny|paper)")
    ap.add_argument("--x264-preset", default="veryfast",
                    help="x264 preset of the generated video "
                         "(ultrafast decodes several times faster than camera H.264)")
    ap.add_argument("--keyframe-s", type=float, default=2.0, help="seconds between keyframes of the generated video")
    ap.add_argument("--keep-video", default=None, help="also save the generated video here (to rerun with --video)")
    ap.add_argument("--mapping", default="full")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default=None, help="e.g. bfloat16")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--workers", type=int, default=None, help="decoding processes (default: one per core)")
    ap.add_argument("--route-all", action="store_true",
                    help="stage 1 sends every window to stage 2 (worst case for speed)")
    ap.add_argument("--precision", choices=["float32", "bfloat16"], default="float32",
                    help="float32 (the default everywhere) or bfloat16 (a frame encoder's backbone under autocast)")
    args = ap.parse_args()

    import torch

    from halsted_hf.model import hub, registry
    from halsted_hf.mapping.workflow import MappingStats, load_model, map_video
    from halsted_hf.mapping.workflow_engine import cpu_has_bf16

    tmp = tempfile.mkdtemp(prefix="halsted-bench-")
    try:
        video = args.video or make_video(args.keep_video or os.path.join(tmp, "bench.mp4"), args.minutes,
                                         preset=args.x264_preset, keyframe_s=args.keyframe_s)
        model, model_label = args.model, args.model
        if model is None and os.path.isdir(registry.DEMO_MODEL_PATH):
            model, model_label = registry.DEMO_MODEL_PATH, "demo"
        elif model is None:
            net, proc = hub.build_model(args.preset)
            model = hub.save_hub_layout(net, proc, os.path.join(tmp, "model"))
            model_label = f"random-{args.preset}"
        dtype = getattr(torch, args.dtype) if args.dtype else None
        # loading is not mapping: not timed
        engine = load_model(model, device=args.device, dtype=dtype, precision=args.precision)
        if args.route_all:
            route_all(engine, args.mapping)
        gpu = GpuSampler() if shutil.which("nvidia-smi") and args.device.startswith("cuda") else None
        if gpu:
            gpu.start()
        stats = MappingStats()
        tl = map_video(video, mapping=args.mapping, model=model, device=args.device, dtype=dtype,
                       batch_size=args.batch_size, stats=stats, workers=args.workers, precision=args.precision)
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
            "model": model_label, "mapping": args.mapping, "route_all": args.route_all,
            "precision": engine.precision, "cpu_bf16": cpu_has_bf16(), "load_average": os.getloadavg(),
            "device": args.device, "dtype": args.dtype,
            "batch_size": args.batch_size, "segments": len(tl.segments),
            **{k: round(v, 3) if isinstance(v, float) else v for k, v in stats.to_dict().items()},
            "decode_fps": round(stats.frames_decoded / stats.decode_s, 1) if stats.decode_s else None,
            "realtime_factor": round(stats.video_s / stats.wall_s, 2),
            "wall_s_per_hour_extrapolated": round(stats.wall_s * hour, 1),
            "gpu_util_mean": (round(sum(u for u, _ in gpu.samples) / len(gpu.samples), 1)
                              if gpu and gpu.samples else None),
            "gpu_mem_max_mb": max((m for _, m in gpu.samples), default=None) if gpu else None,
        }
        print(json.dumps(record))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
