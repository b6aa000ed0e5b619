"""Backbones with named taps and receptive-field geometry: `get(name) -> Backbone`.

Names: "caffenet", "bvlc_alexnet", "torchvision_alexnet" (AlexNet family, `alexnet.py`) and "mobilenet_v2"
(torchvision layout, the embedded default with real ImageNet weights; `mobilenet_v2.py`).

    bb = get("mobilenet_v2")
    params = bb.init(jax.random.key(0))          # or convcorr_jax.weights.load_pretrained()
    feats = bb.apply(params, bb.preprocess(images_uint8), taps=("block12", "pool"))
"""

from __future__ import annotations

import functools

from convcorr_jax.backbones.base import Backbone
from convcorr_jax.backbones.geometry import RF
from convcorr_jax.errors import InputError

NAMES = ("caffenet", "bvlc_alexnet", "torchvision_alexnet", "mobilenet_v2")

__all__ = ["Backbone", "RF", "NAMES", "get"]


@functools.cache
def get(name: str) -> Backbone:
    """The backbone registered under `name` (one of NAMES); raises InputError for an unknown name."""
    if name == "mobilenet_v2":
        from convcorr_jax.backbones import mobilenet_v2

        return mobilenet_v2.make()
    if name in ("caffenet", "bvlc_alexnet", "torchvision_alexnet"):
        from convcorr_jax.backbones import alexnet

        return alexnet.make(name)
    raise InputError("backbone", "name", f"one of {list(NAMES)}", name)
