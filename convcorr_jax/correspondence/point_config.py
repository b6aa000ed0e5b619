"""The settings of semantic point transfer (`correspondence.points.transfer_points`) and their validated defaults.

One frozen dataclass, `PointTransferConfig`, holds every setting with the default chosen on PF-WILLOW's
validation sub-classes (the `long2014.pf_willow_validation` experiment; its table is in bench/RESULTS_real.md):
SCOT's optimal transport + regularised Hough matching ("ot_rhm") on VGG-16 hyperpixels conv4_1 + conv5_1 +
conv5_2 with MobileNetV2's block13 + block14 and EfficientNet-Lite2's block14 + block18 beside them, the OT
marginals weighted by MobileNetV2's class activation map (SCOT's foreground prior), both images resized to
224 x 224 px, a node every 8 px, keypoints carried by the forward-backward consistent nodes within 3 grid strides,
averaged over those whose moved point lies within 4 grid strides of their median.
The PF-WILLOW experiment reads its defaults from here.
"""

from __future__ import annotations

import dataclasses
import numbers
import warnings
from types import MappingProxyType
from typing import Any, ClassVar, Mapping

from convcorr_jax.backbones.registry import NAMES as BACKBONES
from convcorr_jax.backbones.registry import check_input_side, default_taps, resolve_tap
from convcorr_jax.backbones.registry import get as get_backbone
from convcorr_jax.backbones.spec import POINT_TRANSFER
from convcorr_jax.core.config import check_fields, check_types
from convcorr_jax.correspondence.matching import MATCHERS
from convcorr_jax.correspondence.optimal_transport import check_eps
from convcorr_jax.features.cam import CAM_TAPS
from convcorr_jax.features.hyperpixel import resolve_taps
from convcorr_jax.core.errors import InputError, is_real
from convcorr_jax.core.long_frame import FEATURE_NORM, FRAME_PX
from convcorr_jax.core.registry import Registry

BP_GRID = 16  # the node stride (frame pixels) of BP flow when `grid` is None; a matcher's is its `Matcher.grid`
FEATURES = ("cnn", "sift", "none")
MIN_IMAGE_SIZE = 64  # the smallest frame side (pixels) accepted


@dataclasses.dataclass(frozen=True)
class TransferMethod:
    """One entry of the point-transfer method table `TRANSFER_METHODS`.

    Fields:
      label: the name a table row gives the method ("BP flow", "OT + RHM").
      grid: the node stride (frame pixels) point transfer uses with it when its `grid` is None.
      kind: "flow" (BP flow, `flow.bp`: a smooth flow field solved between the two grids) or "matcher" (the
        entry of `matching.MATCHERS` of the same name scores every pair of nodes).
    """

    label: str
    grid: int
    kind: str


class _TransferMethods(Registry[TransferMethod]):
    """The point-transfer methods: its own entries (BP flow), then each matcher of `matching.MATCHERS` as a
    "matcher" entry with the matcher's label and grid, read on every lookup (a matcher registered later is a method
    at once). Matchers are added with `matching.register_matcher`."""

    def _current(self) -> dict[str, TransferMethod]:
        entries = dict(self._items)
        entries.update((name, TransferMethod(m.label, m.grid, "matcher")) for name, m in MATCHERS.items()
                       if name not in self._items)
        return entries


# name -> TransferMethod: "bp", then "cos", "rhm", "ot", "ot_rhm" and any matcher registered later
TRANSFER_METHODS: Registry[TransferMethod] = _TransferMethods("point-transfer method",
                                                               {"bp": TransferMethod("BP flow", BP_GRID, "flow")})
METHODS = TRANSFER_METHODS.names  # "bp", "cos", "rhm", "ot", "ot_rhm", then registered matchers


class _TapDefaults(Mapping):
    """backbone -> point transfer's taps when `taps` is None (`backbones.registry.default_taps`)."""

    def __getitem__(self, backbone: str) -> tuple[str, ...]:
        return default_taps(backbone, POINT_TRANSFER)

    def __iter__(self):
        return iter(BACKBONES)

    def __len__(self) -> int:
        return len(BACKBONES)


class _GridDefaults(Mapping):
    """method -> node stride (frame pixels) when `grid` is None: its `TransferMethod.grid` (`BP_GRID` for "bp", each
    matcher's `Matcher.grid`)."""

    def __getitem__(self, method: str) -> int:
        return TRANSFER_METHODS[method].grid

    def __iter__(self):
        return iter(METHODS)

    def __len__(self) -> int:
        return len(METHODS)


@dataclasses.dataclass(frozen=True)
class PointTransferConfig:
    """How points of image a are moved into image b; the defaults are the setting validated on PF-WILLOW.

    Fields (the defaults' provenance: `long2014.pf_willow_validation` and `long2014.pf_willow_warped`, tables in
    bench/RESULTS_real.md and bench/RESULTS_flow.md):
      backbone: feature network (`backbones.NAMES`, a user's included).
      features: "cnn" (hyperpixels of `taps`), "sift" (dense SIFT at the same grid nodes) or "none" (zero flow:
        points move by the scaling of the whole images).
      method: a name of `TRANSFER_METHODS`: "bp" (BP flow, `flow.bp`) or a matcher of
        `correspondence.matching.MATCHERS`; None: `DEFAULT_METHOD` of the features (`resolved_method`).
      taps: tap names or roles of `backbone`, concatenated in order; None: the backbone spec's default taps.
      grid: the node grid, a stride in frame pixels or a tap name / role; None: `DEFAULT_GRID[resolved_method]`.
      normalise: L2-normalise each tap per node (false: raw activations).
      image_size: side (px) of the square frame both images are resized to (anisotropically).
      beta: BP smoothness weight, displacements in pixels of a `paper_side` px image; None: `DEFAULT_BETA` of the
        features (`bp_beta`).
      radius: a matcher moves a point by the nodes within radius x grid stride of it (3 with `trim` 4: chosen with
        one PF-WILLOW sub-class and two mixed-view sets left out in turn, bench/RESULTS_real.md; HPF's mean of the
        carriers was chosen at radius 2).
      trim: None (HPF's mean over the carrier nodes), or grid strides: a point moves by the mean over the carriers
        whose moved point lies within trim x grid stride of the carriers' median (`carry.transfer_keypoints`;
        matchers only; 4 by default, chosen with `radius`).
      carry_sigma: None (the carriers weigh the same), or grid strides: each carrier weighs a Gaussian of its
        distance to the point, of this sigma (`carry.transfer_keypoints`; matchers only; none by default: tried
        on PF-WILLOW and not kept, bench/RESULTS_real.md).
      carry_scale: scale each carrier's offset to the point per axis by how much wider the carrying nodes' matches
        spread in the target than the nodes in the source, clipped to [1/2, 2] (`carry.spread_ratio`,
        `carry.SPREAD_CLIP`: the frames are resized anisotropically, so an object's scale differs per axis and per
        image); false: offsets as they are (HPF). Matchers only; on by default: chosen with one PF-WILLOW sub-class
        and two mixed-view sets left out in turn, bench/RESULTS_real.md.
      window: BP label window in grid cells (None: the whole target grid).
      iters, levels: BP iterations per level and pyramid levels (Long et al.'s Table 2 setting).
      sift_bin: SIFT bin size in frame pixels (None: Long et al.'s radius 20 at stride 16, scaled to the stride).
      paper_side: the image side (px) in which BP displacements are measured.
      feature_norm: the mean feature-column norm BP sees.
      batch: pairs per vmapped BP call; match_batch: pairs per matcher call.
      scales: input-size factors of the frame; each (tap, scale) is one L2-normalised part (multi-scale
        hyperpixels; matchers only).
      extra_backbone, extra_taps: a second network (None: none) whose taps (None: `DEFAULT_EXTRA_TAPS`, else its
        default) are read at the same nodes and concatenated (matchers only; MobileNetV2 block13 + block14 by
        default: chosen with one PF-WILLOW sub-class left out in turn, bench/RESULTS_real.md).
      third_backbone, third_taps: one more network (None: none; not `extra_backbone`) whose taps (None:
        `DEFAULT_EXTRA_TAPS`, else its default) are read at the same nodes and concatenated after the extra
        backbone's (matchers only; EfficientNet-Lite2 block14 + block18 by default: its taps searched beside the
        two others with one PF-WILLOW sub-class left out in turn, bench/RESULTS_real.md).
      flip_source: also match the mirrored source frame and keep the mirrored match when its mean best-match
        confidence exceeds the plain one's by the factor 1 + `flip_margin` (matchers only; off by default: chosen
        off by leaving one PF-WILLOW sub-class out, bench/RESULTS_real.md).
      cycle: a source node carries points only if the target's best match of its best match lies within `cycle`
        grid strides of it (0: mutual nearest neighbours; None: off; matchers only).
      soft_mnn: reweight the matcher's confidences by soft mutual nearest neighbours (`matching.soft_mutual`,
        NCNet) before the best matches are taken (matchers only; off by default).
      ot_iters, ot_eps: Sinkhorn iterations and entropy (cost units, > 0; with a method that runs the transport
        plan, "ot" / "ot_rhm", at least `optimal_transport.MIN_EPS_PER_COST`, as `matching.MatchConfig.eps`).
      hough_side: the Gaussian kernel width (Hough bins, odd) of RHM's vote smoothing (15: chosen with one PF-WILLOW
        sub-class and two mixed-view sets left out in turn, bench/RESULTS_real.md; HPF's is 7).
      prior: None (uniform OT marginals) or a backbone with a pooled ImageNet classifier (`features.cam.CAM_TAPS`,
        "mobilenet_v2", loaded with its real weights): the OT marginals of "ot" / "ot_rhm" are proportional to
        `prior_floor` + the class activation map of its `prior_top_k` top classes at the nodes (SCOT's foreground
        prior, `features.cam.cam_prior`; on by default, top 2, floor 0.03: chosen as `extra_backbone`).
      prior_top_k: classes whose maps are combined (max); prior_floor: weight > 0 every node keeps.
      projection: None or a map of the concatenated hyperpixels learned across known warps of photos, applied
        before matching (`warp_projection.project_features`: the name of a shipped one or an .npz file; matchers
        on conv features only; none by default: tried on PF-WILLOW and not kept, bench/RESULTS_real.md).
    """

    backbone: str = "vgg16"
    features: str = "cnn"
    method: str | None = None
    taps: tuple[str, ...] | None = None
    grid: int | str | None = None
    normalise: bool = True
    image_size: int = 224
    beta: float | None = None
    radius: float = 3.0
    trim: float | None = 4.0
    carry_sigma: float | None = None
    carry_scale: bool = True
    window: int | None = None
    iters: int = 8
    levels: int = 3
    sift_bin: int | None = None
    paper_side: int = FRAME_PX
    feature_norm: float = FEATURE_NORM
    batch: int = 30
    match_batch: int = 8
    scales: tuple[float, ...] = (1.0,)
    extra_backbone: str | None = "mobilenet_v2"
    extra_taps: tuple[str, ...] | None = None
    third_backbone: str | None = "efficientnet_lite2"
    third_taps: tuple[str, ...] | None = None
    flip_source: bool = False
    flip_margin: float = 0.1
    cycle: float | None = 1.0
    soft_mnn: bool = False
    ot_iters: int = 1
    ot_eps: float = 0.05
    hough_side: int = 15
    prior: str | None = "mobilenet_v2"
    prior_top_k: int = 2
    prior_floor: float = 0.03
    projection: str | None = None

    # The taps of each backbone when `taps` is None: its spec's `default_taps` (`backbones.registry`), chosen per
    # backbone by the validation experiment's greedy tap search (RHM, PCK@0.1) and its OT + RHM rows.
    DEFAULT_TAPS: ClassVar[Mapping[str, tuple[str, ...]]] = _TapDefaults()
    # The taps of a second or third network when `extra_taps` / `third_taps` is None, where they were chosen beside
    # VGG-16's (the greedy search nested in the leave-one-out of `long2014.pf_willow_validation`: MobileNetV2's
    # beside VGG-16's, then EfficientNet-Lite2's beside both); other networks: `DEFAULT_TAPS`.
    DEFAULT_EXTRA_TAPS: ClassVar[Mapping[str, tuple[str, ...]]] = MappingProxyType(
        {"mobilenet_v2": ("block13", "block14"), "efficientnet_lite2": ("block14", "block18")})
    # The field values that make a matcher on conv features read `backbone` alone: no second or third network and
    # no CAM prior (its classifier is a network too): `dataclasses.replace(cfg, **PointTransferConfig.ONE_NETWORK)`.
    ONE_NETWORK: ClassVar[Mapping[str, Any]] = MappingProxyType(
        {"extra_backbone": None, "third_backbone": None, "prior": None})
    # The method when `method` is None, per features.
    DEFAULT_METHOD: ClassVar[Mapping[str, str]] = MappingProxyType({"cnn": "ot_rhm", "sift": "bp", "none": "bp"})
    # The grid (stride in frame pixels) when `grid` is None, per method.
    DEFAULT_GRID: ClassVar[Mapping[str, int]] = _GridDefaults()
    # BP's smoothness weight when `beta` is None, per features.
    DEFAULT_BETA: ClassVar[Mapping[str, float]] = MappingProxyType({"cnn": 0.01, "sift": 0.1, "none": 0.01})

    def __post_init__(self):
        for field in ("taps", "extra_taps", "third_taps"):  # "a+b", "a,b" or a list: a tuple of tap names
            value = getattr(self, field)
            if isinstance(value, str):
                object.__setattr__(self, field, tuple(t for t in value.replace("+", ",").split(",") if t))
            elif isinstance(value, list):
                object.__setattr__(self, field, tuple(value))
        if isinstance(self.scales, (list, numbers.Real)):
            object.__setattr__(self, "scales", tuple(self.scales) if isinstance(self.scales, list)
                               else (self.scales,))
        check_types(self, "PointTransferConfig")
        _check_transfer_fields(self, "PointTransferConfig")

    @property
    def tap_names(self) -> tuple[str, ...]:
        """`taps`, or the backbone's validated taps when None (roles as given; `hyperpixel.resolve_taps` maps
        them)."""
        return self.taps if self.taps is not None else self.DEFAULT_TAPS[self.backbone]

    @property
    def extra_tap_names(self) -> tuple[str, ...]:
        """`extra_taps`, or `extra_backbone`'s validated taps when None; () without an extra backbone."""
        return self._side_taps(self.extra_backbone, self.extra_taps)

    @property
    def third_tap_names(self) -> tuple[str, ...]:
        """`third_taps`, or `third_backbone`'s validated taps when None; () without a third backbone."""
        return self._side_taps(self.third_backbone, self.third_taps)

    def _side_taps(self, backbone: str | None, taps: tuple[str, ...] | None) -> tuple[str, ...]:
        """A network read beside the backbone: its taps as given, else its validated ones (`DEFAULT_EXTRA_TAPS`,
        else `DEFAULT_TAPS`); () without that network."""
        if backbone is None:
            return ()
        if taps is not None:
            return taps
        return self.DEFAULT_EXTRA_TAPS.get(backbone) or self.DEFAULT_TAPS[backbone]

    @property
    def resolved_method(self) -> str:
        """`method`, or the features' validated method when None (`DEFAULT_METHOD`): a name of `TRANSFER_METHODS`,
        "bp" or a matcher name."""
        return self.method if self.method is not None else self.DEFAULT_METHOD[self.features]

    @property
    def matcher(self) -> str:
        """Deprecated (removed in the next release): `resolved_method`, which may be "bp", no matcher."""
        warnings.warn("PointTransferConfig.matcher is deprecated and will be removed in the next release: use "
                      "PointTransferConfig.resolved_method (the method, \"bp\" or a matcher)", DeprecationWarning,
                      stacklevel=2)
        return self.resolved_method

    @property
    def bp_beta(self) -> float:
        """`beta`, or the validated weight of these features when None (`DEFAULT_BETA`)."""
        return self.beta if self.beta is not None else self.DEFAULT_BETA[self.features]

    @property
    def grid_spec(self) -> int | str:
        """`grid`, or the method's validated stride when None."""
        return self.grid if self.grid is not None else self.DEFAULT_GRID[self.resolved_method]

    @property
    def networks(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """The networks whose features are matched, each with its taps, in order: (backbone, taps), then
        (extra_backbone, extra taps) and (third_backbone, third taps) for a matcher on conv features; () for SIFT or
        no features (the backbone then only places the grid)."""
        if self.features != "cnn":
            return ()
        nets: tuple[tuple[str, tuple[str, ...]], ...] = ((self.backbone, self.tap_names),)
        if self.resolved_method != "bp" and self.extra_backbone is not None:
            nets += ((self.extra_backbone, self.extra_tap_names),)
        if self.resolved_method != "bp" and self.third_backbone is not None:
            nets += ((self.third_backbone, self.third_tap_names),)
        return nets

    def describe(self) -> str:
        """What runs with these settings, in one line: the method, each network and its taps (or the other
        features), the foreground prior, the frame and the grid; parts the method does not run are left out (BP
        flow: one network, no prior). `convcorr match` prints it, titles its figure with it and records it.

        Returns:
          e.g. "OT + RHM (ot_rhm) on vgg16 conv4_1+conv5_1+conv5_2 + mobilenet_v2 block13+block14 +
          efficientnet_lite2 block14+block18 hyperpixels, mobilenet_v2 CAM prior (top 2), 224 px frames, grid 8 px".
        """
        if self.features == "none":  # no flow is solved, whatever the method
            return f"zero flow (features none): points move with the images' scaling, {self.image_size} px frames"
        matcher_on_cnn = self.features == "cnn" and self.resolved_method != "bp"
        feats = " + ".join(f"{net} {'+'.join(taps)}" for net, taps in self.networks) + " hyperpixels"
        if self.features == "sift":
            feats = "dense SIFT"
        elif matcher_on_cnn and self.scales != (1.0,):
            feats += f" at scales {'/'.join(f'{v:g}' for v in self.scales)}"
        parts = [f"{method_label(self.resolved_method)} ({self.resolved_method}) on {feats}"]
        if matcher_on_cnn and self.prior is not None:
            unused = f", unused by {self.resolved_method}" if not MATCHERS[self.resolved_method].transport else ""
            parts.append(f"{self.prior} CAM prior (top {self.prior_top_k}{unused})")
        if matcher_on_cnn and self.flip_source:
            parts.append("mirrored source tried")
        if matcher_on_cnn and self.soft_mnn:
            parts.append("soft mutual nearest neighbours")
        if matcher_on_cnn and self.projection is not None:
            parts.append(f"projection {self.projection}")
        grid = self.grid_spec
        parts.append(f"{self.image_size} px frames, grid {grid}{' px' if isinstance(grid, int) else ''}")
        return ", ".join(parts)

    def check_backbone(self, backbone, source: str = "PointTransferConfig") -> None:
        """InputError naming the field unless the taps (and a tap grid) are taps or roles of `backbone` (a
        Backbone or a name), the second and third networks' taps theirs (checked on their geometry, before any
        network runs), and `image_size` is at least the smallest input of each."""
        if self.features != "cnn":
            return
        fields = [("taps", t) for t in self.tap_names]
        if isinstance(self.grid_spec, str):
            fields.append(("grid", self.grid_spec))
        for field, name in fields:
            tap = resolve_tap(backbone, name, field)
            check_input_side(backbone, tap, self.image_size, source, "image_size")
        if self.resolved_method == "bp":  # BP flow reads the backbone alone (`points.side_models`)
            return
        for field, side, taps in (("extra_taps", self.extra_backbone, self.extra_tap_names),
                                  ("third_taps", self.third_backbone, self.third_tap_names)):
            if side is not None:
                net = get_backbone(side)
                for tap in resolve_taps(net, taps, field):
                    check_input_side(net, tap, self.image_size, source, "image_size")


def method_label(method: str) -> str:
    """The name a table row gives a point-transfer method.

    Args:
      method: a name of `TRANSFER_METHODS`: "bp" or a matcher name of `matching.MATCHERS`.

    Returns:
      Its `TransferMethod.label`: "BP flow", or the matcher's `Matcher.label` ("OT + RHM").
    """
    return TRANSFER_METHODS[method].label


def _check_transfer_fields(cfg: PointTransferConfig, source: str = "config") -> None:
    """Check the point-transfer settings of `cfg` for range.

    Args:
      cfg: a `PointTransferConfig` (its `__post_init__`).
      source: the source named in the error.

    Returns:
      None.

    Raises:
      InputError: naming `source` and the field, for a setting out of range.
    """
    def has(name):
        return hasattr(cfg, name)

    if has("backbone") and cfg.backbone not in BACKBONES:
        raise InputError(source, "backbone", f"one of {list(BACKBONES)}", cfg.backbone)
    if cfg.features not in FEATURES:
        raise InputError(source, "features", f"one of {list(FEATURES)}", cfg.features)
    if cfg.method is not None and cfg.method not in METHODS:
        raise InputError(source, "method", f"one of {list(METHODS)} or none (the features' validated method)",
                         cfg.method)
    fields = ("beta", "batch", "match_batch", "paper_side", "feature_norm", "sift_bin", "window", "radius")
    # inf is refused where it would give NaN or constant scores; radius, trim, carry_sigma, cycle and flip_margin
    # take it as "no limit" (every node carries, untrimmed, unweighted, unchecked, never mirrored: as None or off)
    check_fields(cfg, positive=tuple(f for f in fields if has(f)), at_least_one=("iters", "levels"), source=source,
                 finite=tuple(f for f in ("beta", "feature_norm", "ot_eps", "prior_floor") if has(f)))
    if not isinstance(cfg.image_size, numbers.Integral) or cfg.image_size < MIN_IMAGE_SIZE:
        raise InputError(source, "image_size", f"an integer >= {MIN_IMAGE_SIZE} (pixels)", cfg.image_size)
    if isinstance(cfg.grid, bool) or (isinstance(cfg.grid, int) and cfg.grid < 1):
        raise InputError(source, "grid", "a stride >= 1 (pixels) or a tap", cfg.grid)
    if has("scales") and (not isinstance(cfg.scales, tuple) or not cfg.scales or not all(
            isinstance(v, numbers.Real) and 0 < v < float("inf")
            for v in cfg.scales)):
        raise InputError(source, "scales", "finite input-size factors > 0 (a tuple)", cfg.scales)
    if has("extra_backbone") and cfg.extra_backbone is not None and cfg.extra_backbone not in BACKBONES:
        raise InputError(source, "extra_backbone", f"none or one of {list(BACKBONES)}", cfg.extra_backbone)
    if has("third_backbone") and cfg.third_backbone is not None and (
            cfg.third_backbone not in BACKBONES or cfg.third_backbone == cfg.extra_backbone):
        raise InputError(source, "third_backbone", f"none or one of {list(BACKBONES)} other than extra_backbone",
                         cfg.third_backbone)
    if has("prior") and cfg.prior is not None and cfg.prior not in CAM_TAPS:
        raise InputError(source, "prior", f"none or a backbone with a pooled classifier {list(CAM_TAPS)}", cfg.prior)
    for name, expected in (("trim", "a distance > 0 (grid strides)"), ("carry_sigma", "a width > 0 (grid strides)")):
        value = getattr(cfg, name, None)
        if value is not None and not (is_real(value) and value > 0):
            raise InputError(source, name, f"none or {expected}", value)
    if has("cycle") and cfg.cycle is not None and not (
            isinstance(cfg.cycle, numbers.Real) and cfg.cycle >= 0):
        raise InputError(source, "cycle", "none or a tolerance >= 0 (grid strides)", cfg.cycle)
    check_fields(cfg, positive=tuple(f for f in ("ot_eps", "prior_floor") if has(f)),
                 nonnegative=tuple(f for f in ("flip_margin",) if has(f)),
                 at_least_one=tuple(f for f in ("ot_iters", "hough_side", "prior_top_k") if has(f)), source=source)
    method = cfg.resolved_method
    if has("ot_eps") and method in MATCHERS and MATCHERS[method].transport:  # as `MatchConfig`'s eps
        check_eps(cfg.ot_eps, source, "ot_eps")
    if has("projection") and cfg.projection is not None and (not isinstance(cfg.projection, str)
                                                             or not cfg.projection):
        raise InputError(source, "projection", "none, a shipped projection's name or an .npz file", cfg.projection)
    if has("hough_side") and cfg.hough_side % 2 != 1:
        raise InputError(source, "hough_side", "an odd kernel width >= 1 (Hough bins)", cfg.hough_side)
    if cfg.taps is not None and (not cfg.taps or not all(isinstance(t, str) and t for t in cfg.taps)):
        raise InputError(source, "taps", "tap names or roles (comma-separated) or none", cfg.taps)
