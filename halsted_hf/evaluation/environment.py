"""What an evaluation ran on: the facts that can change a model's answers from one machine to another.

Measured on the demo model (docs/evaluation.md, "Reproducibility"): rendered and decoded pixels and the frozen
frame features are bit-identical with and without AVX-512; what remains machine-dependent is the matrix
library's choice of kernels (pinned by MKL_CBWR, halsted_hf/__init__.py), the thread count and the precision.
A card records these so a fresh evaluation is compared with one made like it."""

from __future__ import annotations

import ctypes
import os
import platform
from typing import Optional

# MKL's numbering of its reproducibility branches (mkl_service.h), the ones torch's build can report
_MKL_BRANCHES = {0: "off", 1: "off", 2: "AUTO", 3: "COMPATIBLE", 4: "SSE2", 8: "SSE4_2", 10: "AVX2", 12: "AVX512"}


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_features() -> list:
    """The instruction-set extensions that change which kernels run (Linux; [] elsewhere)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        return []
    wanted = ("avx2", "avx512f", "avx512_bf16", "amx_tile")
    return [f for f in wanted if f in flags]


def mkl_branch() -> Optional[str]:
    """The MKL reproducibility branch in force in this process (None when torch has no MKL)."""
    import torch

    try:
        lib = ctypes.CDLL(os.path.join(os.path.dirname(torch.__file__), "lib", "libtorch_cpu.so"))
        return _MKL_BRANCHES.get(int(lib.mkl_serv_cbwr_get(1)), "other")
    except (OSError, AttributeError):
        return None


def describe(precision: str = "float32") -> dict:
    import av
    import torch
    import transformers

    return {"cpu": cpu_name(), "cpu_features": cpu_features(), "torch": torch.__version__.split("+")[0],
            "transformers": transformers.__version__, "ffmpeg": f"PyAV {av.__version__}",
            "threads": torch.get_num_threads(), "mkl_branch": mkl_branch(), "precision": precision}


def one_line(env: dict) -> str:
    features = ", ".join(env.get("cpu_features") or []) or "no AVX2"
    return (f"{env.get('cpu')} ({features}), {env.get('threads')} torch threads; torch {env.get('torch')}, "
            f"transformers {env.get('transformers')}, {env.get('ffmpeg')}; MKL branch {env.get('mkl_branch')}; "
            f"precision {env.get('precision')}")
