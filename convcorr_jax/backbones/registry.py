"""The backbone registry: `get(name) -> Backbone`."""

from __future__ import annotations

import functools

from convcorr_jax.backbones.base import Backbone
from convcorr_jax.errors import InputError

NAMES = ("caffenet", "bvlc_alexnet", "torchvision_alexnet", "vgg16", "mobilenet_v2")


@functools.cache
def get(name: str) -> Backbone:
    """The backbone registered under `name` (one of NAMES); raises InputError for an unknown name."""
    if name == "mobilenet_v2":
        from convcorr_jax.backbones import mobilenet_v2

        return mobilenet_v2.make()
    if name in ("caffenet", "bvlc_alexnet", "torchvision_alexnet"):
        from convcorr_jax.backbones import alexnet

        return alexnet.make(name)
    if name == "vgg16":
        from convcorr_jax.backbones import vgg16

        return vgg16.make()
    raise InputError("backbone", "name", f"one of {list(NAMES)}", name)
