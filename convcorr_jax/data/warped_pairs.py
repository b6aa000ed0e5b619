"""Viewpoint-like warps of annotated images, keypoints carried exactly: a harder validation set for semantic
correspondence built from the images one has.

    H = _random_homography(np.random.default_rng(seed), points, visible, (h, w), WarpConfig())
    image2 = warp_image(image, H, (h, w))                   # output pixel q shows input pixel H^-1 q
    points2, valid2 = _warp_points(points, H, (h, w))         # exact: the same H moves the keypoints

A warp is one 3 x 3 homography H (input pixels -> output pixels, (x, y) 0-based, pixel centres at integers):

    H = T(d) . R(theta) . S(s) . F . P . T(-c)

- T(-c): the keypoint box centre c to the origin;
- P: a perspective tilt [[1, 0, 0], [0, 1, 0], [px, py, 1]] with px, py uniform in
  +-`perspective` / (keypoint box side): the homogeneous weight stays within 1 +- `perspective` / 2 over the box;
- F: a horizontal flip (x -> -x about the box centre) with probability `flip`. The keypoints keep their
  identity: a point moves with the pixel under it, so the flip is exact (PF-WILLOW's keypoints have no left /
  right labels to swap: keypoint k of the flipped target is still keypoint k of the source);
- S(s): an isotropic scale, log-uniform in [`scale_min`, `scale_max`];
- R(theta): an in-plane rotation, uniform in +-`rotation` degrees;
- T(d): the centre to the output canvas centre shifted by uniform +-`shift` x the canvas side per axis.

Output pixels are sampled bilinearly at H^-1 q. Clutter (`_warp_onto`): output pixels whose preimage falls outside
the object region (the keypoint box grown by `margin` x its side on each side, clipped to the image) or outside
the input image show a background image instead (another image's content, resized to the canvas): the object is
pasted onto a cluttered scene. A warped keypoint is valid when its input keypoint was valid, its homogeneous
weight is positive and it lies on the output image (`correspondence.points.valid_keypoints`' extent
[-0.5, w - 0.5] x [-0.5, h - 0.5]); invalid keypoints keep their coordinates and are flagged, never dropped.
Randomness comes only from the numpy Generator passed in (`warped_set` seeds one per pair from its seed).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from convcorr_jax.core.config import check_fields, check_types
from convcorr_jax.data.types import KeypointSample
from convcorr_jax.core.errors import InputError, check, check_shape


@dataclasses.dataclass(frozen=True)
class WarpConfig:
    """Ranges of the random warp (module docstring). scale_min, scale_max: isotropic scale range (log-uniform);
    rotation: in-plane rotation range (degrees, +-); perspective: tilt strength (0: affine); flip: probability of
    a horizontal flip; shift: translation of the object centre (fraction of the canvas side, +-); margin: the
    object region is the keypoint box grown by this fraction of its side on each side; background: paste the
    object onto another image (False: the input image's own pixels, zero outside it)."""

    scale_min: float = 0.5
    scale_max: float = 2.0
    rotation: float = 30.0
    perspective: float = 0.3
    flip: float = 0.5
    shift: float = 0.15
    margin: float = 0.15
    background: bool = True

    def __post_init__(self):
        check_types(self, "WarpConfig")
        check_fields(self, positive=("scale_min", "scale_max"), nonnegative=("rotation", "perspective", "shift",
                                                                              "margin"),
                     finite=("scale_max", "rotation", "shift", "margin"), source="WarpConfig")
        check(self.scale_min <= self.scale_max, "WarpConfig", "scale_max", f">= scale_min ({self.scale_min})",
              self.scale_max)
        check(0.0 <= self.flip <= 1.0, "WarpConfig", "flip", "a probability in [0, 1]", self.flip)
        check(self.perspective < 1.0, "WarpConfig", "perspective", "< 1 (the weight must stay positive)",
              self.perspective)


# ------------------------------------------------------------------------------------------------- geometry


def translation(dx: float, dy: float) -> np.ndarray:
    """3 x 3 homography x -> x + (dx, dy).

    Args:
        dx, dy: the shift in pixels.

    Returns:
        float64 [3, 3].
    """
    return np.array([[1.0, 0.0, dx], [0.0, 1.0, dy], [0.0, 0.0, 1.0]])


def similarity(scale: float, degrees: float, flip: bool = False) -> np.ndarray:
    """3 x 3 homography about the origin: R(degrees) . S(scale) . F (F: x -> -x when `flip`).

    Args:
        scale: isotropic scale.
        degrees: rotation angle, from +x towards +y.
        flip: mirror x (before the scale and rotation).

    Returns:
        float64 [3, 3].
    """
    t = np.deg2rad(degrees)
    c, s = np.cos(t), np.sin(t)
    f = -1.0 if flip else 1.0
    return np.array([[scale * c * f, -scale * s, 0.0], [scale * s * f, scale * c, 0.0], [0.0, 0.0, 1.0]])


def tilt(px: float, py: float) -> np.ndarray:
    """3 x 3 perspective [[1, 0, 0], [0, 1, 0], [px, py, 1]] (identity at the origin).

    Args:
        px, py: the perspective terms (per pixel).

    Returns:
        float64 [3, 3].
    """
    return np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [px, py, 1.0]])


def _apply_homography(points, H) -> tuple[np.ndarray, np.ndarray]:
    """Points [..., 2] mapped by H [3, 3], with their homogeneous weights; NaN in, NaN out.

    Args:
        points: [..., 2] (x, y) pixels.
        H: float [3, 3] homography.

    Returns:
        (mapped, weight): float64 [..., 2] mapped (x, y) (inf or NaN where the weight is 0) and float64 [...]
        homogeneous weight.
    """
    p = np.asarray(points, np.float64)
    q = p @ H[:2, :2].T + H[:2, 2]
    w = p @ H[2, :2] + H[2, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        return q / w[..., None], w


def _keypoint_box(points, visible) -> np.ndarray:
    """(x0, y0, x1, y1) of the finite visible points [K, 2]; InputError for fewer than 2.

    Args:
        points: [K, 2] (x, y) pixels.
        visible: bool [K].

    Returns:
        float64 [4] (x0, y0, x1, y1) tight box of the finite visible points.
    """
    p = np.asarray(points, np.float64)
    ok = np.asarray(visible, bool) & np.all(np.isfinite(p), -1)
    if ok.sum() < 2:
        raise InputError("warped_pairs", "points", "at least 2 finite visible keypoints (the object box)",
                         int(ok.sum()))
    return np.concatenate([p[ok].min(0), p[ok].max(0)])


def _random_homography(rng: np.random.Generator, points, visible, out_hw: tuple[int, int],
                      cfg: WarpConfig = WarpConfig()) -> np.ndarray:
    """A random viewpoint-like warp H [3, 3] (module docstring) of an object onto an output canvas.

    Draws, in order: scale, rotation, flip, tilt, shift.

    Args:
        rng: the numpy Generator (the only randomness).
        points, visible: the object's keypoints [K, 2] (x, y) pixels and bool [K] (at least 2 finite visible).
        out_hw: (h, w) of the output canvas, pixels.
        cfg: the ranges (`WarpConfig`).

    Returns:
        float64 [3, 3] H: input pixels -> output pixels.
    """
    x0, y0, x1, y1 = _keypoint_box(points, visible)
    return homography_about(rng, ((x0 + x1) / 2, (y0 + y1) / 2), max(x1 - x0, y1 - y0, 1.0), out_hw, cfg)


def homography_about(rng: np.random.Generator, centre: tuple[float, float], side: float, out_hw: tuple[int, int],
                     cfg: WarpConfig = WarpConfig()) -> np.ndarray:
    """A random viewpoint-like warp H [3, 3] of a region about `centre` onto an output canvas:
    H = T(c_out + d) . R(theta) . S(s) . F . P . T(-centre), the tilt P per `side` pixels, the shift d per output
    side, c_out the canvas's centre.

    Draws, in order: scale, rotation, flip, tilt, shift.

    Args:
        rng: the numpy Generator (the only randomness).
        centre: (x, y) input pixels the region is warped about.
        side: the region's side in input pixels (the tilt's scale).
        out_hw: (h, w) of the output canvas, pixels.
        cfg: the ranges (`WarpConfig`).

    Returns:
        float64 [3, 3] H: input pixels -> output pixels.
    """
    s = float(np.exp(rng.uniform(np.log(cfg.scale_min), np.log(cfg.scale_max))))
    theta = float(rng.uniform(-cfg.rotation, cfg.rotation))
    flip = bool(rng.uniform() < cfg.flip)
    px, py = rng.uniform(-cfg.perspective, cfg.perspective, 2) / side
    dx, dy = rng.uniform(-cfg.shift, cfg.shift, 2) * np.array([out_hw[1], out_hw[0]])
    centre_out = ((out_hw[1] - 1) / 2 + dx, (out_hw[0] - 1) / 2 + dy)
    return translation(*centre_out) @ similarity(s, theta, flip) @ tilt(px, py) @ translation(-centre[0], -centre[1])


def _warp_points(points, H, out_hw: tuple[int, int], valid=None) -> tuple[np.ndarray, np.ndarray]:
    """Points moved by H, with their validity on the out_hw canvas.

    Args:
        points: [K, 2] (x, y) input pixels.
        H: [3, 3] input -> output pixels.
        out_hw: (h, w) of the output canvas.
        valid: bool [K] of the input keypoints (default: finite inputs).

    Returns:
        (points, valid): float64 [K, 2] moved points (coordinates kept even where invalid, NaN where the input is
        NaN); bool [K]: `valid` and a positive homogeneous weight and on the canvas ([-0.5, w - 0.5] x
        [-0.5, h - 0.5]).
    """
    q, w = _apply_homography(points, H)
    ok = np.all(np.isfinite(np.asarray(points, np.float64)), -1) if valid is None else np.asarray(valid, bool)
    with np.errstate(invalid="ignore"):
        ok = ok & (w > 0) & np.all(np.isfinite(q), -1)
        ok &= (q[:, 0] >= -0.5) & (q[:, 0] <= out_hw[1] - 0.5) & (q[:, 1] >= -0.5) & (q[:, 1] <= out_hw[0] - 0.5)
    return q, ok


def _sample(image: np.ndarray, H: np.ndarray, out_hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(float32 [h, w, C] of `image` sampled bilinearly at H^-1 q for every output pixel q, input (x, y)
    positions [h, w, 2] (NaN where the weight is not positive))."""
    h, w = out_hw
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    src, wt = _apply_homography(np.stack([xs, ys], -1), np.linalg.inv(H))
    src[wt <= 0] = np.nan
    ih, iw = image.shape[:2]
    x = np.clip(np.nan_to_num(src[..., 0], nan=-1.0), 0, iw - 1)
    y = np.clip(np.nan_to_num(src[..., 1], nan=-1.0), 0, ih - 1)
    x0 = np.minimum(np.floor(x).astype(np.int64), iw - 2 if iw > 1 else 0)
    y0 = np.minimum(np.floor(y).astype(np.int64), ih - 2 if ih > 1 else 0)
    x1, y1 = np.minimum(x0 + 1, iw - 1), np.minimum(y0 + 1, ih - 1)
    ax, ay = (x - x0)[..., None], (y - y0)[..., None]
    f = image.astype(np.float32)
    top = f[y0, x0] * (1 - ax) + f[y0, x1] * ax
    bot = f[y1, x0] * (1 - ax) + f[y1, x1] * ax
    return top * (1 - ay) + bot * ay, src


def _to_uint8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x), 0, 255).astype(np.uint8)


def warp_image(image: np.ndarray, H: np.ndarray, out_hw: tuple[int, int],
               region: Sequence[float] | np.ndarray | None = None,
               background: np.ndarray | None = None) -> np.ndarray:
    """Image [h, w, C] (out_hw) whose pixel q is `image` [H, W, C] read bilinearly at H^-1 q.

    Edge values are held within half a pixel. Where H^-1 q lies off the input (beyond [-0.5, W - 0.5] x
    [-0.5, H - 0.5]), outside `region` of the input when given, or behind the horizon, the pixel is `background`'s.

    Args:
        image: [H, W, C] input, any numeric dtype (uint8 RGB for the datasets).
        H: [3, 3] input -> output pixels.
        out_hw: (h, w) of the output.
        region: optional (x0, y0, x1, y1) input pixels, the part of the input that is shown.
        background: [h, w, C] (zero when None).

    Returns:
        [h, w, C], same dtype as `image` (uint8 rounded and clipped).

    Raises:
        InputError: for an image that is not [H, W, C] (a grey [H, W] image: image[..., None]), or a background of
            another shape.
    """
    check_shape(image, "H>=1 W>=1 C", "warp_image", "image", note="(a channel axis; grey [H, W]: image[..., None])")
    out, src = _sample(image, H, out_hw)
    ih, iw = image.shape[:2]
    x0, y0, x1, y1 = (-0.5, -0.5, iw - 0.5, ih - 0.5) if region is None else region
    with np.errstate(invalid="ignore"):
        inside = ((src[..., 0] >= max(x0, -0.5)) & (src[..., 0] <= min(x1, iw - 0.5))
                  & (src[..., 1] >= max(y0, -0.5)) & (src[..., 1] <= min(y1, ih - 0.5)))
    bg = np.zeros_like(out) if background is None else background.astype(np.float32)
    check_shape(bg, out.shape, "warp_image", "background", note="(the output's)")
    out = np.where(inside[..., None], out, bg)
    return _to_uint8(out) if image.dtype == np.uint8 else out.astype(image.dtype)


def resize_to(image: np.ndarray, out_hw: tuple[int, int], flip: bool = False) -> np.ndarray:
    """`image` stretched onto out_hw (h, w) pixels (bilinear, pixel extents aligned), mirrored when `flip`.

    Args:
        image: [H, W, C] (uint8 RGB for the datasets).
        out_hw: (h, w) of the output.
        flip: mirror left-right.

    Returns:
        [h, w, C], same dtype as `image`.

    Raises:
        InputError: for an image that is not [H, W, C] (a grey [H, W] image: image[..., None]).
    """
    check_shape(image, "H>=1 W>=1 C", "resize_to", "image", note="(a channel axis; grey [H, W]: image[..., None])")
    ih, iw = image.shape[:2]
    sx, sy = out_hw[1] / iw, out_hw[0] / ih
    H = translation(-0.5, -0.5) @ np.diag([sx, sy, 1.0]) @ translation(0.5, 0.5)
    if flip:
        H = translation(out_hw[1] - 1, 0) @ np.diag([-1.0, 1.0, 1.0]) @ H
    return warp_image(image, H, out_hw)


def _object_region(points, visible, image_hw: tuple[int, int], margin: float) -> tuple[float, ...]:
    """The keypoint box grown by `margin` x its side on each side, clipped to the image's pixel extent.

    Args:
        points, visible: [K, 2] (x, y) pixels and bool [K] (at least 2 finite visible, `_keypoint_box`).
        image_hw: (h, w) of the image.
        margin: the growth per side, a fraction of the box's side (max of width and height, at least 1 px).

    Returns:
        (x0, y0, x1, y1) floats, within [-0.5, w - 0.5] x [-0.5, h - 0.5].
    """
    x0, y0, x1, y1 = _keypoint_box(points, visible)
    g = margin * max(x1 - x0, y1 - y0, 1.0)
    h, w = image_hw
    return (max(x0 - g, -0.5), max(y0 - g, -0.5), min(x1 + g, w - 0.5), min(y1 + g, h - 0.5))


def _warp_onto(sample: KeypointSample, H: np.ndarray, out_hw: tuple[int, int], background: np.ndarray | None,
              cfg: WarpConfig = WarpConfig(), id_suffix: str = "warped") -> KeypointSample:
    """`sample` (with its image) warped by H onto out_hw, its object region pasted onto `background`.

    Keypoints are carried by H (`_warp_points`).

    Args:
        sample: a `KeypointSample` with `image` loaded (else InputError).
        H: [3, 3] input -> output pixels.
        out_hw: (h, w) of the output.
        background: uint8 [h, w, 3], an image already out_hw; None: the sample's own pixels, zero off it.
        cfg: its `margin` sets the object region (`_object_region`).
        id_suffix: the new id is "<id>@<id_suffix>".

    Returns:
        The warped `KeypointSample`: image [h, w, 3] (the input's dtype), points float32 [K, 2]; `visible` is False
        for those that leave the image (coordinates kept); bbox float32 [4] the box of the valid ones; image_path
        None; extras gain "homography" (H) and "source_id".
    """
    src = sample.loaded_image()
    vis = np.asarray(sample.visible, bool)
    region = _object_region(sample.points, vis, src.shape[:2], cfg.margin) if background is not None else None
    image = warp_image(src, H, out_hw, region, background)
    pts, ok = _warp_points(sample.points, H, out_hw, vis & np.all(np.isfinite(sample.points), -1))
    good = pts[ok] if ok.any() else np.zeros((1, 2))
    bbox = np.concatenate([good.min(0), good.max(0)]).astype(np.float32)
    return dataclasses.replace(sample, points=pts.astype(np.float32), visible=ok, bbox=bbox, image=image,
                               image_path=None, id=f"{sample.id}@{id_suffix}",
                               extras={**sample.extras, "homography": H, "source_id": sample.id})


# --------------------------------------------------------------------------------------------------- pairs


def warped_set(samples: Sequence[KeypointSample], pairs: np.ndarray, groups: Sequence[str] | np.ndarray,
               per_group: int, seed: int, cfg: WarpConfig = WarpConfig(), min_valid: int = 2
               ) -> tuple[list[KeypointSample], np.ndarray, np.ndarray]:
    """Warped pairs from ordered pairs (i, j) of `samples` (with images), a set per group.

    `per_group` pairs drawn per group without replacement (Generator seeded with `seed`), in each the target j warped
    by `_random_homography` (Generator seeded with (seed, n), n the drawn pair's position in the output) onto a
    canvas of its own size and pasted onto a background: a sample of another group (drawn by the same Generator)
    stretched to the canvas, mirrored with probability 1/2 (one group only: the sample's own pixels). The source
    stays as it is. A warp that leaves fewer than `min_valid` valid keypoints is drawn again (up to 20 times, then
    InputError).

    Args:
        samples: N `KeypointSample`s with images loaded (a drawn one without: InputError).
        pairs: int [P, 2] (source, target) indices into `samples`.
        groups: [P] the group (e.g. class) of each pair.
        per_group, seed: pairs drawn per group and the seed.
        cfg: the warp ranges; `cfg.background` False: no background image.
        min_valid: the fewest valid warped keypoints accepted.

    Returns:
        (samples, pairs, groups): the inputs followed by the warped targets (N + Q samples), int64 [Q, 2] (source
        index, warped target index) into them, and str [Q] groups.
    """
    pairs = np.asarray(pairs, np.int64)
    groups = np.asarray(groups).astype(str)
    pick = np.random.default_rng(seed)
    chosen = []
    for g in dict.fromkeys(groups):
        idx = np.flatnonzero(groups == g)
        chosen += sorted(pick.choice(idx, min(per_group, len(idx)), replace=False).tolist())
    group_of = {int(j): g for (_, j), g in zip(pairs, groups)}
    out = list(samples)
    new_pairs, new_groups = [], []
    for n, p in enumerate(chosen):
        i, j = (int(v) for v in pairs[p])
        rng = np.random.default_rng([seed, n])
        tgt = samples[j]
        hw = tgt.loaded_image().shape[:2]
        others = [k for k, g in group_of.items() if g != groups[p]]
        bg = None
        if cfg.background and others:
            k = others[int(rng.integers(len(others)))]
            bg = resize_to(samples[k].loaded_image(), hw, bool(rng.uniform() < 0.5))
        for _ in range(20):
            H = _random_homography(rng, tgt.points, tgt.visible, hw, cfg)
            _, ok = _warp_points(tgt.points, H, hw, np.asarray(tgt.visible, bool))
            if ok.sum() >= min_valid:
                break
        else:
            raise InputError(tgt.id, "keypoints", f"a warp keeping {min_valid} keypoints on the image in 20 draws",
                             int(ok.sum()))
        out.append(_warp_onto(tgt, H, hw, bg, cfg, f"warp{n}"))
        new_pairs.append((i, len(out) - 1))
        new_groups.append(groups[p])
    return out, np.array(new_pairs, np.int64).reshape(-1, 2), np.array(new_groups)
