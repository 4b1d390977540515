"""Linear probes: how much of each tag an encoder's frozen, mean-pooled clip embeddings carry.

For every tag, a logistic regression is fit on the embeddings of training videos' clips and scored on
held-out videos' clips (accuracy, beside the majority-class rate). Used to decide whether a small
random encoder can stay frozen (see docs/training.md).

    python -m halsted_hf.training.linear_probe ATLAS MODEL_DIR [--test-videos 3] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
from typing import Dict, Sequence

import numpy as np


def probe_tags(features: np.ndarray, tags: Sequence[Dict[str, str]], video_ids: Sequence[str],
               test_videos: Sequence[str]) -> Dict[str, Dict[str, float]]:
    """features: (N, D) embeddings; tags: per clip {tag: category}. -> {tag: {"probe", "majority", "n_test"}}."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    test = np.array([v in set(test_videos) for v in video_ids])
    out: Dict[str, Dict[str, float]] = {}
    for tag in sorted({t for row in tags for t in row}):
        have = np.array([tag in row for row in tags])
        y = np.array([row.get(tag, "") for row in tags])
        tr, te = have & ~test, have & test
        if te.sum() == 0 or len(set(y[tr])) < 2:
            continue
        scaler = StandardScaler().fit(features[tr])
        clf = LogisticRegression(max_iter=500, C=1.0).fit(scaler.transform(features[tr]), y[tr])
        acc = float((clf.predict(scaler.transform(features[te])) == y[te]).mean())
        values, counts = np.unique(y[tr], return_counts=True)
        majority = float((y[te] == values[counts.argmax()]).mean())
        out[tag] = {"probe": round(acc, 3), "majority": round(majority, 3), "n_test": int(te.sum())}
    return out


def main(argv=None) -> int:
    from ..data.atlas import tags_of
    from ..data.windows import read_windows
    from ..data.feature_cache import build_cache, embed_clips, load_cached
    from ..model.registry import create

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("atlas")
    ap.add_argument("model")
    ap.add_argument("--pixel-cache", required=True, help="pixel cache folder (built if missing)")
    ap.add_argument("--test-videos", nargs="+", required=True)
    args = ap.parse_args(argv)
    df = read_windows(args.atlas)
    model, processor = create(args.model)
    build_cache(df, args.pixel_cache, processor=processor, kind="pixels")
    clips = load_cached(df, args.pixel_cache, processor=processor, kind="pixels")
    feats = embed_clips(model, processor, clips).numpy()
    result = probe_tags(feats, [tags_of(t) for t in df["tags"]], df["video_id"].tolist(), args.test_videos)
    print(json.dumps({"model": args.model, "test_videos": args.test_videos, "tags": result}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
