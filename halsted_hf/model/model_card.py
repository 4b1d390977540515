"""The model card (README.md of a Hub repo): tasks, tags, intended use and limits."""

from __future__ import annotations

import os
from typing import Optional

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
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path
