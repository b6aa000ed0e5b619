"""The backbone registry: `get(name) -> Backbone`, tap names from paper role names (`resolve_tap`), and the
smallest input a tap can be computed on (`min_input_side`)."""

from __future__ import annotations

import functools

from convcorr_jax.backbones.base import Backbone
from convcorr_jax.errors import InputError

NAMES = ("caffenet", "bvlc_alexnet", "torchvision_alexnet", "vgg16", "mobilenet_v2")
MAX_SIDE_SEARCHED = 4096  # px; `min_input_side` looks no further


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


def _backbone(backbone: Backbone | str) -> Backbone:
    return get(backbone) if isinstance(backbone, str) else backbone


def resolve_tap(backbone: Backbone | str, name: str, field: str = "tap") -> str:
    """The tap of `backbone` for `name`: a paper role name (conv1..conv5, pool5, fc6, fc7, mapped through
    `backbone.roles`) or one of the backbone's own tap names. Raises InputError naming `field`, listing the
    roles and taps, for any other name."""
    bb = _backbone(backbone)
    if name in bb.roles:
        return bb.roles[name]
    if name in bb.taps:
        return name
    raise InputError(bb.name, field, f"a role ({', '.join(bb.roles)}) or a tap of {bb.name} ({', '.join(bb.taps)})",
                     name)


def resolve_taps(backbone: Backbone | str, names, field: str = "taps") -> tuple[str, ...]:
    """`resolve_tap` for each of `names` (a sequence, or one comma-separated string); order kept, duplicates
    removed."""
    if isinstance(names, str):
        names = [n for n in names.split(",") if n.strip()]
    taps = tuple(dict.fromkeys(resolve_tap(backbone, n.strip(), field) for n in names))
    if not taps:
        raise InputError(_backbone(backbone).name, field, "at least one role or tap name", "none")
    return taps


def _spatial_for(bb: Backbone, tap: str) -> str:
    """`tap` if spatial, else the last spatial tap before it (a global vector is computed from that map)."""
    if tap in bb.geometry:
        return tap
    before = [t for t in bb.taps[: bb.taps.index(tap)] if t in bb.geometry]
    return before[-1] if before else bb.spatial_taps[-1]


@functools.cache
def _min_side(name: str, tap: str) -> int:
    bb = get(name)
    spatial = _spatial_for(bb, tap)
    lo, hi = 1, MAX_SIDE_SEARCHED
    if min(bb.grid_size(spatial, (hi, hi))) < 1:
        return hi
    while lo < hi:  # the map side grows with the input side: bisect for the first side giving a 1 x 1 map
        mid = (lo + hi) // 2
        if min(bb.grid_size(spatial, (mid, mid))) >= 1:
            hi = mid
        else:
            lo = mid + 1
    return lo


def min_input_side(backbone: Backbone | str, tap: str) -> int:
    """Smallest input side (px, square input) on which `tap` (a tap or role name) gives at least a 1 x 1 map; for
    a vector tap, that of the last spatial tap before it. Fixed-size layers (Caffe fc6 on a 227 px flattened
    pool5) are not accounted for. Geometry only: nothing is compiled."""
    bb = _backbone(backbone)
    t = resolve_tap(bb, tap)
    if bb.name in NAMES and get(bb.name) is bb:
        return _min_side(bb.name, t)
    spatial = _spatial_for(bb, t)
    return next((n for n in range(1, MAX_SIDE_SEARCHED) if min(bb.grid_size(spatial, (n, n))) >= 1),
                MAX_SIDE_SEARCHED)


def check_input_side(backbone: Backbone | str, tap: str, side: int, source: str, field: str) -> None:
    """InputError naming `source`/`field` unless a `side` px input is at least `min_input_side(backbone, tap)`."""
    bb = _backbone(backbone)
    need = min_input_side(bb, tap)
    if int(side) < need:
        raise InputError(source, field, f">= {need} px (the smallest input of {bb.name} {tap})", side)
