"""What a model folder must pass before transformers builds anything from it.

A model folder is input like a video: it may come from anyone. Three things in it can hurt the machine
that loads it, and each is refused here with one line, before a weight is read:

- code: a config that names its own classes (`auto_map`) for a model type this package does not provide
  makes transformers import the folder's Python files (in a terminal it even asks, and "y" ran them).
  Halsted runs a folder's code only when the caller passed `trust_remote_code=True` itself
  (`halsted map --trust-remote-code`); the dashboard and `map-archive` never do.
- pickles: `pytorch_model.bin` and friends are Python pickles, which can run code as they load. Only
  safetensors weights are loaded; `halsted convert-weights` converts a pickle the user trusts.
- sizes: config.json decides how big a model is built (a `hidden_size` of 10,000,000 asks for gigabytes,
  100,000 layers take minutes) while the weights file says how big it really is. Every number in the config
  is checked against the largest dimension in the safetensors header, the model is then laid out on
  PyTorch's meta device (no memory) and its tensors compared with the header's names and shapes.

Only local folders are checked here; a Hub id is loaded with `trust_remote_code` and `use_safetensors`
passed explicitly, so transformers itself refuses code and pickles (hub.py turns that into one line).
"""

from __future__ import annotations

import json
import math
import os
import struct
from typing import Dict, Iterator, List, Tuple

from ..core.errors import CheckpointError

HALSTED_MODEL_TYPE = "halsted"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
# The files in which transformers looks for `auto_map` (the classes to import from the folder).
CODE_CONFIGS = ("config.json", "processor_config.json", "preprocessor_config.json", "tokenizer_config.json")
# VideoMAE's config describes the decoder of its masked-autoencoder pretraining too; the encoder a Halsted
# model holds never builds it, so these numbers size nothing and may exceed every saved dimension.
UNUSED_SIZES = frozenset({"decoder_hidden_size", "decoder_intermediate_size", "decoder_num_hidden_layers",
                          "decoder_num_attention_heads"})
_DTYPE_BYTES = {"F64": 8, "I64": 8, "U64": 8, "F32": 4, "I32": 4, "U32": 4, "F16": 2, "BF16": 2, "I16": 2,
                "U16": 2, "F8_E4M3": 1, "F8_E5M2": 1, "I8": 1, "U8": 1, "BOOL": 1}
MAX_HEADER_BYTES = 100 << 20  # the safetensors format's own limit


def trust_option_hint() -> str:
    return ("Halsted never runs a model folder's code unless asked: read the code first, then pass "
            "--trust-remote-code (halsted map) or trust_remote_code=True (Python); the dashboard and "
            "map-archive never run it")


def read_json(folder: str, name: str) -> dict:
    """A JSON file of the folder as a dict ({} when absent), or one line saying what is wrong with it."""
    path = os.path.join(folder, name)
    if not os.path.exists(path):
        return {}
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except UnicodeDecodeError:
        raise CheckpointError(f"{folder!r}: {name} is not text; the model folder is damaged: copy it again") from None
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{folder!r}: {name} is not valid JSON ({err.msg} at line {err.lineno}, column "
                              f"{err.colno}); the model folder is damaged: copy it again") from None
    except OSError as err:
        raise CheckpointError(f"{folder!r}: cannot read {name} ({err.strerror or err})") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{folder!r}: {name} holds a {type(data).__name__}, not a JSON object; the model "
                              f"folder is damaged: copy it again")
    return data


def check_folder(folder: str, trust_remote_code: bool = False) -> None:
    """Refuse, with one CheckpointError line, a local model folder that would run its own code (unless
    trusted), holds only pickle weights, or whose config.json does not fit its safetensors weights."""
    config = read_json(folder, "config.json")
    model_type = config.get("model_type")
    if model_type != HALSTED_MODEL_TYPE:
        if trust_remote_code:
            return  # the caller asked for the folder's own classes: their sizes are theirs to know
        named = _code_named(folder)
        if named:
            raise CheckpointError(f"{folder!r} needs its own code to load ({named}, model type {model_type!r}); "
                                  f"{trust_option_hint()}")
        raise CheckpointError(f"{folder!r} is not a Halsted model: config.json's model_type is {model_type!r}, "
                              f"not {HALSTED_MODEL_TYPE!r}")
    headers = {name: read_header(folder, name) for name in weight_files(folder)}
    check_sizes(folder, config, headers)


def _code_named(folder: str) -> str:
    """'config.json's auto_map names modeling_x.Y' for the first file that asks for the folder's code."""
    for name in CODE_CONFIGS:
        auto_map = read_json(folder, name).get("auto_map")
        if auto_map:
            first = next(iter(auto_map.values())) if isinstance(auto_map, dict) else auto_map
            first = first[0] if isinstance(first, (list, tuple)) and first else first
            return f"{name}'s auto_map names {str(first)[:80]}"
    return ""


def weight_files(folder: str) -> List[str]:
    """The safetensors files of the folder, or one line: pickles only (named, with the converter), or none."""
    names = sorted(os.listdir(folder))
    safe = [n for n in names if n.endswith(".safetensors")]
    if safe:
        return safe
    pickles = [n for n in names if n.endswith(PICKLE_SUFFIXES)]
    if pickles:
        raise CheckpointError(f"{folder!r} holds pickle weights ({', '.join(pickles[:3])}), which can run code "
                              f"as they load; Halsted loads only safetensors (model.safetensors). If you trust "
                              f"the file, convert it once: halsted convert-weights {folder}")
    raise CheckpointError(f"{folder!r} has no weights file (model.safetensors): it is not a complete saved model")


def read_header(folder: str, name: str) -> Dict[str, dict]:
    """The tensors a safetensors file declares ({name: {"dtype", "shape", "data_offsets"}}), checked to
    cover the file's data exactly; a header that cannot be read is a damaged file."""
    path = os.path.join(folder, name)

    def damaged(why: str) -> CheckpointError:
        return CheckpointError(f"{folder!r}: the weights file {name} cannot be read ({why}); it is damaged or "
                               f"incomplete: download or copy the model again")

    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise damaged(f"{size} bytes, shorter than a header")
        (n,) = struct.unpack("<Q", head)
        if n > min(MAX_HEADER_BYTES, size - 8):
            raise damaged(f"its header claims {n} bytes, the file has {size}")
        try:
            header = json.loads(f.read(n))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise damaged("the header is not JSON") from None
    if not isinstance(header, dict):
        raise damaged("the header is not a JSON object")
    header.pop("__metadata__", None)
    end = 0
    for key, spec in header.items():
        try:
            shape, (start, stop) = [int(d) for d in spec["shape"]], spec["data_offsets"]
            expected = math.prod(shape) * _DTYPE_BYTES[spec["dtype"]]
        except (KeyError, TypeError, ValueError):
            raise damaged(f"tensor {key!r} is described wrongly") from None
        if stop - start != expected or min(shape, default=0) < 0:
            raise damaged(f"tensor {key!r} of shape {shape} takes {stop - start} bytes, not {expected}")
        end = max(end, stop)
    if end != size - 8 - n:
        raise damaged(f"the header describes {end} bytes of tensors, the file holds {size - 8 - n}")
    return header


def _config_ints(config, path: str = "") -> Iterator[Tuple[str, int]]:
    """Every integer in a config dict (nested configs and lists too), by its dotted key; the taxonomy's
    names hold no sizes."""
    if isinstance(config, bool):
        return
    if isinstance(config, int):
        yield path, config
    elif isinstance(config, dict):
        for key, value in config.items():
            if key != "taxonomy" and key not in UNUSED_SIZES:
                yield from _config_ints(value, f"{path}.{key}" if path else str(key))
    elif isinstance(config, (list, tuple)):
        for value in config:
            yield from _config_ints(value, path)


def check_sizes(folder: str, config: dict, headers: Dict[str, Dict[str, dict]]) -> None:
    """config.json against the weights: first each number against the largest saved dimension (so laying the
    model out stays cheap), then the model laid out on the meta device against every saved tensor."""
    saved = {key: spec["shape"] for header in headers.values() for key, spec in header.items()}
    if not saved:
        raise CheckpointError(f"{folder!r}: the weights file holds no tensors")
    largest = max((max(shape) for shape in saved.values() if shape), default=1)
    # a video tower has no temporal module: its config's temporal_* defaults size nothing that was saved
    temporal = any(".temporal." in f".{k}" or k.startswith("temporal") for k in saved)
    for key, value in _config_ints(config):
        if not temporal and key.rsplit(".", 1)[-1].startswith("temporal_"):
            continue
        if value > largest:
            raise CheckpointError(f"{folder!r}: config.json sets {key} = {value}, but no tensor in the weights "
                                  f"has a dimension above {largest}: the config does not belong to these weights")
    expected, tied = _layout(folder, config)
    wrong = [(k, list(shape), saved[k]) for k, shape in expected.items() if k in saved and list(shape) != saved[k]]
    if wrong:
        key, want, have = wrong[0]
        raise CheckpointError(f"{folder!r}: config.json makes {key} {want}, the weights hold {have} ({len(wrong)} "
                              f"tensor(s) differ): the config does not belong to these weights")
    # Names alone cannot be compared one to one (transformers renames some at load, e.g. VideoMAE's q_bias to
    # query.bias), but the number of values can: a missing or extra layer changes it.
    want = sum(math.prod(shape) for k, shape in expected.items() if k not in tied)
    have = sum(math.prod(shape) for k, shape in saved.items() if k not in tied)  # a file may keep a tied copy
    if want != have:
        raise CheckpointError(f"{folder!r}: config.json describes a model of {want:,} parameters, the weights hold "
                              f"{have:,}: the config does not belong to these weights")


def _layout(folder: str, config: dict):
    """({tensor name: shape}, tied names) of the model config.json describes, built on the meta device."""
    import torch

    from .configuration_halsted import HalstedConfig
    from .modeling_halsted import HalstedForConditionalGeneration

    try:
        cfg = HalstedConfig.from_dict(config)
        with torch.device("meta"):
            model = HalstedForConditionalGeneration(cfg)
    except (ValueError, TypeError, KeyError, AttributeError, AssertionError) as err:
        line = " ".join(str(err).split())[:300] or type(err).__name__
        raise CheckpointError(f"{folder!r}: config.json does not describe a buildable "
                              f"Halsted model ({line})") from None
    tied = getattr(model, "_tied_weights_keys", None) or {}
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}, set(tied)
