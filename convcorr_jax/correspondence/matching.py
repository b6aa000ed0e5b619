"""Geometric matching of hyperpixels: regularised Hough matching (RHM) and entropic optimal transport (OT).

All matchers score every (source node, target node) pair of two sets of feature columns fs [Ns, C], ft [Nt, C]
whose image positions are src_xy [Ns, 2], trg_xy [Nt, 2] ((x, y) pixels) and return a confidence matrix
[Ns, Nt] (larger is better); keypoints are then transferred from the argmax target of each source node.

- Appearance (Min et al. 2019): cos(f_i, g_j) clamped at 0, raised to `power` (3 for HPF).
- RHM (Hyperpixel Flow, `rhm`): every candidate match votes with its score for its offset t - s in a
  discretised offset space: the vote position (W_s - s) + t (W_s: source image size (w, h)) is binned with a
  square cell of side sqrt((W_s + W_t)(H_s + H_t) / ncells) (HPF's `ncells` = 8192 bins over the space of all
  offsets); the vote map is smoothed with a normalised `side` x `side` Gaussian (sigma = side / (2 * 2.354) bins,
  zero padding) and each match's score is multiplied by the smoothed votes of its own bin:
  conf_ij = votes_ij * H[bin(i, j)]. Matches that agree with the dominant offsets win.
- OT (SCOT, Liu et al. 2020, `sinkhorn_log`, `ot_scores`): cost 1 - cos^power (power 1), marginals mu (source)
  and nu (target) proportional to given node weights (uniform by default), the entropic plan
  P = diag(a) K diag(b), K = exp(-C / eps), by Sinkhorn iterations in log space started from a = 1 / Ns
  (b = nu / K^T a, then a = mu / K b: after each iteration the rows of P sum to mu exactly; SCOT runs one
  iteration); scores (Ns * P)^exp2 (exp2 = 0.5 for PF-WILLOW in SCOT). "ot_rhm" feeds these scores to RHM as
  votes (SCOT's OT + Hough).

Soft mutual nearest neighbours (`soft_mutual`, NCNet, Rocco et al. 2018) reweights every confidence by how close
it is to the best of its row and of its column, conf_ij * (conf_ij / max_k conf_kj) * (conf_ij / max_l conf_il),
before the argmax (a soft form of `carry.cycle_consistent`'s hard check). Keypoints move by the best matches in
`carry` (`carry.transfer_keypoints`).
"""

from __future__ import annotations

import dataclasses
import functools
import sys
import warnings
from typing import Any, Callable

import jax
import jax.numpy as jnp

from convcorr_jax.backbones.base import jit_forward
from convcorr_jax.core.config import check_fields, check_types
from convcorr_jax.core.deprecation import renamed
from convcorr_jax.correspondence import carry
from convcorr_jax.correspondence.hough import rhm
from convcorr_jax.correspondence.match_checks import check_features, check_image_sizes, check_weights
from convcorr_jax.correspondence.optimal_transport import check_eps, marginal, ot_scores
from convcorr_jax.core.errors import InputError, check, check_shape, is_real
from convcorr_jax.core.knn import l2_normalize
from convcorr_jax.core.registry import Registry

@dataclasses.dataclass(frozen=True)
class Matcher:
    """One entry of the matcher table `MATCHERS`.

    Fields:
      scores: `scores(sim, src_xy, trg_xy, src_hw, trg_hw, config, src_weights, trg_weights) -> [Ns, Nt]` float32
        confidences (larger is better) from the clamped, powered cosines sim [Ns, Nt] (`config.cos_power`) of the
        source nodes at src_xy [Ns, 2] and the target nodes at trg_xy [Nt, 2] ((x, y) pixels of images of src_hw /
        trg_hw (h, w) pixels); weights [Ns] / [Nt] or None (uniform). Traceable (jit, vmap).
      label: the name a table row prints ("OT + RHM").
      cos_power: the exponent on the clamped cosine when `MatchConfig.power` is None.
      grid: the node stride (frame pixels) point transfer uses with it when its `grid` is None.
      hough: whether `scores` smooths Hough votes with `MatchConfig.side` (RHM), so that setting is part of it.
      transport: whether `scores` runs an entropic transport plan, so that it reads `MatchConfig.eps` (checked
        against float32's bound, `optimal_transport.check_eps`) and the node weights; False for "cos" and "rhm".
    """

    scores: Callable[..., jax.Array]
    label: str
    cos_power: float = 3.0
    grid: int = 8
    hough: bool = False
    transport: bool = True


MATCHERS: Registry[Matcher] = Registry("matcher")  # name -> Matcher; filled at the end of this module
SCORERS = MATCHERS.names  # "cos", "rhm", "ot", "ot_rhm", then any registered later: a MatchConfig's scorer


def register_matcher(name: str, scores: Callable[..., jax.Array], label: str, cos_power: float = 3.0, grid: int = 8,
                     replace: bool = False, hough: bool = False, transport: bool = True) -> Matcher:
    """Add a matcher to `MATCHERS`: every caller (`match`, `transfer_points`, the PF-WILLOW experiments, the
    command line's --method) reads the table, and it is a point-transfer method at once
    (`point_config.TRANSFER_METHODS`).

    Args:
      name: the matcher's name (`MatchConfig.scorer`; as a point-transfer method `PointTransferConfig.method`,
        `--set transfer.method=NAME`).
      scores: the confidence function (`Matcher.scores`).
      label: a short name for tables.
      cos_power: exponent on the clamped cosine given to `scores`.
      grid: default node stride in frame pixels.
      replace: replace a matcher of the same name.
      hough: `scores` reads `MatchConfig.side` (`Matcher.hough`).
      transport: `scores` may run a transport plan (`Matcher.transport`): True unless it never reads eps or the
        node weights, so that eps is held to float32's bound for it (its jitted `ot_scores` would skip the check).

    Returns:
      The `Matcher` registered.

    Raises:
      InputError: `scores` not callable, `cos_power` not a positive finite number, `grid` not a whole number >= 1,
        or `name` a point-transfer method that is no matcher ("bp": the matcher would be a `MatchConfig.scorer` but
        never a transfer method, `method=name` running that method instead); a name already registered without
        `replace`.
    """
    where = f"matcher {name}"
    check(callable(scores), where, "scores", "a function (sim, src_xy, trg_xy, src_hw, trg_hw, config, ...) -> "
          "[Ns, Nt] confidences", type(scores).__name__)
    check(is_real(cos_power, finite=True) and cos_power > 0, where, "cos_power", "a positive finite exponent",
          cos_power)
    check(is_real(grid) and float(grid).is_integer() and grid >= 1, where, "grid",
          "a node stride >= 1 (whole frame pixels)", grid)
    check(name not in _other_methods(), where, "name", "a name that is not a point-transfer method of its own "
          f"({', '.join(_other_methods())}: `method=` would run that one)", name)
    return MATCHERS.register(name, Matcher(scores, label, float(cos_power), int(grid), bool(hough),
                                                   bool(transport)), replace)


def _other_methods() -> tuple[str, ...]:
    """The point-transfer methods that are no matcher ("bp"; `point_config.TRANSFER_METHODS`, once it is loaded:
    it reads this module's table), whose names a matcher cannot take."""
    table = getattr(sys.modules.get("convcorr_jax.correspondence.point_config"), "TRANSFER_METHODS", None)
    return tuple(n for n, m in table.items() if m.kind != "matcher") if table is not None else ()


@dataclasses.dataclass(frozen=True)
class MatchConfig:
    """Matcher settings.

    Fields:
      scorer: the scoring the matcher runs, a name of `MATCHERS`: "cos" (appearance only), "rhm" (HPF), "ot"
        (SCOT's transport plan), "ot_rhm" (SCOT: the plan as RHM votes) or a matcher registered later.
      power: exponent on the clamped cosine (None: the matcher's `cos_power`, 3 for cos / rhm as HPF, 1 for the OT
        cost as SCOT).
      eps: entropic regularisation (cost units), > 0; for a scorer that runs the transport plan
        (`Matcher.transport`: all but "cos" and "rhm") at least `optimal_transport.MIN_EPS_PER_COST` (1.2e-4: the costs
        1 - similarity lie in [0, 1]; below it float32 loses the plan's marginals, `sinkhorn_log`).
      iters: Sinkhorn iterations (SCOT: 1).
      exp2: exponent on the rescaled plan.
      ncells: Hough bins over the offset space.
      side: Gaussian filter width in bins.
      soft_mnn: reweight the confidences by soft mutual nearest neighbours (`soft_mutual`) before any argmax.
      method: the former name of `scorer`, taken for one release with a DeprecationWarning (no field).
    """

    scorer: str = "rhm"
    power: float | None = None
    eps: float = 0.05
    iters: int = 1
    exp2: float = 0.5
    ncells: int = 8192
    side: int = 7
    soft_mnn: bool = False

    def __post_init__(self):
        check_types(self, "MatchConfig")  # iters=2.5 failed inside the Sinkhorn loop; soft_mnn="false" was on
        if self.scorer not in SCORERS:
            raise InputError("MatchConfig", "scorer", f"one of {list(SCORERS)}", self.scorer)
        check_fields(self, positive=("eps", "power", "exp2"), at_least_one=("iters", "ncells"),
                     finite=("eps", "power", "exp2"), source="MatchConfig")
        check(self.side >= 1 and self.side % 2 == 1, "MatchConfig", "side", "an odd filter width >= 1", self.side)
        if MATCHERS[self.scorer].transport:  # costs 1 - sim in [0, 1]; jitted matchers skip `sinkhorn_log`'s check
            check_eps(self.eps, "MatchConfig", "eps")

    @property
    def cos_power(self) -> float:
        """`power`, or the matcher's `cos_power` when None."""
        if self.power is not None:
            return float(self.power)
        return MATCHERS[self.scorer].cos_power


def _former_method(config: MatchConfig) -> str:
    """`MatchConfig.method`, the former name of `scorer`: `scorer`, with a DeprecationWarning."""
    warnings.warn("MatchConfig.method is deprecated and will be removed in the next release: use MatchConfig.scorer",
                  DeprecationWarning, stacklevel=2)
    return config.scorer


_dataclass_init = MatchConfig.__init__


@functools.wraps(_dataclass_init)
def _init_with_former_method(self: MatchConfig, *args: Any, method: str | None = None, **kwargs: Any) -> None:
    """The dataclass's __init__, also taking `method=` (the former name of `scorer`, which it overrides) with a
    DeprecationWarning. Not an InitVar: `dataclasses.replace` would read `.method` and pass it back."""
    if method is not None:
        warnings.warn("MatchConfig(method=...) is deprecated and will be removed in the next release: use "
                      "MatchConfig(scorer=...)", DeprecationWarning, stacklevel=2)
        if args:
            args = (method, *args[1:])
        else:
            kwargs["scorer"] = method
    _dataclass_init(self, *args, **kwargs)


MatchConfig.__init__ = _init_with_former_method  # type: ignore[method-assign]
MatchConfig.method = property(_former_method)  # type: ignore[attr-defined]


# --------------------------------------------------------------------------------------------- appearance


COS_EPS = 1e-8  # the smallest row norm divided by: an all-zero row stays 0


def _cosine_similarity(fs: jax.Array, ft: jax.Array, eps: float = COS_EPS) -> jax.Array:
    """Cosine similarity of the rows of fs and ft.

    Args:
      fs, ft, eps: [Ns, C] and [Nt, C] feature rows; the smallest row norm divided by.

    Returns:
      float32 [Ns, Nt] (0 for an all-zero row).
    """
    a = l2_normalize(fs.astype(jnp.float32), eps)
    b = l2_normalize(ft.astype(jnp.float32), eps)
    return jnp.dot(a, b.T, precision=jax.lax.Precision.HIGHEST)


# ------------------------------------------------------------------------------------------- the table


def _marginals(n_src: int, n_trg: int, src_weights: jax.Array | None, trg_weights: jax.Array | None
               ) -> tuple[jax.Array, jax.Array]:
    """OT marginals (mu [Ns], nu [Nt]) from node weights (None: uniform)."""
    mu = marginal(jnp.ones(n_src) if src_weights is None else src_weights)
    nu = marginal(jnp.ones(n_trg) if trg_weights is None else trg_weights)
    return mu, nu


def _cos_matcher(sim, src_xy, trg_xy, src_hw, trg_hw, config, src_weights=None, trg_weights=None) -> jax.Array:
    """The "cos" matcher (`Matcher.scores`): the powered cosines themselves.

    Args:
      sim, src_xy, trg_xy, src_hw, trg_hw, config, src_weights, trg_weights: as `Matcher.scores`.

    Returns:
      sim, [Ns, Nt].
    """
    return sim


def _rhm_matcher(sim, src_xy, trg_xy, src_hw, trg_hw, config, src_weights=None, trg_weights=None) -> jax.Array:
    """The "rhm" matcher (`Matcher.scores`): the powered cosines as votes of `rhm`.

    Args:
      sim, src_xy, trg_xy, src_hw, trg_hw, config, src_weights, trg_weights: as `Matcher.scores`.

    Returns:
      [Ns, Nt] confidences.
    """
    return rhm(sim, src_xy, trg_xy, src_hw, trg_hw, config.ncells, config.side)


def _ot_matcher(sim, src_xy, trg_xy, src_hw, trg_hw, config, src_weights=None, trg_weights=None) -> jax.Array:
    """The "ot" matcher (`Matcher.scores`): SCOT's `ot_scores` with the node weights as marginals.

    Args:
      sim, src_xy, trg_xy, src_hw, trg_hw, config, src_weights, trg_weights: as `Matcher.scores`.

    Returns:
      float32 [Ns, Nt] scores.
    """
    mu, nu = _marginals(sim.shape[0], sim.shape[1], src_weights, trg_weights)
    return ot_scores(sim, mu, nu, config.eps, config.iters, config.exp2)


def _ot_rhm_matcher(sim, src_xy, trg_xy, src_hw, trg_hw, config, src_weights=None, trg_weights=None) -> jax.Array:
    """The "ot_rhm" matcher (`Matcher.scores`): SCOT's OT scores as votes of `rhm`.

    Args:
      sim, src_xy, trg_xy, src_hw, trg_hw, config, src_weights, trg_weights: as `Matcher.scores`.

    Returns:
      [Ns, Nt] confidences.
    """
    scores = _ot_matcher(sim, src_xy, trg_xy, src_hw, trg_hw, config, src_weights, trg_weights)
    return rhm(scores, src_xy, trg_xy, src_hw, trg_hw, config.ncells, config.side)


register_matcher("cos", _cos_matcher, "cosine nearest neighbour", transport=False)
register_matcher("rhm", _rhm_matcher, "RHM", hough=True, transport=False)
register_matcher("ot", _ot_matcher, "OT", cos_power=1.0)
register_matcher("ot_rhm", _ot_rhm_matcher, "OT + RHM", cos_power=1.0, hough=True)


# ------------------------------------------------------------------------------------------------ matchers


def match(fs: jax.Array, ft: jax.Array, src_xy: jax.Array, trg_xy: jax.Array, src_hw: tuple[int, int],
          trg_hw: tuple[int, int], config: MatchConfig = MatchConfig(), src_weights: jax.Array | None = None,
          trg_weights: jax.Array | None = None) -> jax.Array:
    """Confidences of matching source feature columns to target ones by `config.scorer` (`MATCHERS`).

    Args:
      fs, ft: float feature columns [Ns, C] and [Nt, C], finite.
      src_xy, trg_xy: their node centres [Ns, 2], [Nt, 2], (x, y) pixels.
      src_hw, trg_hw: (h, w) pixels of the source and target images (static), h, w >= 1.
      config: the matcher and its settings (static).
      src_weights, trg_weights: OT marginals [Ns] / [Nt] up to scale (None: uniform); finite, some > 0.

    Returns:
      float32 jax array [Ns, Nt] confidences, larger is better. Traceable (jit / vmap with static sizes and config).

    Raises:
      InputError: an image size that is not (h, w) with h, w >= 1, concrete features with a NaN / inf, or concrete
        weights with a NaN / inf or no entry > 0.
    """
    src_hw, trg_hw = check_image_sizes(src_hw, trg_hw)
    check_features("match", fs, ft)
    check_weights("match", "src_weights", src_weights)
    check_weights("match", "trg_weights", trg_weights)
    return _match_cosine(_cosine_similarity(fs, ft), src_xy, trg_xy, src_hw, trg_hw, config, src_weights, trg_weights)


def _match_cosine(cos: jax.Array, src_xy: jax.Array, trg_xy: jax.Array, src_hw: tuple[int, int],
                 trg_hw: tuple[int, int], config: MatchConfig = MatchConfig(), src_weights: jax.Array | None = None,
                 trg_weights: jax.Array | None = None) -> jax.Array:
    """`match` from the cosine similarities of the source and target columns. Traceable.

    Args:
      cos: [Ns, Nt] cosine similarities (clamped at 0 and raised to `config.cos_power` here).
      src_xy, trg_xy, src_hw, trg_hw, config, src_weights, trg_weights: as `match`.

    Returns:
      [Ns, Nt] confidences, larger is better.
    """
    sim = jnp.power(jnp.maximum(cos, 0.0), config.cos_power)
    conf = MATCHERS[config.scorer].scores(sim, src_xy, trg_xy, src_hw, trg_hw, config, src_weights, trg_weights)
    return soft_mutual(conf) if config.soft_mnn else conf


def soft_mutual(conf: jax.Array, eps: float = 1e-12) -> jax.Array:
    """Soft mutual nearest-neighbour filtering of a confidence matrix (NCNet, Rocco et al. 2018).

    Args:
      conf: [Ns, Nt] confidences >= 0 (larger is better).
      eps: the smallest row / column maximum divided by (an all-zero row or column stays 0).

    Returns:
      float32 jax array [Ns, Nt]: conf_ij * (conf_ij / max_k conf_kj) * (conf_ij / max_l conf_il); 1 x conf_ij exactly
      where ij is the best of both its row and its column.
    """
    c = conf.astype(jnp.float32)
    col = jnp.maximum(jnp.max(c, axis=0, keepdims=True), eps)
    row = jnp.maximum(jnp.max(c, axis=1, keepdims=True), eps)
    return c * (c / col) * (c / row)


_unit_rows = jax.jit(lambda f: l2_normalize(f.astype(jnp.float32), COS_EPS))  # `_cosine_similarity`'s rows


def _best_on_unit_rows(a: jax.Array, b: jax.Array, src_xy: jax.Array, trg_xy: jax.Array, src_hw: tuple[int, int],
                       trg_hw: tuple[int, int], config: MatchConfig, wa: jax.Array, wb: jax.Array, backward: bool
                       ) -> tuple[jax.Array, ...]:
    """`match_best` on unit rows a [P, Ns, C], b [P, Nt, C] (`_unit_rows`)."""
    def best(c):
        return jnp.argmax(c, axis=1).astype(jnp.int32), jnp.max(c, axis=1)

    def one(a, b, wa, wb):
        cos = jnp.dot(a, b.T, precision=jax.lax.Precision.HIGHEST)
        out = best(_match_cosine(cos, src_xy, trg_xy, src_hw, trg_hw, config, wa, wb))
        if backward:  # the same cosines transposed: the GEMM gives cos(b_j, a_i) and cos(a_i, b_j) bit for bit
            out += best(_match_cosine(cos.T, trg_xy, src_xy, trg_hw, src_hw, config, wb, wa))
        return out

    return jax.vmap(one)(a, b, wa, wb)


_BEST_STATIC = ("src_hw", "trg_hw", "config", "backward")
_best_batched = jit_forward(_best_on_unit_rows, _BEST_STATIC)  # P > 1 pairs (see `match_best`)
_best_single = jax.jit(_best_on_unit_rows, static_argnames=_BEST_STATIC)


def match_best(fs: jax.Array, ft: jax.Array, src_xy: jax.Array, trg_xy: jax.Array, src_hw: tuple[int, int],
               trg_hw: tuple[int, int], config: MatchConfig = MatchConfig(), src_weights: jax.Array | None = None,
               trg_weights: jax.Array | None = None, backward: bool = False) -> tuple[jax.Array, ...]:
    """Best target node of every source node for a batch of pairs, by `match`'s argmax over the targets.

    The rows are normalised by one compiled program and matched by another (compiled together, XLA:CPU fuses the
    normalisation into a slower matrix product); on a CPU a batch of several pairs is matched by a program compiled
    without YNNPACK fusions (`backbones.base.jit_forward`), a single pair by XLA's default program. Timings:
    bench/RESULTS.md.

    Args:
      fs, ft: feature columns [P, Ns, C] and [P, Nt, C], finite.
      src_xy, trg_xy, src_hw, trg_hw, config: as `match` (node centres shared by the batch).
      src_weights, trg_weights: optional OT weights [P, Ns] / [P, Nt] (None: uniform).
      backward: also match the target to the source (`match` with every pair of arguments swapped), same cosines.

    Returns:
      jax arrays: (index int32 [P, Ns] into the Nt target nodes, confidence float32 [P, Ns]); backward=True
      appends (index int32 [P, Nt] into the Ns source nodes, confidence float32 [P, Nt]).

    Raises:
      InputError: naming the argument whose shape disagrees (features not [P, N, C], node centres not [N, 2]), an
        image size that is not (h, w) with h, w >= 1, concrete features with a NaN / inf, or OT weights with a NaN /
        inf or no entry > 0 in a pair's row.
    """
    dims = check_shape(fs, "P Ns C", "match_best", "fs", note="(a batch of pairs)")
    check_shape(ft, "P Nt C", "match_best", "ft", dims, note="(a batch of pairs)")
    check_shape(src_xy, "Ns 2", "match_best", "src_xy", dims, note="(x, y) pixels")
    check_shape(trg_xy, "Nt 2", "match_best", "trg_xy", dims, note="(x, y) pixels")
    for field, w, spec in (("src_weights", src_weights, "P Ns"), ("trg_weights", trg_weights, "P Nt")):
        if w is not None:
            check_shape(w, spec, "match_best", field, dims, note="(OT marginal weights)")
        check_weights("match_best", field, w)
    src_hw, trg_hw = check_image_sizes(src_hw, trg_hw, "match_best")
    check_features("match_best", fs, ft)
    wa = jnp.ones(fs.shape[:2], jnp.float32) if src_weights is None else src_weights
    wb = jnp.ones(ft.shape[:2], jnp.float32) if trg_weights is None else trg_weights
    best = _best_batched if fs.shape[0] > 1 else _best_single
    return best(_unit_rows(fs), _unit_rows(ft), src_xy, trg_xy, src_hw, trg_hw, config, wa, wb, backward)


__getattr__ = renamed(__name__, {"METHODS": "SCORERS", "transfer_keypoints": carry.transfer_keypoints,
                                 "cycle_consistent": carry.cycle_consistent})  # former names, one release
