"""`halsted convert-weights DIR`: write a model folder's pickle weights (pytorch_model.bin, *.pt) as
model.safetensors, the only weights Halsted loads.

A pickle can run code as it loads; this reads it with PyTorch's weights-only loader (tensors and plain
containers only: anything else is refused), so run it only on a file you trust, once, and load the
safetensors from then on. The pickle is left where it was.
"""

from __future__ import annotations

import os


def configure(parser) -> None:
    parser.add_argument("folder", help="a model folder holding pytorch_model.bin (or another .bin/.pt/.pth file)")
    parser.add_argument("--out", default=None,
                        help="the safetensors file to write (default: FOLDER/model.safetensors)")


def run(args) -> int:
    from ..core.errors import CheckpointError
    from ..mapping.outputs import check_output_path
    from ..model.safety import PICKLE_SUFFIXES

    if not os.path.isdir(args.folder):
        raise CheckpointError(f"{args.folder!r} is not a folder: pass the model folder that holds the pickle weights")
    pickles = sorted(n for n in os.listdir(args.folder) if n.endswith(PICKLE_SUFFIXES))
    if not pickles:
        raise CheckpointError(f"{args.folder!r} holds no pickle weights ({', '.join(PICKLE_SUFFIXES)}): "
                              "nothing to convert")
    if len(pickles) > 1:
        raise CheckpointError(f"{args.folder!r} holds several pickle files ({', '.join(pickles[:4])}): sharded "
                              f"checkpoints are not converted here")
    out = args.out or os.path.join(args.folder, "model.safetensors")
    check_output_path(out, "--out")
    tensors = _read(os.path.join(args.folder, pickles[0]))
    from safetensors.torch import save_file

    from ..core.io import atomic_path

    with atomic_path(out) as tmp:
        save_file(tensors, tmp, metadata={"format": "pt"})
    print(f"wrote {out} ({len(tensors)} tensors from {pickles[0]}, which is left in place)")
    return 0


def _read(path: str) -> dict:
    """The pickle's tensors, each with its own memory (safetensors stores no shared or strided views)."""
    import torch

    from ..core.errors import CheckpointError
    from ..model.convert_videomae import read_checkpoint

    state = read_checkpoint(path)
    bad = [k for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointError(f"{path}: {len(bad)} entries are not tensors (e.g. {str(bad[0])[:80]!r}): "
                              "not a weights file")
    return {str(k): v.detach().clone().contiguous() for k, v in state.items()}
