"""The spatial model's settings and geometry (`convcorr_jax.pose.spatial`): the tree of (parent, child) edges over
the joints and the torso point, the kernel shape of its priors, and `SpatialConfig`.

Settings (`SpatialConfig`): one frozen config holds every setting, of inference (mode, unary power and floor,
torso sigma, ...) and of the priors (kernel, prior_sigma, prior_floor). Its defaults are the neutral starting point
of a search (sum-product, power 1, every offset of the map, sigma 1 cell, floor 1e-4, torso sigma 0.5 cell);
`FLIC_VALIDATED` is the setting chosen on FLIC's by-film validation split (the validation movies of FLIC train,
`pose.data`) by the experiment `tompson2015.spatial_validation` (bench/RESULTS_pose.md, "Spatial model (Sec.
3.3)": max-product, unary power 4, 15 x 15 cell kernel, prior sigma 1 cell, floor 1e-2, torso sigma 2 cells), the
default of `convcorr eval flic` and of the spatial model saved with a FLIC training run.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from typing import Any, Mapping, Sequence, cast

import numpy as np

from convcorr_jax.core import config as config_tools
from convcorr_jax.data import skeletons
from convcorr_jax.data.skeletons import Skeleton
from convcorr_jax.core.errors import F32_MAX, F32_TINY, InputError, is_int

Edges = tuple[tuple[int, int], ...]

# The tree of a skeleton is data (`data.skeletons.Skeleton.spatial_tree`: the registry's tree, else one derived from
# its links, rooted at the torso point, node K). FLIC's: torso -> shoulders -> elbows -> wrists; torso -> hips;
# torso -> nose -> eyes (node 11 the torso point), the default of `SpatialConfig`.
FLIC_EDGES: Edges = skeletons.FLIC.spatial_tree()
FLIC_TORSO = skeletons.FLIC.num_joints
MODES = ("sum", "max")
# sum mode's bound on the largest log-unary magnitude, unary_power x max(-log(unary_floor), log(1 + unary_floor))
# (`SpatialConfig`)
SUM_UNARY_MAX = 2.0 ** 13
# the smallest torso_sigma > 0 (cells): 2 sigma^2 at least float32's smallest normal number (`SpatialConfig`), 7.7e-20
TORSO_SIGMA_MIN = float(np.sqrt(F32_TINY / 2))
METHODS = ("direct", "fft")
OUTPUTS = ("prob", "log")


@dataclasses.dataclass(frozen=True)
class SpatialConfig:
    """Every setting of the spatial model: inference (`apply_spatial_model`) and priors (`learn_priors`). The
    defaults are the FLIC tree with sum-product inference and broad priors, the starting point of a search;
    `FLIC_VALIDATED` holds the setting chosen on FLIC's validation movies (module docstring).

    enabled: False returns the heat-maps unchanged.
    edges: the tree as (parent, child) node pairs; nodes 0..K-1 are the heat-maps' joints, node K the torso.
    mode: "sum" (sum-product: marginals) or "max" (max-product: max-marginals).
    unary_floor, unary_power: heat-map -> log-unary (module docstring): unary_floor at least float32's smallest
      normal number (1.2e-38), unary_power x log(unary_floor) within float32's range; in sum mode the log-unaries'
      largest magnitude, unary_power x max(-log(unary_floor), log(1 + unary_floor)), at most `SUM_UNARY_MAX` (2^13:
      unary_power 1186 for the floor 1e-3). A marginal is exp(b - logsumexp(b)), b the belief (log-unary plus
      messages, each message above about -(69 + log(kh kw))); float32 holds b to a spacing of 2^-23 |b|, off by up
      to half of it, which scales the marginal by as much: log-unaries up to 2^13 keep |b| under 2^14, the
      marginals summing to 1 within 2^-11 (5e-4). Larger ones lost the marginals (log-unaries of 2^29: an all-zero
      heat-map's marginal 1 in every cell), and from about 2^31 the belief's shift by its maximum overflowed exp
      (XLA may round the two differently): NaN marginals.
    torso_sigma: std (cells) of the torso node's Gaussian unary; 0 gives a delta at the torso's nearest cell. A
      sigma > 0 is at least `TORSO_SIGMA_MIN` (sqrt(2^-127) = 7.7e-20): the log-unary -d^2 / (2 sigma^2) is formed
      in float32, which flushes a 2 sigma^2 under its smallest normal number (2^-126) to 0, making the log-unary
      0 / 0 = NaN at a torso on a cell centre, else -inf in every cell: NaN marginals in sum mode, silently wrong
      max-marginals in max mode. From the bound up the joints' marginals stay finite and normalised however narrow
      the Gaussian, for a torso point on the map (its nearest cell's log-unary, >= -1 / (4 sigma^2), is finite):
      messages are shifted to maximum 0 and the torso's own marginal is not returned, so no `SUM_UNARY_MAX`-like
      bound applies (a torso point d cells off the map overflows every cell once d^2 / (2 sigma^2) > 3.4e38).
    output: "prob" (marginal maps) or "log" (log-marginals).
    method: convolution of the sum-product messages, "direct" or "fft" (large kernels; its float32 round-off, about
      1e-7 of a message's largest term, sets the smallest message values it resolves).
    kernel: side (cells, odd) of the prior kernels over child - parent offsets; 0: 2 * map side - 1, every offset
      on the map (`kernel_size`).
    prior_sigma: std (cells) of the Gaussian smoothing of the offset histograms (0: none; `offset_priors`).
    prior_floor: probability added at every offset before renormalising (`offset_priors`).
    """

    enabled: bool = True
    edges: Edges = FLIC_EDGES
    mode: str = "sum"
    unary_floor: float = 1e-3
    unary_power: float = 1.0
    torso_sigma: float = 0.5
    output: str = "prob"
    method: str = "direct"
    kernel: int = 0
    prior_sigma: float = 1.0
    prior_floor: float = 1e-4

    def validate(self) -> "SpatialConfig":
        """This config, or InputError naming the first field out of its range."""
        def bad(field, expected, got):
            raise InputError("spatial config", field, expected, got)

        if self.mode not in MODES:
            bad("mode", f"one of {MODES}", self.mode)
        if self.method not in METHODS:
            bad("method", f"one of {METHODS}", self.method)
        if self.output not in OUTPUTS:
            bad("output", f"one of {OUTPUTS}", self.output)
        if not self.unary_floor > 0:
            bad("unary_floor", "> 0", self.unary_floor)
        if not self.unary_power > 0:
            bad("unary_power", "> 0", self.unary_power)
        if not self.torso_sigma >= 0:
            bad("torso_sigma", ">= 0 (cells)", self.torso_sigma)
        if 0 < self.torso_sigma < TORSO_SIGMA_MIN:  # a NaN torso log-unary (docstring)
            bad("torso_sigma", f"0 (a delta) or >= {TORSO_SIGMA_MIN:.3g} cells (2 torso_sigma^2 must be a normal "
                "float32, >= 2^-126, or the torso's log-unary is NaN or -inf in every cell)", self.torso_sigma)
        if not (self.kernel == 0 or (self.kernel >= 1 and self.kernel % 2 == 1)):
            bad("kernel", "an odd side >= 1 (offsets -r..r) or 0 (the whole map)", self.kernel)
        if not self.prior_sigma >= 0:
            bad("prior_sigma", ">= 0 (cells)", self.prior_sigma)
        if not self.prior_floor >= 0:
            bad("prior_floor", ">= 0 (probability)", self.prior_floor)
        config_tools.check_fields(self, source="spatial config", finite=("unary_floor", "unary_power", "torso_sigma",
                                                                         "prior_sigma", "prior_floor"))
        # the log-unary of a zero heat-map cell, unary_power * log(unary_floor), must be a finite float32: else an
        # all-zero heat-map's unaries were all -inf and its marginals NaN, silently
        if self.unary_floor < F32_TINY:
            bad("unary_floor", f">= {F32_TINY:.3g} (float32's smallest normal number; a smaller floor is 0 in float32)",
                self.unary_floor)
        low = -float(np.log(self.unary_floor))
        if low > 0 and not self.unary_power * low < F32_MAX:
            bad("unary_power", f"< {F32_MAX / low:.3g} (unary_power x log(unary_floor) must fit float32)",
                self.unary_power)
        # sum mode's marginals lose their sum in float32 beyond `SUM_UNARY_MAX`, and were NaN from about 2^31
        size = max(low, float(np.log1p(self.unary_floor)))
        if self.mode == "sum" and not self.unary_power * size <= SUM_UNARY_MAX:
            bad("unary_power", f"<= {SUM_UNARY_MAX / size:.4g} in sum mode (the largest log-unary magnitude, "
                f"unary_power x {size:.3g}, must stay <= 2^13 = {SUM_UNARY_MAX:g}, or float32 loses the marginals)",
                self.unary_power)
        return self

    def kernel_size(self, map_size: int | None = None) -> int:
        """The prior kernel's side in cells: `kernel`, or for kernel 0 2 * map_size - 1 (map_size: the heat-map's
        side in cells, needed then)."""
        if self.kernel:
            return int(self.kernel)
        if map_size is None or int(map_size) < 1:
            raise InputError("spatial config", "kernel", "an odd kernel side, or the heat-map side (map_size) for "
                             "kernel 0 (every offset of the map)", map_size)
        return 2 * int(map_size) - 1

    def inference(self) -> "SpatialConfig":
        """This config with the prior-learning fields (kernel, prior_sigma, prior_floor) at their defaults: all
        that inference depends on (the priors' shape comes with the priors), so settings that differ only in how
        the priors were learned share one compilation."""
        base = SpatialConfig()
        return dataclasses.replace(self, kernel=base.kernel, prior_sigma=base.prior_sigma,
                                   prior_floor=base.prior_floor)

    def to_dict(self) -> dict:
        """JSON-ready fields (edges as lists of pairs)."""
        d = dataclasses.asdict(self)
        d["edges"] = [list(e) for e in self.edges]
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], source: str | os.PathLike = "spatial config") -> "SpatialConfig":
        """The config of `to_dict`'s fields (missing fields take the defaults), validated; InputError naming
        `source` and the field for an unknown field or a bad value."""
        if not isinstance(d, Mapping):
            raise InputError(source, "config", "a mapping of SpatialConfig fields", type(d).__name__)
        try:
            return config_tools.from_dict(cls, d).validate()
        except InputError as e:
            raise InputError(source, e.field, e.expected, e.got) from None
        except (TypeError, ValueError) as e:
            raise InputError(source, "config", "SpatialConfig fields", str(e)) from None


# The setting chosen on FLIC's by-film validation split by `tompson2015.spatial_validation` (module docstring;
# bench/RESULTS_pose.md): the default of `convcorr eval flic` and of the spatial model saved with a FLIC run.
FLIC_VALIDATED = SpatialConfig(mode="max", unary_power=4.0, kernel=15, prior_floor=1e-2, torso_sigma=2.0)


def for_skeleton(skeleton: Skeleton, cfg: SpatialConfig = FLIC_VALIDATED) -> SpatialConfig:
    """cfg over the skeleton's tree (`Skeleton.spatial_tree`: nodes 0..K-1 its joints, node K the torso point).

    Args:
        skeleton: any skeleton.
        cfg: the other settings (default the ones chosen on FLIC).

    Returns:
        the SpatialConfig.
    """
    return dataclasses.replace(cfg, edges=skeleton.spatial_tree()).validate()


@dataclasses.dataclass(frozen=True)
class Tree:
    """A tree over nodes 0..V-1 (`tree_structure`): its root, breadth-first order and adjacency."""

    root: int
    order: tuple[int, ...]  # breadth-first from the root
    parent_edge: dict  # child node -> edge index
    children: dict  # node -> tuple of (child node, edge index)


@functools.lru_cache(maxsize=64)
def tree_structure(edges: Edges, num_nodes: int) -> Tree:
    """Root, breadth-first order and adjacency of a tree given as (parent, child) pairs (cached).

    Args:
        edges: (parent, child) node pairs over nodes 0..num_nodes-1 (hashable: a tuple of pairs).
        num_nodes: V, the number of nodes (K joints + the torso point).

    Returns:
        The `Tree`: its root, the nodes in breadth-first order from it, each child's edge index and each node's
        (child, edge index) pairs.

    Raises:
        InputError: unless the edges form one tree spanning every node, directed away from a single root.
    """
    src = "spatial edges"
    if len(edges) != num_nodes - 1:
        raise InputError(src, "edges", f"{num_nodes - 1} (parent, child) pairs for a tree over {num_nodes} nodes",
                         len(edges))
    parent_edge: dict[int, int] = {}
    children: dict[int, list] = {v: [] for v in range(num_nodes)}
    for e, pc in enumerate(edges):
        if len(pc) != 2:
            raise InputError(src, f"edges[{e}]", "a (parent, child) pair", pc)
        p, c = int(pc[0]), int(pc[1])
        if not (0 <= p < num_nodes and 0 <= c < num_nodes) or p == c:
            raise InputError(src, f"edges[{e}]", f"two different nodes in 0..{num_nodes - 1}", pc)
        if c in parent_edge:
            raise InputError(src, f"edges[{e}]", f"one parent per node (node {c} has two)", pc)
        parent_edge[c] = e
        children[p].append((c, e))
    roots = [v for v in range(num_nodes) if v not in parent_edge]
    if len(roots) != 1:
        raise InputError(src, "edges", "exactly one root (a node that is nobody's child)", roots)
    order = [roots[0]]
    for v in order:
        order.extend(c for c, _ in children[v])
    if len(order) != num_nodes:
        raise InputError(src, "edges", "a tree reaching every node from the root (no cycles)",
                         sorted(set(range(num_nodes)) - set(order)))
    return Tree(roots[0], tuple(order), parent_edge, {v: tuple(ch) for v, ch in children.items()})


def kernel_shape(kernel_size: int | Sequence[int]) -> tuple[int, int]:
    """(kh, kw) of a prior kernel side given as an int or a pair.

    Args:
        kernel_size: one side (a square kernel) or (kh, kw), cells.

    Returns:
        (kh, kw) as ints.

    Raises:
        InputError: unless it is one int or a pair of ints, each odd and >= 1.
    """
    expected = "an odd int >= 1 or a pair (kh, kw) of them (offsets -r..r)"
    if np.ndim(kernel_size) == 0:
        kh = kw = cast(int, kernel_size)
    elif np.ndim(kernel_size) == 1 and len(cast(Sequence[int], kernel_size)) == 2:
        kh, kw = cast(Sequence[int], kernel_size)
    else:
        raise InputError("spatial prior", "kernel_size", expected, kernel_size)
    if not (is_int(kh, 1) and is_int(kw, 1)) or kh % 2 == 0 or kw % 2 == 0:
        raise InputError("spatial prior", "kernel_size", expected, kernel_size)
    return int(kh), int(kw)
