"""The model card (README.md of a Hub repo): tasks, tags, intended use and limits."""

from __future__ import annotations

import ast
import os
import re
from dataclasses import dataclass
from typing import Optional

from ..io import atomic_write_text
from .taxonomy import load_taxonomy

CARD_TEMPLATE = """---
library_name: transformers
pipeline_tag: video-text-to-text
license: apache-2.0
tags:
- surgery
- video
- surgical-video-mapping
- halsted
---

# Halsted {size_name}

Halsted maps surgery from video: given a short surgical clip ({vframes} frames) and a task instruction, it
generates surgical component tags. It is {tower_summary} and a
{layers}-layer prefix-LM decoder (width {hidden}, {heads} heads, M = {slots} instruction slots), after
Kiyasseh et al., "A vision-language model and platform for temporally mapping surgery from video".

```python
import halsted_hf  # or: AutoModel.from_pretrained(path, trust_remote_code=True) without the package
from transformers import AutoModel, AutoProcessor
model = AutoModel.from_pretrained("{repo}").eval()
processor = AutoProcessor.from_pretrained("{repo}")
inputs = processor(videos=frames, text="map suturing activity")  # frames: (T, H, W, 3) uint8
out = model.generate(**inputs)
print(out.tags, out.scores)  # [{{'phase': 'driving', 'proficiency': 'high'}}], [{{'phase': 0.93, ...}}]
```

## Tasks and tags ({taxonomy_name})
| task | instruction | tags (number of categories) |
| --- | --- | --- |
{task_rows}

Decoding is greedy, constrained by each task's grammar (a task emits only its own tags and valid
categories), and returns a probability for every emitted category.

## Model
- Encoder: {tower_name}, hidden {vhidden}, {vlayers} layers, {vframes} frames of {vsize}x{vsize}, frozen: {frozen}.
- Parameters: encoder {enc_params}, decoder {dec_params}.

## Intended use and limits
Research on surgical video understanding, and assistance to surgeons reviewing their own videos. It is
**not a medical device and not for clinical decision-making**. Accuracy depends on the data it was
trained on; check the evaluation below before relying on any output.
{extra}
"""


def _count(module) -> str:
    n = sum(p.numel() for p in module.parameters())
    return f"{n / 1e9:.2f} B" if n >= 1e9 else f"{n / 1e6:.1f} M"


def write_model_card(out_dir: str, config, extra: Optional[str] = None, repo: Optional[str] = None,
                     model=None) -> str:
    taxonomy = load_taxonomy(config.taxonomy)
    rows = "\n".join(
        f"| {t.name} | {t.instruction} | " + ", ".join(f"{tag} ({len(c)})" for tag, c in t.tags.items()) + " |"
        for t in taxonomy.tasks)
    v = config.vision_config
    enc = dec = "see config.json"
    if model is not None:
        enc = _count(model.video_encoder)
        dec_n = sum(p.numel() for n, p in model.named_parameters() if not n.startswith("video_encoder."))
        dec = f"{dec_n / 1e6:.1f} M"
    if getattr(config, "vision_kind", "video") == "frame":
        tower_name = f"{v.model_type} frame encoder (per-frame pooled embeddings, then a trainable temporal module)"
        tower_summary = (f"a frozen per-frame image encoder ({v.model_type}) with a {config.temporal_num_layers}-layer "
                         f"temporal transformer over frame embeddings and their differences")
    else:
        tower_name, tower_summary = "VideoMAE", "a frozen VideoMAE encoder (mean-pooled clip embedding)"
    text = CARD_TEMPLATE.format(tower_name=tower_name, tower_summary=tower_summary,
        size_name=f"(decoder {config.hidden_size}x{config.num_hidden_layers})", layers=config.num_hidden_layers,
        hidden=config.hidden_size, heads=config.num_attention_heads, slots=config.num_instruction_slots,
        repo=repo or "path/to/this/folder", taxonomy_name=taxonomy.name, task_rows=rows,
        vhidden=v.hidden_size, vlayers=v.num_hidden_layers, vframes=v.num_frames, vsize=v.image_size,
        frozen="yes" if config.freeze_encoder else "no (trained with the decoder)", enc_params=enc,
        dec_params=dec, extra=("\n" + extra.strip() + "\n") if extra else "")
    path = os.path.join(out_dir, "README.md")
    return atomic_write_text(path, text)


# ---- reading a card back: what the dashboard and the Space say about the model behind a result ----
@dataclass
class CardSummary:
    """What a page says about the model that produced a result (read from its folder's README.md)."""

    name: str
    revision: str
    trained_on: str  # the card's "Data:" line, or a sentence saying the card does not say
    accuracy: str  # the card's measured accuracy in words, or a sentence saying it has none
    synthetic: bool  # trained on synthetic video only: every page labels its results so
    link: Optional[str]  # the card on the Hub, when the model is a Hub id
    text: str  # the card itself (Markdown, front matter removed), for pages to show in full

    @property
    def headline(self) -> str:
        label = " — trained on synthetic video, not real surgery" if self.synthetic else ""
        return f"Model: {self.name} (revision {self.revision}){label}"


SYNTHETIC_LABEL = "Trained on synthetic video, not real surgery: its tags on real surgery are meaningless."


def _plain(text: str) -> str:
    return re.sub(r"[*`]", "", text).strip()


def _evaluated_accuracy(card: str) -> Optional[str]:
    """From the results block `halsted evaluate --model` writes (evaluation/card.py): the task table's
    accuracy column and the number of test videos."""
    lines = card.splitlines()
    head = next((i for i, line in enumerate(lines) if line.startswith("| task |") and "accuracy %" in line), None)
    if head is None:
        return None
    cols = [c.strip() for c in lines[head].strip("|").split("|")]
    parts = []
    for line in lines[head + 2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        number = re.match(r"-?\d+(?:\.\d+)?", cells[cols.index("accuracy %")]) if len(cells) == len(cols) else None
        if number:
            parts.append(f"{cells[0]} {float(number.group()):.0f}%")
    videos = re.search(r"Test videos: (\d+)", card)
    where = f" on {videos.group(1)} held-out test video{'s' if videos.group(1) != '1' else ''}" if videos else ""
    return f"accuracy {', '.join(parts)}{where}" if parts else None


def _accuracy(card: str) -> str:
    evaluated = _evaluated_accuracy(card)
    if evaluated:
        return evaluated
    for line in card.splitlines():
        if "accuracy" not in line.lower():
            continue
        dicts = []
        for found in re.findall(r"\{[^{}]*\}", line):
            try:
                value = ast.literal_eval(found)
            except (ValueError, SyntaxError):
                continue
            if isinstance(value, dict) and all(isinstance(v, (int, float)) for v in value.values()):
                dicts.append(value)
        if dicts:
            text = ", ".join(f"{task} {v:.0%}" for task, v in dicts[0].items())
            where = re.sub(r"[\[\]']", "", _plain(line.split(":", 1)[0].lstrip("- "))) if ":" in line else "measured"
            chance = (" (majority class: " + ", ".join(f"{v:.0%}" for v in dicts[1].values()) + ")"
                      if len(dicts) > 1 else "")
            return f"accuracy {text} on {where[0].lower() + where[1:]}{chance}"
    return "the card states no measured accuracy"


def summarise_card(name: str, revision: str, folder: Optional[str]) -> CardSummary:
    """The card of the model `name` (as a Timeline records it) read from `folder` (None: not here)."""
    card = ""
    if folder and os.path.isfile(os.path.join(folder, "README.md")):
        with open(os.path.join(folder, "README.md"), encoding="utf-8") as f:
            card = f.read()
    body = re.sub(r"\A---\n.*?\n---\n", "", card, flags=re.S).strip()
    trained = next((re.sub(r"\s*\([^)]*\)", "", _plain(line.split(":", 1)[1])) for line in body.splitlines()
                    if line.lstrip("- ").lower().startswith("data:")), None)
    synthetic = bool(re.search(r"trained on synthetic", body, re.I))
    link = f"https://huggingface.co/{name}" if re.fullmatch(r"[\w.-]+/[\w.-]+", name or "") else None
    if not card:
        return CardSummary(name, revision, "not known here (the model's card is not on this machine)",
                           "not known here", False, link, "")
    return CardSummary(name, revision, trained or "the card does not say",
                       _accuracy(body), synthetic, link, body)


def find_model_folder(name: str, folders) -> Optional[str]:
    """The folder among `folders` (the configured model, the bundled demo model) whose name is the one
    a Timeline recorded (LoadedModel names a local model by its folder's base name)."""
    for folder in folders:
        if folder and os.path.isdir(folder) and os.path.basename(os.path.normpath(folder)) == name:
            return folder
    return None
