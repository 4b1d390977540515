"""Can a needle drive's extent and direction be read from the windows the demo model sees? Probes on the demo
build's context windows (the context task stays at its majority rate).

    python benchmarks/context_probe.py WORK [--test ATLAS] [--size 64] [--epochs 30]

WORK is `benchmarks/build_demo_model.py`'s folder. Trained on the context windows of its training videos
(WORK/run/fold-0/split.json), scored on the context windows of --test (default WORK/heldout-s77; nothing here
chooses anything for the model). Two inputs per window (8 frames over 2.5 s, as mapping samples them):
  pooled   the frozen EfficientNet-Lite0 features from WORK/cache (mean over frames and mean |frame difference|),
           standardised, logistic regression (C 0.05): what the demo model's temporal module starts from;
  grid     the same tower's last feature map pooled to 2 x 2 cells (where in the frame, not only what), same
           summary and classifier;
  pixels   the frames themselves (colour, --size px, and their differences), a small CNN trained from scratch
           with horizontal and vertical flips (a drive's extent and its direction relative to the wound do not
           change under a flip), the last epoch scored: can anything be learned from this many drives at all?
Accuracy with a 95% bootstrap CI over windows, against the training windows' majority category. JSON in
WORK/context_probe.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
TAGS = ("anatomy", "extent", "direction")


class SmallCnn(nn.Module):
    """8 frames and their 7 differences, stacked as channels -> class logits."""

    def __init__(self, frames: int, classes: int, width: int = 64):
        super().__init__()
        block = lambda i, o: [nn.Conv2d(i, o, 3, padding=1), nn.ReLU()]  # noqa: E731
        self.body = nn.Sequential(*block(3 * (2 * frames - 1), width), nn.MaxPool2d(2), *block(width, width),
                                  nn.MaxPool2d(2), *block(width, width), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(width, classes))

    def forward(self, x):  # (B, T, 3, S, S) in [0, 1]
        z = torch.cat([x, 4 * (x[:, 1:] - x[:, :-1])], dim=1).flatten(1, 2)
        return self.head(self.body(z))


def train_cnn(x: torch.Tensor, y: torch.Tensor, classes: int, epochs: int, seed: int) -> SmallCnn:
    torch.manual_seed(seed)
    net = SmallCnn(x.shape[1], classes)
    opt = torch.optim.AdamW(net.parameters(), 1e-3, weight_decay=1e-2)
    net.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(x)).split(32):
            xb = x[idx]
            if torch.rand(1) < 0.5:
                xb = xb.flip(-1)
            if torch.rand(1) < 0.5:
                xb = xb.flip(-2)
            loss = F.cross_entropy(net(xb), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return net.eval()


def ci(correct: np.ndarray, n_boot: int = 2000, seed: int = 0):
    rng = np.random.default_rng(seed)
    boots = correct[rng.integers(0, len(correct), (n_boot, len(correct)))].mean(1)
    return [round(100 * float(correct.mean()), 1), round(100 * float(np.percentile(boots, 2.5)), 1),
            round(100 * float(np.percentile(boots, 97.5)), 1)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("work")
    ap.add_argument("--test", default=None, help="test atlas (default WORK/heldout-s77)")
    ap.add_argument("--size", type=int, default=64, help="frame side for the CNN")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(2)
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from halsted_hf.data.feature_cache import decode_clips, load_cached, normalise
    from halsted_hf.data.windows import read_windows
    from halsted_hf.model.registry import create

    work = os.path.abspath(args.work)
    with open(os.path.join(work, "run", "fold-0", "split.json")) as f:
        train_videos = json.load(f)["train"]
    built = read_windows(os.path.join(work, "run", "atlas.parquet"))
    train = built[built["video_id"].isin(train_videos) & (built["task"] == "context")].reset_index(drop=True)
    test = read_windows(args.test or os.path.join(work, "heldout-s77"))
    test = test[test["task"] == "context"].reset_index(drop=True)
    model, processor = create(os.path.join(work, "start"))
    tower = model.config.vision_config.hidden_size

    def summary(emb):  # (N, T, D) -> (N, 2D): mean over frames, mean |frame difference|
        return torch.cat([emb.mean(1), (emb[:, 1:] - emb[:, :-1]).abs().mean(1)], 1).numpy()

    def grid(df):
        """The frozen tower's last feature map pooled to 2 x 2 cells instead of one global vector (where in the
        frame, not only what)."""
        clips = torch.from_numpy(decode_clips(list(zip(df["video_path"], df["start_s"], df["end_s"])),
                                              processor.num_frames, processor.image_size))
        px = normalise(clips, processor.image_mean, processor.image_std)
        with torch.inference_mode():
            maps = torch.cat([model.video_encoder(x).last_hidden_state for x in px.flatten(0, 1).split(64)])
        return summary(F.adaptive_avg_pool2d(maps, 2).flatten(1).view(len(df), px.shape[1], -1))

    def inputs(df):
        emb = load_cached(df, os.path.join(work, "cache"), model=model, processor=processor).float()[..., :tower]
        clips = decode_clips(list(zip(df["video_path"], df["start_s"], df["end_s"])), processor.num_frames, args.size)
        return ({"pooled": summary(emb), "grid": grid(df)},
                torch.from_numpy(clips).permute(0, 1, 4, 2, 3).float().div_(255.0))

    ptr, xtr = inputs(train)
    pte, xte = inputs(test)
    print(f"{len(train)} training windows ({len(train_videos)} videos), {len(test)} test windows", flush=True)
    rows = []
    for tag in TAGS:
        ytr_s = np.array([json.loads(t)[tag] for t in train["tags"]])
        yte_s = np.array([json.loads(t)[tag] for t in test["tags"]])
        classes = sorted(set(ytr_s))
        values, counts = np.unique(ytr_s, return_counts=True)
        result = {"tag": tag, "train": len(ytr_s), "test": len(yte_s),
                  "majority": ci(yte_s == values[counts.argmax()])}
        for name in ptr:
            clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.05, max_iter=3000)).fit(ptr[name], ytr_s)
            result[name] = ci(clf.predict(pte[name]) == yte_s)
        ytr = torch.tensor([classes.index(v) for v in ytr_s])
        net = train_cnn(xtr, ytr, len(classes), args.epochs, args.seed)
        with torch.no_grad():
            pred = np.array(classes)[net(xte).argmax(1).numpy()]
        result["pixels"] = ci(pred == yte_s)
        rows.append(result)
        print(f"{tag:10s} " + "  ".join(f"{k} {result[k]}" for k in ("majority", "pooled", "grid", "pixels")),
              flush=True)
    with open(os.path.join(work, "context_probe.json"), "w") as f:
        json.dump({"test": args.test or "heldout-s77", "size": args.size, "epochs": args.epochs, "rows": rows}, f,
                  indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
