"""Every built-in backbone's receptive-field geometry (`Backbone.geometry`: size, stride and offset of each spatial
tap; `receptive_field.grid_centers`) against brute force (Long et al. 2014, Sec. 3): the pixels a map cell depends
on are those where the input gradient of its sum over channels is non-zero. For the first, a middle and the last
cell of each tap's map, that support must be the cell's declared box, `size` pixels around its centre `offset + i *
stride`, clipped to the image (the edge cells of padded layers reach outside it), in x and in y.

Random weights and random inputs (a pixel a ReLU or a max pool cuts off in one is read in another); channels cut
to an eighth (`SLIM`: the same layers and geometry, 64 times fewer multiplications). The first test reads every tap
of a backbone from one compiled gradient on a 96 or 99 px input (deep taps' boxes then cover most of it); the second
gives each tap an input larger than its receptive field, so that the middle cell's box lies inside the image. Both
are in the slow tier: the fast tier's `tests/test_backbones.py::test_geometry_matches_empirical_receptive_field`
checks every tap of every network by another method (NaN marks through the real network).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from convcorr_jax.backbones import layers, registry
from convcorr_jax.backbones.receptive_field import grid_centers

BUILT_IN = ("caffenet", "bvlc_alexnet", "torchvision_alexnet", "vgg16", "mobilenet_v2", "efficientnet_lite2")
SLIM = 8  # every channel count of the built-in networks is a multiple of 8
DRAWS = 4  # random inputs per cell, their supports united
# px, the fast test's input: every tap has a map on it, and no layer leaves the last rows or columns unread (AlexNet's
# conv1, 11 / 4 unpadded, reads all of 3 + 4 n px; its pools then drop nothing either: 227 = 3 + 32 * 7); the slow
# test adds multiples of 32
SIDE = {"caffenet": 99, "bvlc_alexnet": 99}


@functools.cache
def _params(name: str):
    """Random parameters of `name`'s convolutional layers with an eighth of the channels (`layers.init_tree`:
    He-normal kernels, identity batch norm): kernels HWIO [k, k, I, O] -> [k, k, I / SLIM, O / SLIM] (I = 3, the
    image, and I = 1, depthwise, kept), per-channel vectors [C] -> [C / SLIM]; the dense layers left out."""
    def slim(leaf):
        if len(leaf.shape) == 4:
            k, _, i, o = leaf.shape
            return (k, k, i if i in (1, 3) else i // SLIM, o // SLIM)
        return (leaf.shape[0] // SLIM,)

    bb = registry.get(name)
    like = jax.eval_shape(lambda: bb.init(jax.random.key(0)))
    conv = {k: v for k, v in like.items() if all(len(leaf.shape) != 2 for leaf in jax.tree_util.tree_leaves(v))}
    return layers.init_tree(jax.random.key(0), jax.tree_util.tree_map(slim, conv))


@functools.cache
def _support_fn(name: str, taps: tuple[str, ...]):
    """jit: (params, x [B, S, S, 3], {tap: cotangent [B, h, w]}) -> [B, S, S] |input gradient of the sum of every
    tap's cells times its cotangent|, summed over channels."""
    bb = registry.get(name)

    def total(x, params, cts):
        out = bb.apply(params, x, taps=taps)
        return sum(jnp.sum(out[t] * cts[t][..., None]) for t in taps)

    return jax.jit(lambda params, x, cts: jnp.abs(jax.grad(total)(x, params, cts)).sum(-1))


def _cells(hw: tuple[int, int]) -> list[tuple[int, int]]:
    """(row, col) of the first, a middle and the last cell of an (h, w) map."""
    h, w = hw
    return sorted({(0, 0), (h // 2, w // 2), (h - 1, w - 1)})


@functools.cache
def _supports(name: str, side: int, taps: tuple[str, ...]) -> dict:
    """{tap: [(cell (row, col), (x0, y0, x1, y1) inclusive bounds of its non-zero input gradient)]} on a `side` px
    input: one backward pass per cell and input, all taps' cells in one batch, the supports of `DRAWS` random inputs
    united."""
    bb = registry.get(name)
    hws = {t: tuple(bb.grid_size(t, (side, side))) for t in taps}
    rows = [(t, c) for t in taps for c in _cells(hws[t])]
    cts = {t: np.zeros((len(rows), *hws[t]), np.float32) for t in taps}
    for k, (t, (r, c)) in enumerate(rows):
        cts[t][k, r, c] = 1.0
    x = jax.random.normal(jax.random.key(1), (DRAWS * len(rows), side, side, 3))
    cts = {t: jnp.asarray(np.tile(v, (DRAWS, 1, 1))) for t, v in cts.items()}
    support = np.asarray(_support_fn(name, taps)(_params(name), x, cts)).reshape(DRAWS, len(rows), side, side).sum(0)
    out: dict = {t: [] for t in taps}
    for k, (t, cell) in enumerate(rows):
        ys, xs = np.nonzero(support[k])
        out[t].append((cell, (int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max()))))
    return out


def _check(name: str, tap: str, side: int, found: list) -> None:
    bb = registry.get(name)
    rf = bb.geometry[tap]
    centres = grid_centers(rf, tuple(bb.grid_size(tap, (side, side))))
    half = (rf.size - 1) / 2
    for (r, c), got in found:
        cx, cy = (float(v) for v in centres[r, c])
        want = (max(cx - half, 0), max(cy - half, 0), min(cx + half, side - 1), min(cy + half, side - 1))
        assert got == want, f"{name} {tap} cell (col {c}, row {r}) on {side} px: support {got}, declared box {want}"


def _cases():
    return [(n, t) for n in BUILT_IN for t in registry.get(n).spatial_taps]


@pytest.mark.slow
@pytest.mark.parametrize("name,tap", _cases())
def test_each_taps_declared_boxes_are_where_the_input_gradient_is_nonzero(name, tap):
    side = SIDE.get(name, 96)
    _check(name, tap, side, _supports(name, side, registry.get(name).spatial_taps)[tap])


@pytest.mark.slow
@pytest.mark.parametrize("name,tap", _cases())
def test_on_an_input_larger_than_the_receptive_field_the_middle_cells_whole_box_is_its_support(name, tap):
    bb = registry.get(name)
    rf = bb.geometry[tap]
    base = SIDE.get(name, 96)
    need = max(rf.size + 2 * rf.stride, registry.min_input_side(bb, tap))
    side = base + 32 * max(0, -(-(need - base) // 32))
    found = _supports(name, side, (tap,))[tap]
    _check(name, tap, side, found)
    (r, c), box = found[len(found) // 2]
    assert min(box) > 0 and max(box) < side - 1, f"{name} {tap}: the middle cell's box {box} reaches the border"
