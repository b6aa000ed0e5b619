"""Feature parts of PF-WILLOW frames computed once and shared by the rows of the validation experiments.

A row (`PointTransferConfig`) uses parts: its backbone's taps at each factor of `scales`, the taps of its
`extra_backbone` and `third_backbone` at each factor, those of the mirrored source frames when `flip_source`, and
the CAM prior of its `prior` classifier (`correspondence.frames.node_prior`, of the mirrored sources too).
`PartStore.frames` computes the parts a row needs that no earlier row computed and returns frames holding exactly
the row's parts, so that rows differing in any of these settings are scored on their own features
(`long2014.pf_willow_validation`, `long2014.pf_willow_warped`).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Callable, Sequence

import numpy as np

from convcorr_jax.correspondence.frames import Frames, make_frames, node_prior, part_name, scale_parts
from convcorr_jax.correspondence.point_config import PointTransferConfig
from convcorr_jax.features.hyperpixel import resolve_taps, target_grid


class PartStore:
    """Parts of the frames of `images` (boxes [N, 4]) computed so far; the first `n_sources` images are the only
    sources (mirrored parts and priors are computed for them, zero / one for the others). `model(name)` gives a
    backbone's (Backbone, params); `log` reports each computation."""

    def __init__(self, images: Sequence[np.ndarray], boxes: np.ndarray, model: Callable[[str], tuple],
                 n_sources: int | None = None, log: Callable[[str], None] | None = None):
        self.images, self.boxes, self.model = list(images), np.asarray(boxes), model
        self.n_sources = len(self.images) if n_sources is None else int(n_sources)
        self.log = log or (lambda _msg: None)
        self.base: dict = {}  # (features, backbone, size, grid, normalise) -> Frames
        self.parts: dict = {}  # (base key, part name, mirrored) -> [N, h, w, C]
        self.priors: dict = {}  # (base key, prior, top_k, floor, mirrored) -> [N, h, w]

    def frames(self, c: PointTransferConfig, need: Sequence[str] = ()) -> tuple[Frames, list[str] | None, float]:
        """(frames holding every part row `c` uses, their names (None for SIFT / no features: all), seconds spent
        computing now). need: more of the backbone's taps (resolved) worth computing with the first base frames."""
        t0 = time.perf_counter()
        key = (c.features, c.backbone, c.image_size, c.grid_spec, c.normalise)
        bb, params = self.model(c.backbone)
        names = list(resolve_taps(bb, c.tap_names)) if c.features == "cnn" else []
        plain = dataclasses.replace(c, scales=(1.0,), flip_source=False, **PointTransferConfig.ONE_NETWORK)
        if key not in self.base:
            first = list(dict.fromkeys([*names, *need]))
            self.log(f"features: {c.backbone} {c.features} {'+'.join(first)} at {c.image_size} px on "
                     f"{len(self.images)} images")
            self.base[key] = make_frames(self.images, self.boxes, plain, bb, params, first or None)
        base = self.base[key]
        if c.features != "cnn":
            return base, None, time.perf_counter() - t0
        src = Frames(base.crops[:self.n_sources], base.M[:self.n_sources], None, base.grid_xy, base.stride)
        matcher = c.resolved_method != "bp"  # BP flow: one network at one scale (`make_frames`)
        groups = [(bb, params, tuple(names), s, "") for s in (c.scales if matcher else (1.0,))]
        for side, side_taps in ((c.extra_backbone, c.extra_tap_names), (c.third_backbone, c.third_tap_names)):
            if matcher and side is not None:
                xb, xp = self.model(side)
                groups += [(xb, xp, tuple(resolve_taps(xb, side_taps)), s, f"{xb.name}:") for s in c.scales]
        parts: dict[str, np.ndarray] = {}
        flipped: dict[str, np.ndarray] = {}
        used: list[str] = []
        mirrors = (False, True) if c.flip_source and c.resolved_method != "bp" else (False,)
        for net, p, taps, s, prefix in groups:
            used += [part_name(t, s, prefix) for t in taps]
            for mirror in mirrors:
                if not mirror and s == 1.0 and not prefix:
                    for t in taps:
                        if t in base.parts:
                            self.parts.setdefault((key, t, False), base.parts[t])
                missing = [t for t in taps if (key, part_name(t, s, prefix), mirror) not in self.parts]
                if missing:
                    self.log(f"features: {prefix}{'+'.join(missing)} at scale {s:g}{' mirrored' if mirror else ''}")
                    ims = self.images[:self.n_sources] if mirror else self.images
                    got = scale_parts(ims, self.boxes[:len(ims)], plain, net, p, tuple(missing),
                                      src if mirror else base, s, mirror, prefix)
                    self.parts.update({(key, name, mirror): v for name, v in got.items()})
                for t in taps:
                    name = part_name(t, s, prefix)
                    (flipped if mirror else parts)[name] = self.parts[(key, name, mirror)]
        n = len(self.images)
        if flipped:  # mirrored parts exist for the sources only: zero for the others (never sources)
            flipped = {k: np.concatenate([v, np.zeros((n - len(v), *v.shape[1:]), v.dtype)]) for k, v in
                       flipped.items()}
        prior = flipped_prior = None
        if c.prior is not None and c.resolved_method != "bp":
            prior = self._prior(key, c, bb, base, False)
            flipped_prior = self._prior(key, c, bb, base, True) if flipped else None  # only with mirrored parts
        return (Frames(base.crops, base.M, parts, base.grid_xy, base.stride, flipped or None, prior, flipped_prior),
                used, time.perf_counter() - t0)

    def _prior(self, key: tuple, c: PointTransferConfig, bb, base: Frames, mirror: bool) -> np.ndarray:
        """The node prior [N, h, w] of row `c` on the base frames (of the mirrored sources when `mirror`, the
        others' rows one)."""
        assert c.prior is not None  # `frames` asks for the prior of a row that has one only
        pkey = (key, c.prior, c.prior_top_k, c.prior_floor, mirror)
        if pkey not in self.priors:
            self.log(f"prior: CAM of {c.prior} top {c.prior_top_k}{' mirrored' if mirror else ''}")
            rf, hw = target_grid(bb, resolve_taps(bb, c.tap_names), (c.image_size, c.image_size), c.grid_spec)
            crops = np.ascontiguousarray(base.crops[:self.n_sources, :, ::-1]) if mirror else base.crops
            got = node_prior(crops, c, self.model(c.prior), rf, hw)
            if mirror:
                got = np.concatenate([got, np.ones((len(base.crops) - len(got), *got.shape[1:]), got.dtype)])
            self.priors[pkey] = got
        return self.priors[pkey]
