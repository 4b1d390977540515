"""Which tags a model reads better than its majority rate: the model folder's reliability record.

The record (`reliability.json` beside the weights, written from the card's evaluation on held-out videos):

    {"unit": "video", "videos": 12, "command": "halsted evaluate ...",
     "tags": {"phase": {"reliable": true, "accuracy": 0.957, "majority": 0.61, "difference": [0.347, 0.30, 0.39],
                        "reason": "above its majority rate: +34.7 points (30.0 to 39.0) on 12 held-out videos"},
              "extent": {"reliable": false, "reason": "not above its majority rate on 12 held-out videos: ..."}}}

A tag is reliable when the 95% CI of (accuracy - majority rate) lies above 0. Mapping copies the record into
the Timeline (top-level `reliability`, the same object), so a stored Timeline says which of its tags were not
reliable whatever model folder the machine reading it has. A folder without the file, or a Timeline without
the field: every tag counts as reliable and nothing claims it ("no reliability record").

Pure Python (no torch): the dashboard, the Space and the CLI read it before anything heavy loads.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Tuple

from ..core.errors import CheckpointError

RELIABILITY_FILE = "reliability.json"
FIELD = "reliability"  # the Timeline's top-level key
NOT_RELIABLE = "not reliable"
NO_RECORD = "no reliability record"


@dataclass(frozen=True)
class Reliability:
    """A model's reliability record. `tags`: {tag: {"reliable": bool, "reason": str, ...}} as the file has it;
    `recorded` is False when there is no record (every tag then counts as reliable, none is claimed)."""

    tags: Dict[str, Dict[str, Any]] = field(default_factory=dict)
    unit: Optional[str] = None
    videos: Optional[int] = None
    command: Optional[str] = None
    recorded: bool = False
    extra: Dict[str, Any] = field(default_factory=dict)  # any other top-level keys of the file, kept as they came

    def is_reliable(self, tag: str) -> bool:
        """False only for a tag the record marks not reliable."""
        entry = self.tags.get(tag)
        return entry is None or entry.get("reliable") is not False

    def reason(self, tag: str) -> str:
        """Why the tag is (not) reliable, as the record words it."""
        if not self.recorded:
            return NO_RECORD
        entry = self.tags.get(tag)
        if entry is None:
            return f"{NO_RECORD} for {tag}"
        return str(entry.get("reason") or ("reliable" if self.is_reliable(tag) else NOT_RELIABLE))

    @property
    def unreliable(self) -> Tuple[str, ...]:
        """The tags marked not reliable, in the record's order."""
        return tuple(t for t in self.tags if not self.is_reliable(t))

    def label(self, tag: str) -> str:
        """The tag's name as pages, tables and the overlay write it: "extent (not reliable)" or "extent"."""
        return tag if self.is_reliable(tag) else f"{tag} ({NOT_RELIABLE})"

    def to_dict(self) -> dict:
        data: Dict[str, Any] = dict(self.extra)
        data["tags"] = {t: dict(e) for t, e in self.tags.items()}
        for key in ("unit", "videos", "command"):
            if getattr(self, key) is not None:
                data[key] = getattr(self, key)
        return data

    @classmethod
    def from_dict(cls, data: Any, where: str) -> "Reliability":
        """A record from its JSON object; a one-line CheckpointError naming `where` when it is not one."""
        tags = data.get("tags") if isinstance(data, dict) else None
        if not isinstance(tags, dict) or not all(isinstance(e, dict) for e in tags.values()):
            raise CheckpointError(f"{where} is not a reliability record: it needs \"tags\": {{tag: {{\"reliable\": "
                                  f"true|false, \"reason\": ...}}}}; write it again from the model's evaluation "
                                  f"or delete it")
        bad = [t for t, e in tags.items() if not isinstance(e.get("reliable"), bool)]
        if bad:
            raise CheckpointError(f"{where}: \"reliable\" must be true or false for {', '.join(map(str, bad))}; "
                                  f"write it again from the model's evaluation or delete it")
        videos = data.get("videos")
        return cls(tags={str(t): dict(e) for t, e in tags.items()}, unit=_text(data.get("unit")),
                   videos=int(videos) if isinstance(videos, (int, float)) else None,
                   command=_text(data.get("command")), recorded=True,
                   extra={k: v for k, v in data.items() if k not in ("tags", "unit", "videos", "command")})


NONE = Reliability()  # no record: nothing marked, nothing claimed


def _text(value) -> Optional[str]:
    return None if value is None else str(value)


def load(model_dir: Optional[str]) -> Reliability:
    """The record of a model folder; NONE when `model_dir` is not a folder (a Hub id, a preset) or has no
    record. A file that is not a record is a one-line CheckpointError (before any mapping starts)."""
    path = os.path.join(model_dir, RELIABILITY_FILE) if model_dir and os.path.isdir(model_dir) else None
    if path is None or not os.path.isfile(path):
        return NONE
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise CheckpointError(f"{path} cannot be read ({err}); write it again from the model's evaluation "
                              f"or delete it") from err
    return Reliability.from_dict(data, path)


def for_model(model: Optional[str]) -> Reliability:
    """The record of the model a mapping runs: a registered name, a folder, None ($HALSTED_MODEL, else the
    demo model), resolved as the mapping resolves it (halsted_hf/model/registry.py)."""
    from ..model.registry import resolve

    return load(resolve(model))


def of_timeline(timeline) -> Reliability:
    """The record a Timeline carries (`timeline.extra["reliability"]`; or a Timeline's JSON object, as stored);
    NONE for one mapped without a record or before records existed. A damaged field counts as no record: the
    Timeline itself still reads."""
    data = (timeline if isinstance(timeline, dict) else getattr(timeline, "extra", {})).get(FIELD)
    if data is None:
        return NONE
    try:
        return Reliability.from_dict(data, "the timeline's reliability field")
    except CheckpointError:
        return NONE


def stamp(timeline, record: Reliability):
    """Copy the model's record into the Timeline (JSON: top-level `reliability`); nothing when there is none."""
    if record.recorded:
        timeline.extra[FIELD] = record.to_dict()
    return timeline
