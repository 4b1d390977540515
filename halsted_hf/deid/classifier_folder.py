"""Which out-of-body classifier a de-identification uses, and building the default one at first use.

An explicit folder (`--classifier`, $HALSTED_OUT_OF_BODY) must hold a classifier; a deployment's or the user's
default folder, when empty, is built first (once, a few minutes: `halsted fit-out-of-body`) from real CholecT50
frames if they can be found.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional

from .fit import fit_out_of_body
from .out_of_body import ENV_VAR, INFO_FILE, WEIGHTS_FILE, OutOfBodyClassifier, read_classifier

CHOLECT50_ENV = "HALSTED_CHOLECT50"
# Where the checkout's tests find CholecT50 (beside the repository, never inside it)
CHOLECT50_BESIDE_CHECKOUT = Path(__file__).resolve().parents[3] / "shared" / "data" / "cholect50-val-mini"


def default_folder() -> str:
    """Where the classifier is built at first use: out-of-body/ in $HALSTED_DATA_DIR, else in ~/.halsted."""
    return os.path.join(os.environ.get("HALSTED_DATA_DIR") or os.path.expanduser("~/.halsted"), "out-of-body")


def cholect50_folder() -> Optional[str]:
    """Real in-body frames to build the default from: $HALSTED_CHOLECT50, else the copy beside the checkout."""
    for candidate in (os.environ.get(CHOLECT50_ENV), str(CHOLECT50_BESIDE_CHECKOUT)):
        if candidate and os.path.isdir(os.path.join(candidate, "videos")):
            return candidate
    return None


def load_classifier(folder: Optional[str] = None, default: Optional[str] = None) -> OutOfBodyClassifier:
    """Load a classifier folder: `folder`, else $HALSTED_OUT_OF_BODY, else `default` (a deployment's own place),
    else `default_folder()`. A default folder, when empty, is built first from CholecT50 frames if they can be
    found; anything else missing or damaged is a one-line CheckpointError."""
    explicit = folder or os.environ.get(ENV_VAR)
    folder = os.fspath(explicit or default or default_folder())
    built = all(os.path.isfile(os.path.join(folder, name)) for name in (WEIGHTS_FILE, INFO_FILE))
    real = None if (built or explicit) else cholect50_folder()
    if real is not None:
        print(f"halsted: building the out-of-body classifier in {folder} from {real} (once; a few minutes)",
              file=sys.stderr)
        fit_out_of_body(folder, cholect50=real, log=lambda line: None)
    return read_classifier(folder)
