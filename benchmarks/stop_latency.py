"""Benchmark how fast `halsted map` stops on SIGINT or SIGTERM (goal 2 s, any length).

    python benchmarks/stop_latency.py --video case.mp4 --repeat 3
    python benchmarks/stop_latency.py            # generates a 330-s 320x240 video (decoded by worker processes)

Starts `halsted map` (SIGINT ignored, as in a background job, for the SIGINT runs), waits until its
decoder workers run, sends the signal, and times the "stopped" line and the exit. Prints one JSON line:
machine, date, load, and per signal the seconds to the line and to the exit, and any process left.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))


def run_once(video: str, model: str, signum: int, out_dir: str) -> dict:
    from test_map_cli import alive, descendants

    preexec = (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if signum == signal.SIGINT else None
    proc = subprocess.Popen([sys.executable, "-m", "halsted_hf.cli", "map", video, "--mapping", "full",
                             "--model", model, "--out", os.path.join(out_dir, "t.json"), "--no-progress"],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, preexec_fn=preexec)
    while proc.poll() is None and len(descendants(proc.pid)) < 4:  # tracker, forkserver, 2 decoders
        time.sleep(0.05)
    tree = descendants(proc.pid)
    time.sleep(2.0)  # mid-map, decoders and model busy
    sent = time.monotonic()
    proc.send_signal(signum)
    line_s = None
    for line in proc.stderr:
        if "stopped by" in line and line_s is None:
            line_s = time.monotonic() - sent
    proc.wait()
    exit_s = time.monotonic() - sent
    time.sleep(1.0)
    return {"to_line_s": round(line_s, 2) if line_s else None, "to_exit_s": round(exit_s, 2),
            "returncode": proc.returncode, "left_running": len(alive(tree))}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", default=None)
    ap.add_argument("--model", default=None, help="default: the demo model")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    from halsted_hf import DEMO_MODEL_PATH

    model = args.model or DEMO_MODEL_PATH
    with tempfile.TemporaryDirectory(prefix="halsted-stop-") as tmp:
        video = args.video
        if video is None:
            from map_video import make_video

            video = make_video(os.path.join(tmp, "long.mp4"), 5.5, size="320x240", rate=15, bitrate="1M")
        results = {name: [run_once(video, model, int(sig), tmp) for _ in range(args.repeat)]
                   for name, sig in (("SIGINT", signal.SIGINT), ("SIGTERM", signal.SIGTERM))}
    print(json.dumps({"benchmark": "stop_latency",
                      "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                      "machine": {"host": platform.node(), "cpu_cores": len(os.sched_getaffinity(0))},
                      "load_1min": os.getloadavg()[0], "video": os.path.basename(video), "results": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
