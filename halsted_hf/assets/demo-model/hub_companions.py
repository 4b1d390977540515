"""What a Halsted model folder carries beside its weights, config and code, and how `save_pretrained` keeps it.

    pipeline_halsted.py   the stand-alone pipeline config.json names under `custom_pipelines` (with the Hub
                          files it imports: ood_halsted.py, video_halsted.py)
    calibration.json      per-task temperatures (the confidence words mean what they say)
    ood.json, ood.npz     the out-of-distribution description (does a video look like the training surgery?)
    training_record.json  which videos trained and validated the model (the majority baseline, self-labelling)

transformers' own `save_pretrained` writes weights, config and the code files the model imports; these files
are the model's too, so a load-then-save round trip (a Hub download re-saved, `halsted publish`) keeps them.
The last four describe particular weights: they are copied only while the weights are the ones loaded with
them (a fine-tuned model's calibration and training record are no longer true). A Hub file: no package imports.
"""

from __future__ import annotations

import os
import shutil
from typing import Dict, Optional, Tuple

import torch

PIPELINE_FILE = "pipeline_halsted.py"
# the pipeline and the Hub files it imports that the model's and processor's own code does not
PIPELINE_CODE = (PIPELINE_FILE, "ood_halsted.py", "video_halsted.py")
# files that hold only for the weights they were written with
WEIGHT_FILES = ("calibration.json", "ood.json", "ood.npz", "training_record.json")


def weights_fingerprint(model: torch.nn.Module) -> Dict[str, Tuple[Tuple[int, ...], float, float]]:
    """name -> (shape, sum, sum of squares) of every parameter and buffer, in float64: unchanged by moving the
    model between devices or widening its dtype, changed by any training step."""
    out = {}
    for name, t in list(model.named_parameters()) + list(model.named_buffers()):
        x = t.detach()
        if not x.is_floating_point():
            x = x.double()
        out[name] = (tuple(x.shape), float(x.sum(dtype=torch.float64)), float((x.double() ** 2).sum()))
    return out


def same_weights(a: dict, b: dict) -> bool:
    if a.keys() != b.keys():
        return False
    for name, (shape, s, q) in a.items():
        shape2, s2, q2 = b[name]
        if shape != shape2 or abs(s - s2) > 1e-9 * max(1.0, abs(s)) or abs(q - q2) > 1e-9 * max(1.0, abs(q)):
            return False
    return True


def source_file(source: Optional[str], name: str, revision: Optional[str] = None) -> Optional[str]:
    """A local path to `name` in the folder or Hub repo `source` came from, None where it has none."""
    if not source:
        return None
    if os.path.isdir(source):
        path = os.path.join(source, name)
        return path if os.path.isfile(path) else None
    try:  # a Hub id: its cached (or downloaded) copy
        from transformers.utils import cached_file

        return cached_file(source, name, revision=revision, _raise_exceptions_for_missing_entries=False,
                           _raise_exceptions_for_connection_errors=False)
    except (OSError, ValueError):
        return None


def copy_companions(model, save_directory: str) -> list:
    """Copy the pipeline's code and, while the weights are the loaded ones, the weight files into
    `save_directory`; -> the names copied. A weight file already there (written by whoever saves) is left as it
    is; the code is always this version's."""
    source = getattr(model, "_halsted_source", None) or {}
    names = list(PIPELINE_CODE)
    loaded = source.get("fingerprint")
    if loaded is not None and same_weights(loaded, weights_fingerprint(model)):
        names += list(WEIGHT_FILES)
    copied = []
    for name in names:
        target = os.path.join(save_directory, name)
        if name in WEIGHT_FILES and os.path.exists(target):
            continue
        # code beside this file (the package, or a folder loaded with trust_remote_code), else the source's
        here = os.path.join(os.path.dirname(os.path.abspath(__file__)), name)
        path = here if name in PIPELINE_CODE and os.path.isfile(here) else source_file(
            source.get("path"), name, source.get("revision"))
        if path and os.path.abspath(path) != os.path.abspath(target):
            shutil.copyfile(path, target)
            copied.append(name)
    return copied
