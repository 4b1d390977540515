"""Mapping in float32 against bfloat16 (the frame encoder's backbone under autocast): speed and agreement.

    python benchmarks/precision_agreement.py VIDEO [VIDEO ...] [--model DIR] [--mapping full]

For each video, maps it twice on one warm engine per precision and compares the tags active at every 0.5 s
(`Timeline.tags_at`): the share of instants where each tag agrees, and the wall time of each run. float32 is the
default everywhere because bfloat16 is faster only on CPUs with bfloat16 instructions and its answers differ
(this command measures by how much); one JSON line per run, machine included."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import defaultdict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import emit  # noqa: E402


def agreement(a, b, step_s: float = 0.5) -> dict:
    """{tag: share of instants (every step_s) where both timelines carry the tag and agree}."""
    same, seen = defaultdict(int), defaultdict(int)
    t = step_s / 2
    while t < min(a.duration_s, b.duration_s):
        ta, tb = a.tags_at(t), b.tags_at(t)
        for tag in set(ta) | set(tb):
            seen[tag] += 1
            same[tag] += ta.get(tag) == tb.get(tag)
        t += step_s
    return {tag: round(same[tag] / seen[tag], 4) for tag in sorted(seen)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("videos", nargs="+")
    ap.add_argument("--model", default=None, help="model folder (default: the bundled demo model)")
    ap.add_argument("--mapping", default="full")
    args = ap.parse_args(argv)

    from halsted_hf.mapping.workflow import load_model, map_video
    from halsted_hf.mapping.workflow_engine import cpu_has_bf16
    from halsted_hf.model.registry import DEMO_MODEL_PATH

    model = args.model or DEMO_MODEL_PATH
    engines = {p: load_model(model, precision=p) for p in ("float32", "bfloat16")}
    for video in args.videos:
        timelines, wall = {}, {}
        for precision, engine in engines.items():
            t0 = time.perf_counter()
            timelines[precision] = map_video(video, mapping=args.mapping, model=engine)
            wall[precision] = round(time.perf_counter() - t0, 1)
        emit({"benchmark": "precision_agreement", "video": os.path.basename(video), "mapping": args.mapping,
              "agreement": agreement(timelines["float32"], timelines["bfloat16"]),
              "wall_s": wall, "cpu_bf16": cpu_has_bf16()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
