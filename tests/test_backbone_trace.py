"""A backbone's declared taps checked against its traced network (`backbones.trace`, `registry.register`,
`registry.check_trace`): a tiny conv net's strides, receptive-field sizes and offsets as computed by hand; a wrong
stride, size, offset or tap name, and an output that is not a dict of taps, each refused in one line naming the
backbone and the tap; every built-in backbone's declared geometry equal to its trace."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_extending import TinyCNN as Tiny  # c1: conv 3x3 "SAME" (pad 1) + max pool 2/2; c2: the same again

from convcorr_jax import backbones
from convcorr_jax.backbones import registry
from convcorr_jax.backbones.receptive_field import RF
from convcorr_jax.backbones.trace import trace
from convcorr_jax.core.errors import InputError

NAME = "test_traced_cnn"


# By hand (receptive_field's recurrences: size += (k - 1) * stride, stride *= s, offset += ((k - 1) / 2 - pad) *
# stride): conv 3 pad 1: (3, 1, 0); pool 2: (3 + 1, 2, 0 + 0.5) = c1; conv 3 pad 1: (4 + 2*2, 2, 0.5 + 0);
# pool 2: (8 + 1*2, 4, 0.5 + 0.5*2) = c2.
TINY = {"c1": RF(4, 2, 0.5), "c2": RF(10, 4, 1.5)}


class Mixed(nn.Module):
    """A strided padded conv, a dilated conv, a residual block, an average pool and a global vector."""

    @nn.compact
    def __call__(self, x):
        a = nn.Conv(4, (5, 5), strides=2, padding=2)(x)
        b = nn.Conv(4, (3, 3), kernel_dilation=2, padding="VALID")(nn.relu(a))
        r = b + nn.Conv(4, (3, 3), padding=1)(nn.relu(b))
        p = nn.avg_pool(r, (3, 3), (3, 3))
        return {"a": a, "b": b, "res": r, "pool": p, "vec": jnp.mean(p, axis=(1, 2))}


# By hand: a: conv 5/2 pad 2 -> (5, 2, 0 + (2 - 2)) = (5, 2, 0); b: dilated 3 (span 5) pad 0 -> (5 + 4*2, 2, 0 +
# 2*2) = (13, 2, 4); res: b's union with conv 3 pad 1 on b, (13 + 2*2, 2, 4 + 0) = (17, 2, 4); pool: avg 3/3 ->
# (17 + 2*2, 6, 4 + 1*2) = (21, 6, 6); vec: a vector.
MIXED = {"a": RF(5, 2, 0.0), "b": RF(13, 2, 4.0), "res": RF(17, 2, 4.0), "pool": RF(21, 6, 6.0), "vec": None}


@pytest.fixture
def clean():
    yield
    for name in (NAME, NAME + "_fn"):
        if name in registry.NAMES:
            backbones.unregister(name)


def test_a_tiny_conv_net_registered_by_its_tap_names_gets_the_hand_computed_geometry(clean):
    bb = backbones.register(NAME, Tiny(), taps=("c1", "c2"), input_size=(64, 64))
    assert bb.taps == ("c1", "c2") and bb.geometry == TINY
    bb = backbones.register(NAME, Tiny(), taps={"c1": 2, "c2": (10, 4)}, input_size=(64, 64), replace=True)
    assert bb.geometry == TINY  # a stride alone: size and offset traced; (size, stride): the offset traced
    bb = backbones.register(NAME, Mixed(), taps=tuple(MIXED), input_size=(60, 60), replace=True)
    assert {t: bb.geometry.get(t) for t in bb.taps} == MIXED and bb.spatial_taps == ("a", "b", "res", "pool")
    assert registry.check_trace(NAME) == MIXED


def test_the_traced_receptive_field_is_what_an_impulse_reaches():
    """Mixed's "res" map with all-positive weights: a unit's input gradient is non-zero exactly on its receptive
    field, centred on offset + i * stride."""
    params = Mixed().init(jax.random.key(0), jnp.zeros((1, 60, 60, 3)))
    params = jax.tree.map(lambda w: jnp.abs(w) + 0.1, params)
    rf = trace("mixed", Mixed().apply, params, (60, 60))["res"].rf
    grad = jax.grad(lambda x: Mixed().apply(params, x)["res"][0, 5, 7].sum())(jnp.ones((1, 60, 60, 3)))
    rows, cols = np.nonzero(np.abs(np.asarray(grad[0]).sum(-1)) > 0)
    assert (rows.max() - rows.min() + 1, cols.max() - cols.min() + 1) == (rf.size, rf.size) == (17, 17)
    assert ((rows.min() + rows.max()) / 2, (cols.min() + cols.max()) / 2) == (rf.offset + 5 * rf.stride,
                                                                              rf.offset + 7 * rf.stride)


@pytest.mark.parametrize("taps,says", [
    ({"c1": 2, "c2": 2}, "field 'taps['c2'] stride': expected 4 px (the traced network's), got 2"),
    ({"c1": 2, "conv": 4}, "field 'taps': expected names of the model's outputs ('c1', 'c2'), got 'conv'"),
    ({"c2": (8, 4)}, "field 'taps['c2'] size': expected 10 px (the traced network's), got 8"),
    ({"c2": (10, 4, 0.5)}, "field 'taps['c2'] offset': expected 1.5 px (the traced network's), got 0.5"),
    ({"c2": None}, "field 'taps['c2']': expected its receptive field: the model returns a map, shape "
                   "(1, 16, 16, 16), got None (a vector tap)"),
])
def test_a_declaration_the_trace_contradicts_is_one_line(clean, taps, says):
    with pytest.raises(InputError) as e:
        backbones.register(NAME, Tiny(), taps=taps, input_size=(64, 64))
    assert str(e.value) == f"{NAME}: {says}"
    assert NAME not in registry.NAMES


class Flat(nn.Module):
    @nn.compact
    def __call__(self, x):
        return nn.max_pool(nn.Conv(4, (3, 3))(x), (4, 4), (4, 4))


def test_a_network_returning_an_array_is_one_line(clean):
    with pytest.raises(InputError) as e:
        backbones.register(NAME, Flat(), taps={"conv": 4}, input_size=(64, 64))
    assert str(e.value) == (f"{NAME}: field 'model output': expected a dict {{tap name: array}} of its taps, got an "
                            "array of shape (1, 16, 16, 4)")


def test_an_apply_function_is_traced_with_its_params_and_vector_taps_are_checked(clean):
    params = Tiny().init(jax.random.key(0), jnp.zeros((1, 32, 32, 3)))

    def apply(p, x):
        out = Tiny().apply(p, x)
        return {**out, "vec": out["c2"].max(axis=(1, 2))}

    bb = backbones.register(NAME + "_fn", apply, params, taps=("c2", "vec"), input_size=(32, 32))
    assert bb.geometry == {"c2": TINY["c2"]} and bb.taps == ("c2", "vec")
    with pytest.raises(InputError, match=r"field 'taps\['vec'\]': expected None: the model returns a vector tap"):
        backbones.register(NAME + "_fn", apply, params, taps={"vec": 4}, input_size=(32, 32), replace=True)


class Upsampled(nn.Module):
    @nn.compact
    def __call__(self, x):
        c = nn.max_pool(nn.Conv(4, (3, 3))(x), (4, 4), (4, 4))
        return {"up": jax.image.resize(c, (c.shape[0], 2 * c.shape[1], 2 * c.shape[2], 4), "nearest")}


def test_a_receptive_field_the_trace_cannot_read_must_be_declared(clean):
    with pytest.raises(InputError, match=rf"^{NAME}: field 'taps\['up'\]': expected \(size, stride, offset\) in "
                                         r"pixels: the trace cannot read"):
        backbones.register(NAME, Upsampled(), taps={"up": 2}, input_size=(64, 64))
    bb = backbones.register(NAME, Upsampled(), taps={"up": (6, 2, 1.5)}, input_size=(64, 64))
    assert bb.geometry["up"] == RF(6, 2, 1.5)  # declared; its stride still checked against the shapes:
    with pytest.raises(InputError, match=r"field 'taps\['up'\] stride': expected 2 px"):
        backbones.register(NAME, Upsampled(), taps={"up": (6, 4, 1.5)}, input_size=(64, 64), replace=True)


@pytest.mark.parametrize("name", ["caffenet", "bvlc_alexnet", "torchvision_alexnet", "vgg16", "mobilenet_v2"])
def test_every_built_in_backbone_declares_the_geometry_of_its_trace(name):
    bb = registry.get(name)
    traced = registry.check_trace(name)
    assert traced == {t: bb.geometry.get(t) for t in bb.taps}
    assert set(bb.spatial_taps) == {t for t, rf in traced.items() if rf is not None}


def test_calls_are_read_through_and_loops_are_not_guessed():
    """A max pool 3/2 as lax.reduce_window (its initial value another operand): (3, 2, 1); the same map through
    jax.checkpoint: read through; through a loop of shifts: unreadable, though its stride still comes from shapes."""
    from jax import lax

    def forward(params, x):
        y = lax.reduce_window(x, -jnp.inf, lax.max, (1, 3, 3, 1), (1, 2, 2, 1), "VALID")
        shifted = lax.fori_loop(0, 3, lambda i, v: jnp.pad(v, ((0, 0), (1, 1), (1, 1), (0, 0)))[:, :-2, :-2], y)
        return {"pool": y, "remat": jax.checkpoint(lambda v: v * 2)(y), "loop": shifted}

    t = trace("loops", forward, {}, (32, 32))
    assert t["pool"].rf == t["remat"].rf == RF(3, 2, 1.0)
    assert t["loop"].rf is None and t["loop"].stride == 2 and t["loop"].shape == (1, 15, 15, 3)
