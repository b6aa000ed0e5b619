"""Annotated image pairs of the pair-list correspondence benchmarks (PF-PASCAL, SPair-71k): one container.

Each benchmark lists (source image, target image) pairs with the keypoints the two share; a method moves the source
keypoints into the target and PCK counts those within alpha * L of the true target keypoint, L per pair: the
target image's max(height, width) (PF-PASCAL, as HPF and SCOT) or max(w, h) of the target's object box
(SPair-71k). `pair_norms` gives L.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from convcorr_jax.core.errors import InputError

NORMS = ("image", "box")  # L = max(h, w) of the target image, or max(w, h) of the target's object box
TITLES = {"pf_pascal": "PF-PASCAL", "spair": "SPair-71k"}  # each benchmark's name, by its `data` value


@dataclasses.dataclass(frozen=True, eq=False)
class KeypointPairs:
    """Pairs of a benchmark split.

    images: the image paths, each once; pairs: int64 [P, 2] (source, target) indices into `images`; src, trg:
    float64 [P, K, 2] 0-based (x, y) pixels of the keypoints the pair shares, keypoint k of src matching keypoint k
    of trg, NaN rows pad a pair with fewer than K; category: [P] object class of each pair; names: [P] the pair's
    id in the release (annotation file or csv row); trg_box: float64 [P, 4] (x0, y0, x1, y1) the target's object
    box as the release gives it; norm: "image" or "box", which L the benchmark's PCK uses (`pair_norms`)."""

    images: tuple[str, ...]
    pairs: np.ndarray
    src: np.ndarray
    trg: np.ndarray
    category: np.ndarray
    names: tuple[str, ...]
    trg_box: np.ndarray
    norm: str

    def __post_init__(self):
        p = len(self.pairs)
        if self.norm not in NORMS:
            raise InputError("KeypointPairs", "norm", f"one of {list(NORMS)}", self.norm)
        for field, shape in (("src", (p, None, 2)), ("trg", self.src.shape), ("trg_box", (p, 4))):
            got = getattr(self, field).shape
            if len(got) != len(shape) or any(s is not None and g != s for g, s in zip(got, shape)):
                raise InputError("KeypointPairs", field, f"shape {shape} (one row per pair)", got)
        if len(self.category) != p or len(self.names) != p:
            raise InputError("KeypointPairs", "category/names", f"{p} entries (one per pair)",
                             (len(self.category), len(self.names)))

    def select(self, keep: np.ndarray) -> KeypointPairs:
        """The pairs where `keep` [P] (bool or indices), with the images they use."""
        idx = np.arange(len(self.pairs))[keep]
        used, inv = np.unique(self.pairs[idx], return_inverse=True)
        return dataclasses.replace(self, images=tuple(self.images[i] for i in used),
                                   pairs=inv.reshape(-1, 2).astype(np.int64), src=self.src[idx], trg=self.trg[idx],
                                   category=self.category[idx], names=tuple(self.names[i] for i in idx),
                                   trg_box=self.trg_box[idx])

    def first_per_category(self, n: int | None = None, categories=None) -> KeypointPairs:
        """The first `n` pairs (release order) of each category in `categories` (None: every category, all pairs);
        InputError for a category with no pair here, naming the ones present."""
        present = list(dict.fromkeys(self.category.tolist()))
        if categories is not None:
            unknown = [c for c in categories if c not in present]
            if unknown:
                raise InputError("pairs", "classes", f"categories with pairs in this split ({', '.join(present)})",
                                 ", ".join(unknown))
        keep = np.zeros(len(self.pairs), bool)
        for c in (present if categories is None else categories):
            keep[np.flatnonzero(self.category == c)[:n]] = True
        return self.select(keep)


def pad_points(rows: list[np.ndarray]) -> np.ndarray:
    """Point sets [K_i, 2] -> float64 [P, max K_i, 2], NaN rows after each set's own points.

    Args:
        rows: P arrays [K_i, 2] of (x, y) pixel points.

    Returns:
        float64 [P, K, 2], K = max K_i (0 when there are no rows): row p holds set p's points first, NaN after.
    """
    k = max((len(r) for r in rows), default=0)
    out = np.full((len(rows), k, 2), np.nan)
    for p, r in enumerate(rows):
        out[p, :len(r)] = r
    return out


def pair_norms(pairs: KeypointPairs, image_hw: np.ndarray) -> np.ndarray:
    """L [P] in target pixels, the PCK threshold size of each pair (module docstring).

    Args:
        pairs: the benchmark's pairs. Norm "image": L = max(h, w) of the target image; norm "box": L = max(x1 - x0,
            y1 - y0) of `pairs.trg_box` (no +1, as HPF and SCOT).
        image_hw: [N, 2] (height, width) of `pairs.images` (used for norm "image" only).

    Returns:
        float64 [P] L, one per pair.

    Raises:
        InputError: for a pair whose L is not a positive finite number.
    """
    if pairs.norm == "image":
        L = np.max(np.asarray(image_hw, np.float64)[pairs.pairs[:, 1]], axis=-1)
    else:
        b = pairs.trg_box
        L = np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1])
    bad = np.flatnonzero(~(np.isfinite(L) & (L > 0)))
    if bad.size:
        raise InputError(pairs.names[bad[0]], "trg_bndbox" if pairs.norm == "box" else "image size",
                         "a positive PCK threshold size (x1 > x0 or y1 > y0)", L[bad[0]])
    return L

