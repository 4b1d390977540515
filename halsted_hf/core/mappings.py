"""Checking a mapping name against what a model maps. Torch-free on purpose (the CLI and the platform's
database layer import it before any model).

A model's taxonomy declares its mapping plans (model/plans.py); the Halsted taxonomy's are suturing, dissection,
full and procedure. This module knows names only: which plans exist is the model's.
"""

from __future__ import annotations

from typing import Iterable, Optional

from .errors import TaskError


def quote_short(text, limit: int = 60) -> str:
    """`text` quoted for an error line, cut to `limit` characters: a name typed or sent by anyone (5 MB of
    it) must not come back whole in the message, and a control character must not reach the terminal."""
    text = str(text)
    shown = repr(text[:limit])
    return shown + (f" (cut; {len(text):,} characters)" if len(text) > limit else "")


# what the database keeps of a mapping's name (platform/tables.py: Job.mapping, Result.mapping)
NAME_LENGTH = 20


def check_mapping_name(mapping: str) -> str:
    """`mapping` if it can be a plan's name (1 to NAME_LENGTH characters), else a TaskError."""
    if not isinstance(mapping, str) or not 0 < len(mapping) <= NAME_LENGTH:
        raise TaskError(f"Unknown mapping {quote_short(mapping)}: a mapping is named by 1 to {NAME_LENGTH} "
                        f"characters (the model's plans: `halsted map --help`).")
    return mapping


def check_mapping(mapping: str, plans: Iterable[str], model: Optional[str] = None) -> str:
    """`mapping` if it is one of `plans` (the model's plan names), else a TaskError naming them."""
    names = list(plans)
    if mapping not in names:
        whose = f"the model {model}" if model else "this model"
        raise TaskError(f"Unknown mapping {quote_short(mapping)}: {whose} maps {', '.join(names)}.")
    return mapping
