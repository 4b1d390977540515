"""Monte-Carlo cross-validation with whole videos held out.

Each fold draws, from its own seeded generator, `test` videos and `val` videos at random; the rest train.
Within a fold no video is in two sets; across folds a video may be tested more than once (Monte-Carlo,
not k-fold: that is the paper's protocol).
"""

from __future__ import annotations

from typing import Dict, List, Sequence

import numpy as np

from ..core.errors import HalstedError


def monte_carlo_splits(video_ids: Sequence[str], folds: int = 5, val: int = 1, test: int = 1,
                       seed: int = 0) -> List[Dict[str, List[str]]]:
    """-> one {"train": [...], "val": [...], "test": [...]} per fold (sorted video ids)."""
    videos = sorted(set(str(v) for v in video_ids))
    if folds < 1 or val < 0 or test < 0:
        raise HalstedError(f"need folds >= 1 and non-negative val/test counts, got {folds}, {val}, {test}")
    if len(videos) < val + test + 1:
        raise HalstedError(f"the atlas has {len(videos)} video(s): too few to hold out {val} validation and "
                           f"{test} test video(s) and still train; lower --val-videos/--test-videos or add videos")
    out = []
    for k in range(folds):
        rng = np.random.default_rng([int(seed), k])
        order = [videos[i] for i in rng.permutation(len(videos))]
        out.append({"train": sorted(order[test + val:]), "val": sorted(order[test:test + val]),
                    "test": sorted(order[:test])})
    return out
