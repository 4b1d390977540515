"""How much the frozen EfficientNet-Lite frame encoder sees on real surgery, by input size: per-frame linear probes
on CholecT50 mini (5 videos, each left out in turn), pretrained weights against random ones.

    python benchmarks/frame_encoder_probe.py --sizes 128 160 224 [--data ../shared/data/cholect50-val-mini]

Phase and verb: accuracy of a logistic regression (per frame, first annotated triplet's verb); instruments:
mean presence AUROC. Prints one JSON line per (weights, size). Needs the `pretrained` extra and scikit-learn.
"""

from __future__ import annotations

import argparse
import ast
import glob
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from common import emit  # noqa: E402

DEFAULT_DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data",
                            "cholect50-val-mini")


def read_labels(data: str):
    """-> [(video, jpg path, phase, verb, instrument presence (6,))] for every annotated frame."""
    rows = []
    for path in sorted(glob.glob(os.path.join(data, "labels", "*.json"))):
        d = json.load(open(path))
        ann = d["annotations"] if isinstance(d["annotations"], dict) else ast.literal_eval(d["annotations"])
        vid = os.path.basename(path)[:-5]
        for frame, triplets in ann.items():
            jpg = os.path.join(data, "videos", vid, f"{int(frame):06d}.jpg")
            if not triplets or not os.path.exists(jpg):
                continue
            inst = np.zeros(6)
            for t in triplets:
                if t[1] >= 0:
                    inst[t[1]] = 1
            rows.append((vid, jpg, int(triplets[0][-1]), int(triplets[0][7]), inst))
    return rows


def features(model, paths, size, batch=32):
    from PIL import Image

    out = []
    with torch.inference_mode():
        for s in range(0, len(paths), batch):
            ims = [np.asarray(Image.open(p).convert("RGB").resize((size, size), Image.BILINEAR))
                   for p in paths[s:s + batch]]
            x = (torch.tensor(np.stack(ims)).permute(0, 3, 1, 2).float() - 127.0) / 128.0
            out.append(model(x).pooler_output)
    return torch.cat(out).numpy()


def probe(x, rows):
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.preprocessing import StandardScaler

    vids = np.array([r[0] for r in rows])
    phase, verb = np.array([r[2] for r in rows]), np.array([r[3] for r in rows])
    inst = np.stack([r[4] for r in rows])
    hits = {"phase": [], "verb": []}
    aucs = []
    for v in np.unique(vids):
        tr, te = vids != v, vids == v
        sc = StandardScaler().fit(x[tr])
        xtr, xte = sc.transform(x[tr]), sc.transform(x[te])
        for name, y in (("phase", phase), ("verb", verb)):
            clf = LogisticRegression(C=0.05, max_iter=300).fit(xtr, y[tr])
            hits[name] += list(clf.predict(xte) == y[te])
        for c in range(inst.shape[1]):
            if 0 < inst[tr, c].sum() < tr.sum() and 0 < inst[te, c].sum() < te.sum():
                clf = LogisticRegression(C=0.05, max_iter=300).fit(xtr, inst[tr, c])
                aucs.append(roc_auc_score(inst[te, c], clf.predict_proba(xte)[:, 1]))
    return ({k: round(100 * float(np.mean(v)), 1) for k, v in hits.items()}
            | {"instrument_auroc": round(float(np.mean(aucs)), 3)})


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=DEFAULT_DATA)
    ap.add_argument("--variant", default="lite0")
    ap.add_argument("--sizes", type=int, nargs="+", default=[128, 160, 224])
    ap.add_argument("--random", action="store_true", help="also probe the same network with random weights")
    args = ap.parse_args()

    from halsted_hf.model.convert_backbone import load_frame_encoder
    from halsted_hf.model.modeling_efficientnet_lite import EfficientNetLiteModel

    rows = read_labels(args.data)
    models = {"pretrained": load_frame_encoder(args.variant)}
    if args.random:
        torch.manual_seed(0)
        models["random"] = EfficientNetLiteModel(models["pretrained"].config).eval()
    for weights, model in models.items():
        for size in args.sizes:
            x = features(model, [r[1] for r in rows], size)
            emit({"bench": "frame_encoder_probe", "variant": args.variant, "weights": weights, "size": size,
                  "frames": len(rows), "videos": len({r[0] for r in rows}), **probe(x, rows)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
