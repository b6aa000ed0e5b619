"""Backbones with named taps and receptive-field geometry: `get(name) -> Backbone`, `spec(name) -> BackboneSpec`
(maker, weight sources with sha256, default taps per method), `register(...)` for a user's own network (traced:
its taps' strides and receptive fields read and checked), `check_trace(name)`: a backbone's geometry against its trace.

Names: "caffenet", "bvlc_alexnet", "torchvision_alexnet" (AlexNet family, `alexnet.py`), "vgg16" (torchvision
layout, `vgg16.py`) and "mobilenet_v2" (torchvision layout, the embedded default with real ImageNet weights;
`mobilenet_v2.py`). torchvision_alexnet and vgg16 also run on conv-only params (`Backbone.conv_keys`: the
ImageNet conv layers without the classifier), for taps up to pool5.

    bb = get("mobilenet_v2")
    params = bb.init(jax.random.key(0))          # or convcorr_jax.weights.load_pretrained()
    feats = bb.apply(params, bb.preprocess(images_uint8), taps=("block12", "pool"))
    register("mine", MyFlaxCNN(), params, taps=("c1", "c2"))   # then --backbone mine (docs/extending.md)
"""

from __future__ import annotations

from convcorr_jax.backbones.base import Backbone
from convcorr_jax.backbones.receptive_field import RF
from convcorr_jax.backbones.registry import NAMES, check_trace, get, register, spec, unregister
from convcorr_jax.backbones.spec import BackboneSpec

__all__ = ["Backbone", "BackboneSpec", "RF", "NAMES", "check_trace", "get", "register", "spec", "unregister"]
