"""Category colours shared by the timeline figure (plots.py), the overlay video and the Space.

Colours belong to categories, not to rows: the taxonomy's categories, in taxonomy order, get hues spread
around the colour wheel by the golden angle, so "cautery" has one colour on every row, page, overlay and
Space, and two categories never share one. A category outside the taxonomy (an imported timeline) gets a
colour from a hash of its name: still the same everywhere. Kept apart from plots.py (plotly, the Timeline)
so the overlay in mapping/ can use it without an import cycle.
"""

from __future__ import annotations

import colorsys
import hashlib
from typing import Dict, Optional, Tuple

from .model.taxonomy import HALSTED_TAXONOMY, Taxonomy

GOLDEN = 0.618033988749895


def _hex(index_or_hash: float, shade: int) -> str:
    # Three lightness levels cycle with the hue so neighbours in the taxonomy differ in both.
    r, g, b = colorsys.hls_to_rgb(index_or_hash % 1.0, (0.42, 0.58, 0.34)[shade % 3], 0.62)
    return "#{:02x}{:02x}{:02x}".format(round(r * 255), round(g * 255), round(b * 255))


_PALETTES: Dict[str, Dict[str, str]] = {}


def _palette(taxonomy: Taxonomy) -> Dict[str, str]:
    key = taxonomy.name + "\0" + repr([taxonomy.task_of_tag(t).tags[t] for t in taxonomy.all_tags])
    if key in _PALETTES:
        return _PALETTES[key]
    colours = _PALETTES[key] = {}
    for tag in taxonomy.all_tags:
        for category in taxonomy.task_of_tag(tag).tags[tag]:
            if category not in colours:
                colours[category] = _hex(len(colours) * GOLDEN, len(colours))
    return colours


def category_colour(category: str, taxonomy: Optional[Taxonomy] = None) -> str:
    """The category's colour as #rrggbb, the same wherever it is drawn."""
    found = _palette(taxonomy or HALSTED_TAXONOMY).get(category)
    if found is not None:
        return found
    h = int(hashlib.sha256(category.encode("utf-8")).hexdigest()[:8], 16)
    return _hex(h / 0xFFFFFFFF, h)


def category_rgb(category: str, taxonomy: Optional[Taxonomy] = None) -> Tuple[int, int, int]:
    c = category_colour(category, taxonomy)
    return int(c[1:3], 16), int(c[3:5], 16), int(c[5:7], 16)
