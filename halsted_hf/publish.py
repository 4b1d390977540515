"""Publishing to the Hugging Face Hub: a model repo (for `AutoModel.from_pretrained`) and the Space.

Both work the same way: `prepare_*` writes into a folder exactly the files the repo should hold,
then `push_folder` creates the repo and uploads that folder in one commit. A dry run is
`prepare_*` alone, so what a dry run shows is what a push uploads.

- Model repo: the checkpoint is loaded with `load_pretrained` (so a broken one fails here, not for
  the user who downloads it) and re-saved with `save_hub_layout`: weights, config, tokenizer,
  processor, the model code flat (for `trust_remote_code=True`) and the card, whose code sample
  names the repo id.
- Space repo: space/app.py, README.md (front matter), requirements.txt, examples, and the
  `halsted_hf` package itself, copied next to app.py so the Space runs exactly this version
  (the Space's pip installs only third-party packages; see space/requirements.txt).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import List, Optional

from .core.errors import HalstedError
from .core.io import atomic_dir
from .model.hub import PACKAGE_DIR

SPACE_DIR = PACKAGE_DIR.parent / "space"
SPACE_FILES = ("app.py", "README.md", "requirements.txt", "packages.txt")
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")
# Never shipped: caches and bytecode.
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".DS_Store", "*.part*")


class PublishError(HalstedError):
    """A repo id, folder or Hub call that cannot be used for publishing."""


def check_repo_id(repo_id: str) -> str:
    if not repo_id or not _REPO_ID.match(repo_id) or ".." in repo_id:
        raise PublishError(f"{repo_id!r} is not a Hub repo id: use ORG/NAME (letters, digits, '-', '_', '.')")
    return repo_id


def _check_out_dir(out_dir: str) -> Path:
    """A dry run must show only what would be uploaded: OUT must be new or an empty folder."""
    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise PublishError(f"{out} exists and is not an empty folder: give a new path for the dry run")
    return out


@contextlib.contextmanager
def _staged(out_dir: str):
    """Yield a temporary sibling of `out_dir` to fill; it becomes `out_dir` only if the block
    succeeds (io.atomic_dir), so a failure leaves no half-written folder."""
    with atomic_dir(str(_check_out_dir(out_dir).absolute())) as stage:
        yield Path(stage)


def _fill_card_repo(card_path: Path, repo_id: str) -> None:
    """Point the card's code samples (`from_pretrained("...")`, `pipeline(..., model="...")`) at the repo id."""
    text = card_path.read_text(encoding="utf-8")
    text = re.sub(r'from_pretrained\("[^"]*"', f'from_pretrained("{repo_id}"', text)
    text = re.sub(r'(pipeline\("surgical-video-mapping", model=)"[^"]*"', rf'\1"{repo_id}"', text)
    card_path.write_text(text, encoding="utf-8")


def prepare_model(model_dir: str, out_dir: str, repo_id: str) -> Path:
    """Write the model repo's files into the empty folder `out_dir`; -> that folder.

    The card is the checkpoint's own README.md (its training and evaluation notes survive) or, if
    it has none, a fresh one; either way its code sample names `repo_id`."""
    from .model.hub import save_hub_layout
    from .model.registry import create
    from .model.model_card import write_model_card

    check_repo_id(repo_id)
    if not os.path.isdir(model_dir):
        raise PublishError(f"no model folder at {model_dir!r}: pass a folder written by `halsted train` "
                           "or `halsted init-model`")
    _check_out_dir(out_dir)
    model, processor = create(model_dir)
    with _staged(out_dir) as stage:
        save_hub_layout(model, processor, str(stage))
        source_card = Path(model_dir) / "README.md"
        if source_card.is_file():
            shutil.copyfile(source_card, stage / "README.md")
        else:
            write_model_card(str(stage), model.config, repo=repo_id, model=model)
        _fill_card_repo(stage / "README.md", repo_id)
    return Path(out_dir)


def set_front_matter_models(readme: Path, models: List[str]) -> None:
    """Replace the `models:` list of a Space README's YAML front matter."""
    text = readme.read_text(encoding="utf-8")
    if not text.startswith("---\n") or "\n---" not in text[4:]:
        raise PublishError(f"{readme} has no YAML front matter (--- ... ---): restore space/README.md")
    end = text.index("\n---", 4)
    head, body = text[4:end], text[end:]
    lines, out, skipping = head.split("\n"), [], False
    for line in lines:
        if line.startswith("models:"):
            skipping = True
            out.append("models:")
            out += [f"- {m}" for m in models]
            continue
        if skipping and (line.startswith("- ") or line.startswith("  -")):
            continue
        skipping = False
        out.append(line)
    if not any(line.startswith("models:") for line in lines):
        out += ["models:"] + [f"- {m}" for m in models]
    readme.write_text("---\n" + "\n".join(out) + body, encoding="utf-8")


def prepare_space(out_dir: str, model_repo: Optional[str] = None, space_dir: Optional[str] = None) -> Path:
    """Write the Space repo's files into the empty folder `out_dir`; -> that folder.

    `model_repo` (ORG/NAME), if given, becomes the README's `models:` list; the Space then loads it
    through its HALSTED_MODEL variable (set by `push_space`)."""
    src = Path(space_dir) if space_dir else SPACE_DIR
    missing = [f for f in SPACE_FILES if not (src / f).is_file()]
    if missing:
        raise PublishError(f"{src} lacks {missing}: publish the Space from a source checkout of Halsted")
    if model_repo:
        check_repo_id(model_repo)
    with _staged(out_dir) as stage:
        for name in SPACE_FILES:
            shutil.copyfile(src / name, stage / name)
        if (src / "examples").is_dir():
            shutil.copytree(src / "examples", stage / "examples", ignore=_IGNORE)
        # The package travels with the Space; a Hub model replaces the bundled demo weights.
        extra_ignore = ["demo-model"] if model_repo else []
        shutil.copytree(PACKAGE_DIR, stage / "halsted_hf",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".DS_Store", *extra_ignore))
        if model_repo:
            set_front_matter_models(stage / "README.md", [model_repo])
    return Path(out_dir)


def _explain_hub_error(err: BaseException, repo_id: str) -> PublishError:
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    name = type(err).__name__
    low = text.lower()
    if name == "OfflineModeIsEnabled" or "offline" in low:
        return PublishError(f"cannot push {repo_id}: the Hub is unreachable in offline mode (HF_HUB_OFFLINE=1); "
                            "unset it on a machine with network, or use --dry-run OUT")
    if "401" in low or "403" in low or "unauthorized" in low or "forbidden" in low:
        return PublishError(f"the Hub refused the token for {repo_id} ({text}): use a token with write access "
                            "to that organisation (--token or HF_TOKEN)")
    if isinstance(err, (ConnectionError, OSError, TimeoutError)) or "connect" in low or "connect" in name.lower() \
            or "resolve" in low or "timed out" in low:
        return PublishError(f"cannot reach the Hub to push {repo_id} ({text}): check the network, "
                            "or use --dry-run OUT to write the files locally")
    return PublishError(f"pushing {repo_id} failed ({name}: {text}); nothing is half-published: "
                        "a repo changes only when its one upload commit succeeds. Retry, or use --dry-run OUT")


def resolve_token(token: Optional[str], repo_id: str) -> str:
    """The token to push with (--token, HF_TOKEN, or the stored login), checked before any work."""
    from huggingface_hub import get_token

    token = token or os.environ.get("HF_TOKEN") or get_token()
    if not token:
        raise PublishError(f"no Hugging Face token to push {repo_id}: pass --token, set HF_TOKEN, or run "
                           "`hf auth login`; or use --dry-run OUT to write the files locally")
    return token


def push_folder(folder: Path, repo_id: str, repo_type: str = "model", private: bool = False,
                token: Optional[str] = None, space_variables: Optional[List[dict]] = None,
                space_hardware: Optional[str] = None) -> str:
    """Create the repo (if needed) and upload `folder` as one commit; -> the repo's URL."""
    from huggingface_hub import HfApi

    check_repo_id(repo_id)
    api = HfApi(token=resolve_token(token, repo_id))
    kwargs = {}
    if repo_type == "space":
        kwargs = dict(space_sdk="gradio", space_variables=space_variables, space_hardware=space_hardware)
    try:
        url = api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True, **kwargs)
        api.upload_folder(repo_id=repo_id, folder_path=str(folder), repo_type=repo_type,
                          commit_message=f"Publish with `halsted publish{'-space' if repo_type == 'space' else ''}`")
    except Exception as err:  # noqa: BLE001 - every Hub failure becomes one clear line
        raise _explain_hub_error(err, repo_id) from err
    return str(url)


def publish_model(model_dir: str, repo_id: str, private: bool = False, token: Optional[str] = None) -> str:
    """Prepare in a temporary folder and push it: -> the repo's URL."""
    token = resolve_token(token, check_repo_id(repo_id))
    with tempfile.TemporaryDirectory(prefix="halsted-publish-") as tmp:
        folder = prepare_model(model_dir, os.path.join(tmp, "repo"), repo_id)
        return push_folder(folder, repo_id, "model", private=private, token=token)


def publish_space(repo_id: str, model_repo: Optional[str] = None, private: bool = False,
                  token: Optional[str] = None, hardware: Optional[str] = None) -> str:
    """Prepare the Space in a temporary folder and push it: -> the Space's URL."""
    token = resolve_token(token, check_repo_id(repo_id))
    variables = [{"key": "HALSTED_MODEL", "value": model_repo}] if model_repo else None
    with tempfile.TemporaryDirectory(prefix="halsted-space-") as tmp:
        folder = prepare_space(os.path.join(tmp, "space"), model_repo=model_repo)
        return push_folder(folder, repo_id, "space", private=private, token=token,
                           space_variables=variables, space_hardware=hardware)


def list_files(folder: Path) -> List[str]:
    """Relative paths of every file under `folder`, sorted (what the dry run would upload)."""
    folder = Path(folder)
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
