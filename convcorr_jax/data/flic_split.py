"""A validation split of FLIC train by movie: no film has frames on both sides.

    train_idx, val_idx = movie_split(movienames, fraction=0.15, seed=0)

FLIC's train and test splits share their 30 films, so frames of one film are strongly correlated; a random frame
split would leak near-duplicates into validation. Movies are taken in a seeded random order and added to the
validation side while it stays at or below `fraction` of the frames (the first movie is always taken), so the
split is deterministic in (movie names, fraction, seed).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from convcorr_jax.core.errors import InputError


def movie_split(movies: Sequence[str] | np.ndarray, fraction: float = 0.15, seed: int = 0
                ) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, validation indices) int64 into `movies` (one movie name per frame), split by movie.

    Args:
        movies: N movie names, one per frame.
        fraction: the validation side's largest share of the frames, in (0, 1) (the first movie is taken even when
            it alone exceeds it).
        seed: seed of the random movie order.

    Returns:
        (train, val): int64 [N_train] and int64 [N_val] sorted frame indices; together they cover 0..N-1 once.

    Raises:
        InputError: for a fraction outside (0, 1) or fewer than two movies.
    """
    if not 0.0 < fraction < 1.0:
        raise InputError("movie_split", "fraction", "a number in (0, 1)", fraction)
    movies = np.asarray(list(movies), dtype=object)
    names, counts = np.unique(movies.astype(str), return_counts=True)
    if len(names) < 2:
        raise InputError("movie_split", "movies", "frames of at least two movies", len(names))
    order = np.random.default_rng(seed).permutation(len(names))
    target, taken = fraction * len(movies), 0
    val: list[str] = []
    for i in order:
        if not val or taken + counts[i] <= target:
            val.append(names[i])
            taken += counts[i]
    is_val = np.isin(movies.astype(str), val)
    return np.flatnonzero(~is_val).astype(np.int64), np.flatnonzero(is_val).astype(np.int64)
