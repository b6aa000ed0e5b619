"""The argument checks of the matchers (`convcorr_jax.correspondence.matching`: `match`, `match_best`): the image
sizes, the feature columns and the OT weights, each refused with one InputError naming its field. Values are checked
where they are concrete; traced ones (inside a caller's jit / vmap) pass unchecked.
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from convcorr_jax.core.errors import InputError, check
from convcorr_jax.core.tracing import is_traced

__all__ = ["check_image_sizes", "check_features", "check_weights"]


def check_image_sizes(src_hw: Sequence[int] | np.ndarray, trg_hw: Sequence[int] | np.ndarray, source: str = "match"
                      ) -> tuple[tuple[int, int], tuple[int, int]]:
    """The (h, w) image sizes as tuples of ints, the static (hashable) form jit needs (a list [h, w] was a JAX
    "non-hashable static argument" error), each h, w >= 1 (an empty image gave RHM's ZeroDivisionError, a negative
    size a silently wrong Hough space).

    Args:
      src_hw, trg_hw: (h, w) pixels of the source and target images.
      source: the function that received them, for the error.

    Returns:
      ((h, w), (h, w)) ints.

    Raises:
      InputError: a size that is not two integers >= 1, naming src_hw or trg_hw.
    """
    out = []
    for field, hw in (("src_hw", src_hw), ("trg_hw", trg_hw)):
        try:
            out.append((int(hw[0]), int(hw[1])))
            ok = len(hw) == 2 and min(out[-1]) >= 1
        except (TypeError, ValueError, IndexError):
            ok = False
        check(ok, source, field, "(h, w) image pixels, h >= 1 and w >= 1", hw)
    return out[0], out[1]


def check_features(source: str, fs: jax.Array | np.ndarray, ft: jax.Array | np.ndarray) -> None:
    """Refuse concrete feature columns with a NaN / inf (`match_best`'s jitted OT scorer gave all-NaN confidences
    and node 0 as every best match, RHM spread a NaN column's votes to other columns' confidences, silently). A jax
    array is checked where it lives (one flag per column comes back), a numpy one by numpy.

    Args:
      source: the function that received them, for the error.
      fs, ft: source and target feature columns [..., N, C] (numpy, jax or traced: traced ones pass).

    Returns:
      None.

    Raises:
      InputError: naming fs or ft, the first column with a NaN / inf and how many there are.
    """
    for field, f in (("fs", fs), ("ft", ft)):
        if not is_traced(f):
            xp = jnp if isinstance(f, jax.Array) else np
            bad = np.argwhere(~np.asarray(xp.all(xp.isfinite(xp.asarray(f)), axis=-1)))
            if len(bad):
                n, at = len(bad), ", ".join(str(int(i)) for i in bad[0])
                raise InputError(source, field, "finite features (no NaN/inf)",
                                 f"NaN or inf in {field}[{at}] ({n} such column{'s' if n > 1 else ''} in all)")


def check_weights(source: str, field: str, weights: jax.Array | np.ndarray | None) -> None:
    """Refuse concrete OT weights [..., N] with a NaN / inf or no entry > 0 in a row (`marginal` divides by the
    row's sum: such a row made every confidence NaN and every best match node 0, silently); traced ones pass.

    Args:
      source, field: where the weights came from, for the error.
      weights: [..., N] node weights, or None (uniform).

    Returns:
      None.

    Raises:
      InputError: naming `field`, the first such row and how many there are.
    """
    if weights is None or is_traced(weights):
        return
    w = np.asarray(weights, np.float64).reshape(-1, np.shape(weights)[-1])
    finite = np.all(np.isfinite(w), axis=1)
    bad = np.flatnonzero(~finite | ~np.any(w > 0, axis=1))
    if len(bad):
        what = "NaN or inf" if not finite[bad[0]] else "no weight > 0"
        raise InputError(source, field, "finite OT weights with at least one > 0 in each row",
                         f"{what} in row {int(bad[0])} ({len(bad)} such row{'s' if len(bad) > 1 else ''} in all)")
