"""Global image descriptors for the ridge experiments.

The paper's descriptor is AlexNet's fc6 vector, l2-normalised. Here a `Featurizer` is any function
uint8 images [N, H, W, 3] -> float32 [N, D]; `backbone_featurizers` builds them from a backbone's AlexNet-role
taps (`backbone.roles`), `pixel_featurizer` the "RGB + ridge" baseline.
"""

from __future__ import annotations

import hashlib
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import numpy.typing as npt

from convcorr_jax.backbones.base import Backbone, Params
from convcorr_jax.backbones.registry import resolve_tap
from convcorr_jax.core.errors import check_shape
from convcorr_jax.core.parallel import pad_rows
from convcorr_jax.features.extract import extract_fitted, input_size_for

Featurizer = Callable[[np.ndarray], np.ndarray]


def l2_normalise(F: npt.ArrayLike, eps: float = 1e-12) -> np.ndarray:
    """Rows of F [N, D] scaled to unit Euclidean norm (all-zero rows stay zero).

    The numpy one of three: `features.hyperpixel.l2_normalise` (jax, the last axis of any shape, floor 1e-6) and
    `core.knn.l2_normalize` (jax, the last axis, x's dtype, floor 1e-12) scale jax arrays, and differ from this in
    rounding and in rows of a norm below their floor.

    Args:
      F: [N, D] descriptors (array-like, any float or int dtype).
      eps: floor on the norm a row is divided by.

    Returns:
      float32 [N, D], each nonzero row of unit norm.

    Raises:
      InputError: F not [N, D] (a single descriptor [D] is one row: F[None]).
    """
    check_shape(F, "N D", "l2_normalise", "F", note="(one descriptor per row)")
    F = np.asarray(F, np.float32)
    return F / np.maximum(np.linalg.norm(F, axis=1, keepdims=True), eps)


@jax.jit(static_argnums=1)
def _resize_batch(images: jax.Array, size: tuple[int, int]) -> jax.Array:
    n, _, _, c = images.shape
    return jax.image.resize(images.astype(jnp.float32), (n, size[0], size[1], c), "linear", antialias=True)


def resize_images(images: npt.ArrayLike, size: tuple[int, int]) -> np.ndarray:
    """Antialiased bilinear resize of uint8 images [N, H, W, 3] to [N, h, w, 3] uint8.

    Args:
      images: uint8 RGB [N, H, W, 3] (array-like), one size for the batch.
      size: (h, w) output size in pixels.

    Returns:
      uint8 [N, h, w, 3], rounded and clipped to 0..255; the images unchanged (as uint8) when already (h, w).

    Raises:
      InputError: images not uint8 [N, H, W, 3] (float images in [0, 1] would become black).
    """
    check_shape(images, "N H W 3", "resize_images", "images", dtype="uint8", note="(0..255 RGB)")
    images = np.asarray(images)
    if tuple(images.shape[1:3]) == tuple(size):
        return images.astype(np.uint8)
    out = np.asarray(_resize_batch(jnp.asarray(images), tuple(int(s) for s in size)))
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def pixel_featurizer(size: tuple[int, int] = (32, 32)) -> Featurizer:
    """The "RGB + ridge" baseline: images resized to `size`, pixels scaled to [0, 1], flattened [N, h*w*3].

    Args:
      size: (h, w) the images are resized to (`resize_images`).

    Returns:
      A `Featurizer`: uint8 RGB [N, H, W, 3] -> float32 [N, h*w*3] in [0, 1] (no l2 normalisation).
    """

    def featurize(images):
        return resize_images(images, size).reshape(len(images), -1).astype(np.float32) / 255.0

    return featurize


def input_size(backbone: Backbone, taps: Sequence[str], hw: tuple[int, int]) -> tuple[int, int]:
    """`hw` if every spatial tap of `taps` has a non-empty map at that input size, else the backbone's
    `default_input_size` (e.g. CaffeNet's pool5 is empty below 67 px).

    Args:
      backbone: the feature network (its `geometry` names the spatial taps).
      taps: tap names; those without geometry (e.g. fc layers) are not checked.
      hw: (h, w) input size in pixels.

    Returns:
      (h, w) ints: the input size to feed.
    """
    hw = (int(hw[0]), int(hw[1]))
    ok = all(min(backbone.grid_size(t, hw)) >= 1 for t in taps if t in backbone.geometry)
    default = backbone.default_input_size
    return hw if ok else (default[0], default[1])


def _digest(images: np.ndarray) -> tuple:
    return images.shape, hashlib.blake2b(images.tobytes(), digest_size=16).hexdigest()


GAP = "gap"  # pseudo-role: the network's global average pool (see `backbone_featurizers`)


def _gap_tap(backbone: Backbone) -> tuple[str, bool]:
    """(tap, average over space?) of the "gap" role: the network's own global-average-pool tap where it has one
    (MobileNetV2's `pool`, 1280-d), else the pool5-role map averaged over its rows and columns.

    Args:
      backbone: the feature network (its `taps`, `geometry` and `roles`).

    Returns:
      (tap name, mean): mean is True when the tap's [h, w, C] map is to be averaged over rows and columns.
    """
    if "pool" in backbone.taps and "pool" not in backbone.geometry:
        return "pool", False
    return backbone.roles["pool5"], True


def describe_gap(backbone: Backbone) -> str:
    """Words naming the global-average-pool descriptor of `backbone` (its tap).

    Args:
      backbone: the feature network (`_gap_tap`).

    Returns:
      A str, "global average pool of <tap>" (averaged here) or "global average pool (<tap>)" (the network's own).
    """
    tap, mean = _gap_tap(backbone)
    return f"global average pool of {tap}" if mean else f"global average pool ({tap})"


def backbone_featurizers(backbone: Backbone, params: Params, roles: Sequence[str] = ("pool5", GAP),
                         batch_size: int = 32) -> dict[str, Featurizer]:
    """l2-normalised flattened descriptors, one featurizer per AlexNet role (`backbone.roles[role]`), tap of the
    backbone (`registry.resolve_tap`) or "gap".

    A tap is computed when first asked for, together with the other roles' taps that run at the same input size
    (one `features.extract.extract_fitted` pass; taps that need a fixed input size, such as Caffe fc6/fc7 at
    227 px, run on the images resized to it), and memoised by the images' bytes for the featurizers' lifetime,
    so images described for several tasks or roles pass through the network once per input size. Images are fed
    at their own size unless a spatial tap would be empty there (`input_size`). Batches are padded to a multiple
    of `batch_size` so that one compiled shape serves every call.

    Razavian et al.'s descriptor is fc6 = ReLU(W vec(pool5)), a position-dependent map of the flattened pool5
    map; "pool5" (the flattened map, e.g. AlexNet 6 x 6 x 256 at 224 px) is its input and the honest stand-in
    when no fc weights are at hand. "gap" (`_gap_tap`) averages the layout away by construction; "fc6" is the
    network's fc6 where its weights hold one (MobileNetV2: its global average pool).

    Args:
      backbone, params: the feature network and its parameters.
      roles: AlexNet role names (keys of `backbone.roles`, e.g. "pool5", "fc6"), the backbone's own tap names
        (e.g. "block13") or "gap".
      batch_size: images per network pass.

    Returns:
      dict role -> `Featurizer`: uint8 RGB [N, H, W, 3] (one size per call) -> float32 [N, D] unit rows, D the
      tap's flattened size (its channels for "gap"); a featurizer refuses images that are not uint8 [N, H, W, 3]
      (InputError).

    Raises:
      InputError: a name that is neither "gap", a role nor a tap of the backbone (naming them).
    """
    roles = tuple(roles)
    spec = {r: _gap_tap(backbone) if r == GAP else (resolve_tap(backbone, r, "roles"), False) for r in roles}
    taps = tuple(dict.fromkeys(t for t, _ in spec.values()))
    memo: dict[tuple, np.ndarray] = {}

    def raw(images, tap: str) -> np.ndarray:
        check_shape(images, "N H W 3", "backbone_featurizers", "images", dtype="uint8", note="(0..255 RGB)")
        images = np.ascontiguousarray(images)  # not cast: [0, 1] floats would be described as black images
        key = _digest(images)
        if (key, tap) not in memo:
            x = resize_images(images, input_size(backbone, taps, images.shape[1:3]))
            hw = x.shape[1:3]
            at = input_size_for(backbone, params, tap, hw)
            same = [t for t in taps if input_size_for(backbone, params, t, hw) == at]
            x, n = pad_rows(x, batch_size)
            out = extract_fitted(backbone, params, x, same, batch_size, progress=False)
            memo.update({(key, t): np.asarray(out[t])[:n] for t in same})
        return memo[(key, tap)]

    def featurizer(tap: str, mean: bool) -> Featurizer:
        def describe(images) -> np.ndarray:
            f = raw(images, tap)
            f = f.mean(axis=(1, 2)) if mean else f
            return l2_normalise(f.reshape(len(f), -1))

        return describe

    return {r: featurizer(*spec[r]) for r in roles}
