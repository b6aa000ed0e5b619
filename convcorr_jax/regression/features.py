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

from convcorr_jax.errors import check
from convcorr_jax.features.extract import extract_fitted, input_size_for

Featurizer = Callable[[np.ndarray], np.ndarray]


def l2_normalise(F, eps: float = 1e-12) -> np.ndarray:
    """Rows of F [N, D] scaled to unit Euclidean norm (all-zero rows stay zero)."""
    F = np.asarray(F, np.float32)
    return F / np.maximum(np.linalg.norm(F, axis=1, keepdims=True), eps)


@jax.jit(static_argnums=1)
def _resize_batch(images: jax.Array, size: tuple[int, int]) -> jax.Array:
    n, _, _, c = images.shape
    return jax.image.resize(images.astype(jnp.float32), (n, size[0], size[1], c), "linear", antialias=True)


def resize_images(images, size: tuple[int, int]) -> np.ndarray:
    """Antialiased bilinear resize of uint8 images [N, H, W, 3] to [N, h, w, 3] uint8."""
    images = np.asarray(images)
    check(images.ndim == 4 and images.shape[-1] == 3, "images", "shape", "[N, H, W, 3]", images.shape)
    if tuple(images.shape[1:3]) == tuple(size):
        return images.astype(np.uint8)
    out = np.asarray(_resize_batch(jnp.asarray(images), tuple(int(s) for s in size)))
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def pixel_featurizer(size: tuple[int, int] = (32, 32)) -> Featurizer:
    """The "RGB + ridge" baseline: images resized to `size`, pixels scaled to [0, 1], flattened [N, h*w*3]."""

    def featurize(images):
        return resize_images(images, size).reshape(len(images), -1).astype(np.float32) / 255.0

    return featurize


def input_size(backbone, taps: Sequence[str], hw: tuple[int, int]) -> tuple[int, int]:
    """`hw` if every spatial tap of `taps` has a non-empty map at that input size, else the backbone's
    `default_input_size` (e.g. CaffeNet's pool5 is empty below 67 px)."""
    hw = (int(hw[0]), int(hw[1]))
    ok = all(min(backbone.grid_size(t, hw)) >= 1 for t in taps if t in backbone.geometry)
    return hw if ok else tuple(backbone.default_input_size)


def _digest(images: np.ndarray) -> tuple:
    return images.shape, hashlib.blake2b(images.tobytes(), digest_size=16).hexdigest()


def backbone_featurizers(backbone, params, roles: Sequence[str] = ("pool5", "fc6"),
                         batch_size: int = 32) -> dict[str, Featurizer]:
    """l2-normalised flattened descriptors, one featurizer per AlexNet role (`backbone.roles[role]`).

    A tap is computed when first asked for, together with the other roles' taps that run at the same input size
    (one `features.extract.extract_fitted` pass; taps that need a fixed input size, such as Caffe fc6/fc7 at
    227 px, run on the images resized to it), and memoised by the images' bytes for the featurizers' lifetime,
    so images described for several tasks or roles pass through the network once per input size. Images are fed at their own size unless a spatial tap would be empty there (`input_size`).
    Batches are padded to a multiple of `batch_size` so that one compiled shape serves every call.

    The paper's descriptor is the global "fc6" role: AlexNet's fc6 (4096-d, at its fixed 227 px input) or, for
    MobileNetV2, the 1280-d global average pool. "pool5" is a flattened spatial map (MobileNetV2 block16: 160
    channels x (H/32) x (W/32)); it keeps the layout explicitly, so it is a different, easier descriptor, to be
    reported as such and never in place of the global vector.
    """
    roles = tuple(roles)
    taps = tuple(dict.fromkeys(backbone.roles[r] for r in roles))
    memo: dict[tuple, np.ndarray] = {}

    def describe(images, tap: str) -> np.ndarray:
        images = np.ascontiguousarray(images, np.uint8)
        key = _digest(images)
        if (key, tap) not in memo:
            x = resize_images(images, input_size(backbone, taps, images.shape[1:3]))
            hw = x.shape[1:3]
            at = input_size_for(backbone, params, tap, hw)
            same = [t for t in taps if input_size_for(backbone, params, t, hw) == at]
            n = len(x)
            pad = -n % batch_size
            if pad:
                x = np.concatenate([x, np.repeat(x[-1:], pad, 0)])
            out = extract_fitted(backbone, params, x, same, batch_size, progress=False)
            memo.update({(key, t): l2_normalise(np.asarray(out[t])[:n].reshape(n, -1)) for t in same})
        return memo[(key, tap)]

    return {r: (lambda images, t=backbone.roles[r]: describe(images, t)) for r in roles}
