"""The model card (README.md of a Hub repo): tasks, tags, intended use and limits."""

from __future__ import annotations

import ast
import os
import re
from dataclasses import dataclass
from typing import List, Optional

from ..core.io import atomic_write_text
from .taxonomy import load_taxonomy

# No pipeline_tag: the Hub's names (video-text-to-text, ...) are tasks transformers' pipeline() cannot run for this
# model; its pipeline is the custom "surgical-video-mapping" (config.json's custom_pipelines).
CARD_TEMPLATE = """---
{front_matter}
---

# Halsted {size_name}

Halsted maps surgery from video: given a short surgical clip ({vframes} frames) and a task instruction, it
generates surgical component tags. It is {tower_summary} and a
{layers}-layer prefix-LM decoder (width {hidden}, {heads} heads, M = {slots} instruction slots), after
Kiyasseh et al., "A vision-language model and platform for temporally mapping surgery from video".

```python
from transformers import AutoModel, AutoProcessor, pipeline
model = AutoModel.from_pretrained("{repo}", trust_remote_code=True).eval()  # float32 on a CPU
processor = AutoProcessor.from_pretrained("{repo}", trust_remote_code=True)
inputs = processor(videos="clip.mp4", text="map suturing activity")  # or (T, H, W, 3) uint8 frames, PIL frames
out = model.generate(**inputs)
print(out.tags, out.scores)  # [{{'phase': 'driving', 'proficiency': 'high'}}], [{{'phase': 0.93, ...}}]
mapper = pipeline("surgical-video-mapping", model="{repo}", trust_remote_code=True)
timeline = mapper("operation.mp4", mapping="suturing")  # the whole video, as a Timeline dict
```
(With `halsted_hf` installed and imported, `trust_remote_code` is not needed: the package's own code runs.)

## Tasks and tags ({taxonomy_name})
| task | instruction | tags (number of categories) |
| --- | --- | --- |
{task_rows}

Decoding is greedy, constrained by each task's grammar (a task emits only its own tags and valid
categories), and returns a probability for every emitted category.

## Model
- Encoder: {tower_name}, hidden {vhidden}, {vlayers} layers, {vframes} frames of {vsize}x{vsize}, frozen: {frozen}.
- Parameters: encoder {enc_params}, decoder {dec_params}.

- Data: {data}

## Intended use and limits
Research on surgical video understanding, and assistance to surgeons reviewing their own videos. It is
**not a medical device and not for clinical decision-making**. Accuracy depends on the data it was
trained on; {evaluation}
{extra}
"""

NOT_EVALUATED = ("this card has no measured accuracy yet: `halsted evaluate --model DIR --atlas ATLAS --write-card` "
                 "writes it here (and into the metadata's model-index). Until then, nothing is known about it.")
EVALUATED = "check the evaluation below before relying on any output."


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
        tower_summary = (f"a frozen per-frame image encoder ({v.model_type}) with a "
                         f"{config.temporal_num_layers}-layer temporal transformer over frame embeddings and their "
                         f"differences")
    else:
        tower_name, tower_summary = "VideoMAE", "a frozen VideoMAE encoder (mean-pooled clip embedding)"
    record = _training_record(out_dir)
    text = CARD_TEMPLATE.format(front_matter=front_matter(taxonomy.name, record, (record or {}).get("base_model")),
        data=data_statement(record),
        evaluation=EVALUATED if extra and "halsted-evaluate: begin" in extra else NOT_EVALUATED,
        tower_name=tower_name, tower_summary=tower_summary,
        size_name=f"(decoder {config.hidden_size}x{config.num_hidden_layers})", layers=config.num_hidden_layers,
        hidden=config.hidden_size, heads=config.num_attention_heads, slots=config.num_instruction_slots,
        repo=repo or "path/to/this/folder", taxonomy_name=taxonomy.name, task_rows=rows,
        vhidden=v.hidden_size, vlayers=v.num_hidden_layers, vframes=v.num_frames, vsize=v.image_size,
        frozen="yes" if config.freeze_encoder else "no (trained with the decoder)", enc_params=enc,
        dec_params=dec, extra=("\n" + extra.strip() + "\n") if extra else "")
    path = os.path.join(out_dir, "README.md")
    return atomic_write_text(path, text)


def _training_record(folder: str) -> Optional[dict]:
    import json

    path = os.path.join(folder, "training_record.json")
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def data_statement(record: Optional[dict]) -> str:
    """The card's "Data:" line (the dashboard and the Space show it) from the training record."""
    if not record:
        return ("not recorded: no training_record.json beside the weights (a model `halsted train` did not write, "
                "e.g. a converted starting model, has not been trained on surgery)")
    clips = record.get("clips") or {}
    tasks = ", ".join(f"{task} {n}" for task, n in clips.items())
    return (f"{len(record.get('train_videos') or [])} training and {len(record.get('val_videos') or [])} validation "
            f"videos (training_record.json names them); training clips per task: {tasks or 'not recorded'}")


def front_matter(taxonomy_name: str, record: Optional[dict] = None, base_model: Optional[str] = None,
                 model_index: Optional[list] = None) -> str:
    """The card's YAML metadata (without the --- lines). Written by hand (no YAML library in the Hub set):
    every value is a plain word or quoted."""
    lines = ["library_name: transformers", "license: apache-2.0", "tags:",
             *(f"- {t}"
               for t in ("surgery", "video", "surgical-video-mapping", "halsted", f"taxonomy-{taxonomy_name}")),
             "metrics:", "- accuracy", "- roc_auc"]
    datasets = sorted(set((record or {}).get("datasets") or []))
    if datasets:
        lines += ["datasets:", *(f"- {_quoted(d)}" for d in datasets)]
    if base_model:
        lines += [f"base_model: {_quoted(base_model)}"]
    if model_index:
        lines += model_index
    return "\n".join(lines)


def _quoted(text: str) -> str:
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"') + '"'


def model_index(name: str, report: dict, dataset: str) -> List[str]:
    """YAML lines of a `model-index` from an evaluation report (`halsted evaluate`): the pooled accuracy of each
    task on `dataset` (the atlas evaluated)."""
    _, run = next(iter(report["runs"].items()))
    lines = ["model-index:", f"- name: {_quoted(name)}", "  results:"]
    for t in run["pooled"]["tasks"]:
        accuracy = (t.get("accuracy") or [None])[0]
        if accuracy is None:
            continue
        lines += ["  - task:", "      type: surgical-video-mapping", f"      name: {_quoted(t['task'])}",
                  "    dataset:", f"      name: {_quoted(dataset)}", "      type: halsted-atlas",
                  "    metrics:", "    - type: accuracy", f"      value: {round(100 * float(accuracy), 2)}",
                  f"      name: {_quoted(t['task'] + ' accuracy (%)')}"]
    return lines


def set_front_matter(card_path: str, lines: str) -> str:
    """Replace the card's YAML metadata block with `lines` (the body is kept)."""
    with open(card_path, encoding="utf-8") as f:
        text = f.read()
    body = re.sub(r"\A---\n.*?\n---\n", "", text, flags=re.S)
    return atomic_write_text(card_path, f"---\n{lines}\n---\n" + body)


def record_evaluation(card_path: str, config, report: dict, dataset: str) -> str:
    """After `halsted evaluate --model DIR --write-card` wrote its results block: the metadata gets the
    evaluation's model-index and the limits section points at the results."""
    taxonomy = load_taxonomy(config.taxonomy)
    folder = os.path.dirname(os.path.abspath(card_path))
    record = _training_record(folder)
    set_front_matter(card_path, front_matter(taxonomy.name, record, (record or {}).get("base_model"),
                                             model_index(os.path.basename(folder), report, dataset)))
    with open(card_path, encoding="utf-8") as f:
        text = f.read()
    return atomic_write_text(card_path, text.replace(NOT_EVALUATED, EVALUATED))


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
