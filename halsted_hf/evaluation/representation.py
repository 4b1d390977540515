"""The paper's Fig. 3: 2-D maps of encoder clip features and decoder final-layer features, coloured by procedure.

UMAP (umap-learn) when installed; otherwise PCA, and the figure's title says so. Either way the same
points are mapped for both panels, so the two pictures compare.
"""

from __future__ import annotations

from typing import Sequence, Tuple

import numpy as np


def embed_2d(x: np.ndarray, seed: int = 0) -> Tuple[np.ndarray, str]:
    """(N, D) -> ((N, 2), method). UMAP with a neighbourhood that fits small N; PCA if umap is missing
    or N is too small for it. A frame encoder's (N, T, D) per-frame embeddings are averaged over the frames
    first: the frozen tower's view of each clip, before the temporal module."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 3:
        x = x.mean(axis=1)
    if len(x) >= 6:
        try:
            import umap  # noqa: F401  (umap-learn)

            reducer = umap.UMAP(n_components=2, n_neighbors=max(2, min(15, len(x) - 1)), random_state=seed,
                                init="random" if len(x) < 20 else "spectral", n_jobs=1)
            return np.asarray(reducer.fit_transform(x)), "UMAP"
        except ImportError:
            pass
    centred = x - x.mean(0, keepdims=True)
    if len(x) < 2:
        return np.zeros((len(x), 2)), "PCA"
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    coords = centred @ vt[:2].T
    if coords.shape[1] < 2:
        coords = np.pad(coords, ((0, 0), (0, 2 - coords.shape[1])))
    return coords, "PCA (umap-learn not installed)" if len(x) >= 6 else "PCA (too few points for UMAP)"


def plot_representations(encoder: np.ndarray, decoder: np.ndarray, procedures: Sequence[str], path: str,
                         seed: int = 0, title: str = "") -> str:
    """Two panels (encoder | decoder), one colour per procedure; writes a PNG at `path`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    procs = np.asarray(list(procedures), dtype=object)
    names = sorted(set(procs))
    cmap = plt.get_cmap("tab20")
    fig, axes = plt.subplots(1, 2, figsize=(11, 5))
    for ax, feats, label in ((axes[0], encoder, "frozen encoder features (mean over frames)"),
                             (axes[1], decoder, "Halsted final decoder layer (mean over sequence)")):
        xy, method = embed_2d(feats, seed)
        for k, name in enumerate(names):
            sel = procs == name
            ax.scatter(xy[sel, 0], xy[sel, 1], s=10, color=cmap(k % 20), label=name or "(unknown)", alpha=0.8)
        ax.set_title(f"{label}\n{method}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5), title="procedure")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
