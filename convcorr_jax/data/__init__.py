"""Datasets: one sample schema, real-format loaders, synthetic generators, TFDS builders."""

from convcorr_jax.data.types import KeypointSample, SegSample, load_image

__all__ = ["KeypointSample", "SegSample", "load_image"]
