"""De-identification: a copy of a video that shows no patient or staff outside the body, no face, and carries
no names, dates or places in its container.

    report = halsted_hf.deidentify("case.mp4", "case.deid.mp4")   # DeidReport; also written as JSON

- `out_of_body.py`: Halsted's own out-of-body classifier (a logistic regression over the frozen ImageNet
  EfficientNet-Lite0 frame encoder's pooled features plus colour and texture statistics, `frame_stats.py`);
  `stretches.py` turns its per-sample scores into removed stretches (at least a second, padded for the trocar);
- `faces.py`: OpenCV's Haar cascades (shipped inside opencv-python-headless 4.x) find faces in kept frames,
  which are blurred;
- `masks.py`: fixed rectangles painted over (on-screen text a camera burns in);
- `metadata.py`: the container, stream and chapter metadata a file carries (all of it is dropped);
- `rewrite.py`: the one pass that writes the copy (H.264, original timestamps, no audio unless asked);
- `report.py`: what was removed, as JSON and as one line for people;
- `material.py`, `fit.py`: the training and held-out material and `halsted fit-out-of-body`;
- `classifier_folder.py`: which classifier a run uses; the default one is built there at first use;
- `timeline_mask.py`: a Timeline with nothing mapped inside removed stretches.

Names load on first use (PEP 562): `import halsted_hf.deid` imports neither torch nor OpenCV.
"""

import importlib

_LAZY = {
    "deidentify": "rewrite",
    "DeidOptions": "rewrite",
    "DeidReport": "report",
    "OutOfBodyClassifier": "out_of_body",
    "load_classifier": "classifier_folder",
}

__all__ = sorted(_LAZY)


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
