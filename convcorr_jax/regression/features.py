"""Global image descriptors for the ridge experiments, and square crops for look-back / object boxes.

The paper's descriptor is AlexNet's fc6 vector, l2-normalised. Here a `Featurizer` is any function
uint8 images [N, H, W, 3] -> float32 [N, D]; `backbone_featurizers` builds them from a backbone's role taps
(default for MobileNetV2: the flattened "pool5" role map, see there why), `pixel_featurizer` the "RGB + ridge"
baseline.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from convcorr_jax.errors import check

Featurizer = Callable[[np.ndarray], np.ndarray]


def l2_normalise(F, eps: float = 1e-12) -> np.ndarray:
    """Rows of F [N, D] scaled to unit Euclidean norm (all-zero rows stay zero)."""
    F = np.asarray(F, np.float32)
    return F / np.maximum(np.linalg.norm(F, axis=1, keepdims=True), eps)


def _resize_batch(images: jax.Array, size: tuple[int, int]) -> jax.Array:
    n, _, _, c = images.shape
    return jax.image.resize(images.astype(jnp.float32), (n, size[0], size[1], c), "linear", antialias=True)


_resize_jit = jax.jit(_resize_batch, static_argnums=1)


def resize_images(images, size: tuple[int, int]) -> np.ndarray:
    """Antialiased bilinear resize of uint8 images [N, H, W, 3] to [N, h, w, 3] uint8."""
    images = np.asarray(images)
    check(images.ndim == 4 and images.shape[-1] == 3, "images", "shape", "[N, H, W, 3]", images.shape)
    if tuple(images.shape[1:3]) == tuple(size):
        return images.astype(np.uint8)
    out = np.asarray(_resize_jit(jnp.asarray(images), tuple(size)))
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def pixel_featurizer(size: tuple[int, int] = (32, 32)) -> Featurizer:
    """The "RGB + ridge" baseline: images resized to `size`, pixels scaled to [0, 1], flattened [N, h*w*3]."""

    def featurize(images):
        return resize_images(images, size).reshape(len(images), -1).astype(np.float32) / 255.0

    return featurize


def backbone_featurizers(backbone, params, roles: tuple[str, ...] = ("pool5", "fc6"),
                         input_size: tuple[int, int] | None = None, batch_size: int = 32) -> dict[str, Featurizer]:
    """l2-normalised descriptors, one featurizer per AlexNet role (the backbone's `roles[role]` tap, flattened),
    sharing one forward pass per image batch (the last batch's taps are kept for the other roles).

    Images are resized to `input_size` (None: fed at their own size, which MobileNetV2 accepts; AlexNet needs its
    `default_input_size`). For MobileNetV2, "fc6" is the 1280-d global average pool and "pool5" the flattened
    stride-32 map (block16: 160 channels x (H/32) x (W/32)). AlexNet's fc6 is a linear map of its flattened pool5
    followed by a ReLU, so spatial layout stays linearly recoverable from it; a global average pool discards it,
    which is why the flattened pool5-role map is the closer analogue for MobileNetV2 (see the demo's Table 1).
    """
    taps = tuple(backbone.roles[r] for r in roles)
    memo: dict = {}

    def run(images) -> dict:
        imgs = resize_images(images, tuple(input_size)) if input_size else np.asarray(images, np.uint8)
        key = (imgs.shape, hash(imgs.tobytes()))
        if memo.get("key") != key:
            out = _extract(backbone, params, imgs, taps, batch_size)
            memo.clear()
            memo.update(key=key, out={t: l2_normalise(np.asarray(out[t]).reshape(len(imgs), -1)) for t in taps})
        return memo["out"]

    return {r: (lambda images, t=t: run(images)[t]) for r, t in zip(roles, taps)}


def backbone_featurizer(backbone, params, role: str = "pool5", input_size: tuple[int, int] | None = None,
                        batch_size: int = 32) -> Featurizer:
    """One role of `backbone_featurizers`."""
    return backbone_featurizers(backbone, params, (role,), input_size, batch_size)[role]


def pretrained_featurizers(weights: str | None = None, roles: tuple[str, ...] = ("pool5", "fc6"),
                           input_size: tuple[int, int] | None = None, batch_size: int = 32) -> dict[str, Featurizer]:
    """`backbone_featurizers` for the real ImageNet MobileNetV2 (or the weight file `weights`)."""
    from convcorr_jax.weights import load_pretrained

    backbone, params = load_pretrained("mobilenet_v2", path=weights)
    return backbone_featurizers(backbone, params, roles, input_size, batch_size)


def pretrained_featurizer(weights: str | None = None, role: str = "pool5", input_size: tuple[int, int] | None = None,
                          batch_size: int = 32) -> Featurizer:
    """One role of `pretrained_featurizers`."""
    return pretrained_featurizers(weights, (role,), input_size, batch_size)[role]


def _extract(backbone, params, images: np.ndarray, taps: tuple[str, ...], batch_size: int) -> dict:
    """Taps for all images, batched: `features.extract.extract` when present, else `backbone.apply` per batch
    (the last batch padded to the batch size so one compiled shape serves all)."""
    try:
        from convcorr_jax.features.extract import extract
    except ImportError:
        extract = None
    if extract is not None:
        return extract(backbone, params, images, taps=taps, batch_size=batch_size)
    out = {t: [] for t in taps}
    for i in range(0, len(images), batch_size):
        b = images[i : i + batch_size]
        pad = batch_size - len(b) if len(images) > batch_size else 0
        x = backbone.preprocess(np.concatenate([b, np.repeat(b[-1:], pad, 0)]) if pad else b)
        res = backbone.apply(params, x, taps=taps)
        for t in taps:
            out[t].append(np.asarray(res[t])[: len(b)])
    return {t: np.concatenate(v) for t, v in out.items()}


def random_featurizer(dim: int = 256, size: tuple[int, int] = (16, 16), seed: int = 0) -> Featurizer:
    """A cheap stand-in for tests: ReLU of a fixed random projection of downsampled pixels, l2-normalised."""
    rng = np.random.default_rng(seed)
    P = rng.normal(size=(size[0] * size[1] * 3, dim)).astype(np.float32) / np.sqrt(size[0] * size[1] * 3)
    pix = pixel_featurizer(size)

    def featurize(images):
        x = pix(images)
        return l2_normalise(np.maximum((x - 0.5) @ P, 0.0))

    return featurize


# --------------------------------------------------------------------------------------------- square crops


def square_boxes(points: np.ndarray, margin, min_side: float = 8.0) -> np.ndarray:
    """Square boxes [N, 3] = (cx, cy, side) around points [N, K, 2]: centred on the points' bounding box, side =
    max(box w, h) + 2 * margin (margin scalar or [N]) in pixels, at least `min_side`."""
    p = np.asarray(points, np.float64)
    lo, hi = np.nanmin(p, axis=1), np.nanmax(p, axis=1)
    c = (lo + hi) / 2
    side = np.maximum(np.max(hi - lo, axis=1) + 2 * np.asarray(margin, np.float64), min_side)
    return np.concatenate([c, side[:, None]], axis=1)


def to_crop(points: np.ndarray, boxes: np.ndarray, out_size: int) -> np.ndarray:
    """Image (x, y) [N, K, 2] -> crop pixel coordinates of `crop_images(images, boxes, out_size)`."""
    b = np.asarray(boxes, np.float64)[:, None, :]
    return (np.asarray(points, np.float64) - (b[..., :2] - b[..., 2:] / 2)) * out_size / b[..., 2:] - 0.5


def from_crop(points: np.ndarray, boxes: np.ndarray, out_size: int) -> np.ndarray:
    """Inverse of `to_crop`."""
    b = np.asarray(boxes, np.float64)[:, None, :]
    return (np.asarray(points, np.float64) + 0.5) * b[..., 2:] / out_size + (b[..., :2] - b[..., 2:] / 2)


def _crop_one(image, box, out_size):
    cx, cy, side = box[0], box[1], box[2]
    t = (jnp.arange(out_size, dtype=jnp.float32) + 0.5) * side / out_size - side / 2
    ys, xs = jnp.meshgrid(cy + t, cx + t, indexing="ij")
    chans = [jax.scipy.ndimage.map_coordinates(image[..., c], [ys, xs], order=1, mode="constant", cval=0.0)
             for c in range(3)]
    return jnp.stack(chans, -1)


_crop_batch = jax.jit(jax.vmap(_crop_one, in_axes=(0, 0, None)), static_argnums=2)


def crop_images(images, boxes, out_size: int) -> np.ndarray:
    """Bilinear square crops uint8 [N, S, S, 3] of images [N, H, W, 3] at boxes [N, 3] (cx, cy, side) in image
    pixels; the box covers [cx - side/2, cx + side/2] (pixel centres at integers), outside the image is black."""
    images = np.asarray(images)
    boxes = np.asarray(boxes, np.float32)
    check(boxes.shape == (len(images), 3), "boxes", "shape", f"[{len(images)}, 3]", boxes.shape)
    out = np.asarray(_crop_batch(jnp.asarray(images, jnp.float32), jnp.asarray(boxes), int(out_size)))
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)
