"""Batched feature extraction: uint8 images -> named backbone activations as numpy arrays."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from tqdm import tqdm

from convcorr_jax.backbones.base import Backbone
from convcorr_jax.backbones.preprocess import check_images
from convcorr_jax.errors import InputError


def stack_images(images, source: str = "images") -> np.ndarray:
    """uint8 `[N, H, W, 3]` array, or a list of equal-size uint8 `[H, W, 3]` images -> `[N, H, W, 3]`."""
    if isinstance(images, (list, tuple)):
        if not images:
            raise InputError(source, "length", "at least one image", 0)
        for i, im in enumerate(images):
            check_images(im, f"{source}[{i}]", rank=3)
            if im.shape != images[0].shape:
                raise InputError(f"{source}[{i}]", "shape", f"the shape of {source}[0] {images[0].shape} (resize first)", im.shape)
        images = np.stack(images)
    return check_images(np.asarray(images), source)


def extract(backbone: Backbone, params, images, taps: Sequence[str] | str, batch_size: int = 16, relu: bool = True,
            progress: bool | None = None) -> dict[str, np.ndarray]:
    """Run `backbone` on uint8 RGB images and return `{tap: np.ndarray}` (spatial taps `[N, h, w, C]`, vector taps
    `[N, D]`, float32).

    Images are preprocessed in the backbone's convention (no resizing). Batches have a fixed size (the last one is
    padded), so the forward pass compiles once per image shape. A progress bar appears for more than 4 batches
    (or when `progress` is True).
    """
    taps = (taps,) if isinstance(taps, str) else tuple(taps)
    x = stack_images(images)
    n = len(x)
    if batch_size < 1:
        raise InputError("extract", "batch_size", "a positive integer", batch_size)
    bs = min(batch_size, n)
    n_batches = -(-n // bs)
    show = n_batches > 4 if progress is None else progress
    chunks: dict[str, list[np.ndarray]] = {t: [] for t in taps}
    for b in tqdm(range(n_batches), desc=f"{backbone.name} features", disable=not show, unit="batch"):
        batch = x[b * bs : (b + 1) * bs]
        real = len(batch)
        if real < bs:
            batch = np.concatenate([batch, np.repeat(batch[-1:], bs - real, 0)])
        out = backbone.apply(params, backbone.preprocess(batch), taps=taps, relu=relu)
        for t in taps:
            chunks[t].append(np.asarray(out[t])[:real])
    result = {t: np.concatenate(v) for t, v in chunks.items()}
    return result
