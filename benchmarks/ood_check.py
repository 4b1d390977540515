"""How often the out-of-distribution check (halsted_hf/mapping/ood.py) flags non-surgical real footage and
held-out synthetic surgery: the numbers in docs/evaluation.md ("Out-of-distribution warning").

Each video is mapped with `map_video` (mapping "procedure": stage 1, the windows that tile every video),
exactly as `halsted map` maps it; a video counts as flagged when its Timeline's `ood.flagged` is true.

    python benchmarks/ood_footage.py fetch /tmp/ood/fetched
    python benchmarks/ood_check.py --model halsted_hf/assets/demo-model --synth /tmp/ood/synth-heldout \\
        --fetched /tmp/ood/fetched --work /tmp/ood/check --out /tmp/ood/check.json

--synth: a folder of `halsted synth` videos rendered with a seed the model never trained on (the demo model
trained on seeds 1-9: `halsted synth /tmp/ood/synth-heldout --videos 20 --minutes 1 --seed 101`).
--fetched: what `ood_footage.py fetch` unpacked; without it only the venv's development photos are used and
the final set is empty.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import ood_footage  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True)
    p.add_argument("--synth", required=True, help="held-out synthetic videos (halsted synth folder)")
    p.add_argument("--fetched", help="folder written by `python benchmarks/ood_footage.py fetch DIR`")
    p.add_argument("--work", default="/tmp/ood/check", help="where the photo videos are made")
    p.add_argument("--sets", default="development,final,synthetic")
    p.add_argument("--out")
    args = p.parse_args()

    from halsted_hf.mapping.workflow import load_model, map_video

    engine = load_model(args.model)
    if engine.ood is None:
        raise SystemExit(f"{args.model} has no ood.json: run `halsted fit-ood --model {args.model} --atlas ...` first")
    sets = {}
    wanted = args.sets.split(",")
    if "development" in wanted:
        sets["development"] = (ood_footage.as_videos(ood_footage.development_stills(args.fetched),
                                                     os.path.join(args.work, "dev"))
                               + ood_footage.development_videos())
    if "final" in wanted and args.fetched:
        sets["final"] = (ood_footage.as_videos(ood_footage.final_stills(args.fetched),
                                               os.path.join(args.work, "final"))
                         + ood_footage.final_videos(args.fetched))
    if "synthetic" in wanted:
        sets["synthetic"] = sorted(glob.glob(os.path.join(args.synth, "videos", "*.mp4")))
    result = {"model": os.path.abspath(args.model), "threshold": engine.ood.threshold,
              "false_alarm_rate": (engine.ood.info or {}).get("false_alarm_rate"), "sets": {}}
    for name, videos in sets.items():
        rows = []
        for v in videos:
            tl = map_video(v, mapping="procedure", model=engine)
            rows.append({"video": os.path.basename(v), "score": tl.ood["score"], "flagged": tl.ood["flagged"],
                         "stretches": len(tl.ood["stretches"])})
            print(f"{name:12s} {rows[-1]['video']:40s} score {tl.ood['score']:9.2f} "
                  f"{'FLAGGED' if tl.ood['flagged'] else ''}", flush=True)
        flagged = sum(r["flagged"] for r in rows)
        result["sets"][name] = {"videos": len(rows), "flagged": flagged,
                                "flagged_share": flagged / len(rows) if rows else None,
                                "any_stretch": sum(r["stretches"] > 0 for r in rows), "rows": rows}
    print(f"threshold {engine.ood.threshold:.3f}")
    for name, r in result["sets"].items():
        print(f"{name}: {r['flagged']}/{r['videos']} videos flagged, {r['any_stretch']} with a flagged stretch")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
