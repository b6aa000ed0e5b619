"""The projection learned across warps (`correspondence.warp_projection`): warps, targets, loss, training, files."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from convcorr_jax.core.errors import InputError
from convcorr_jax.correspondence import warp_projection as wp
from convcorr_jax.correspondence.frame_transfer import projected
from convcorr_jax.correspondence.point_config import PointTransferConfig
from convcorr_jax.data.warped_pairs import WarpConfig


def _grid(n=6, stride=8.0):
    c = stride / 2 - 0.5 + stride * np.arange(n)
    return np.stack(np.meshgrid(c, c), -1)


def test_node_targets_identity_and_shift():
    g = _grid()
    t, v = wp.node_targets(g, np.eye(3), 8.0)
    assert v.all() and np.array_equal(t, np.arange(36))
    t, v = wp.node_targets(g, np.array([[1.0, 0, 8], [0, 1, 0], [0, 0, 1]]), 8.0)  # one node to the right
    assert np.array_equal(v.reshape(6, 6)[:, :5], np.ones((6, 5), bool)) and not v.reshape(6, 6)[:, 5].any()
    assert np.array_equal(t.reshape(6, 6)[:, :5], np.arange(36).reshape(6, 6)[:, 1:])


def test_node_targets_of_jax_arrays_are_numpy():
    """A jax grid and warp give numpy targets and flags, as numpy ones do (`valid` was a jax array)."""
    g, H = _grid(), np.array([[1.0, 0, 8], [0, 1, 0], [0, 0, 1]])
    t, v = wp.node_targets(jnp.asarray(g), jnp.asarray(H), 8.0)
    assert isinstance(t, np.ndarray) and t.dtype == np.int32 and isinstance(v, np.ndarray) and v.dtype == bool
    want_t, want_v = wp.node_targets(g, H, 8.0)
    assert np.array_equal(t, want_t) and np.array_equal(v, want_v)


def test_frame_warp_is_seeded_and_keeps_the_centre_without_shift():
    cfg = WarpConfig(shift=0.0, perspective=0.0)
    h1 = wp.frame_warp(np.random.default_rng(3), 224, cfg)
    assert np.array_equal(h1, wp.frame_warp(np.random.default_rng(3), 224, cfg))
    c = h1 @ np.array([111.5, 111.5, 1.0])
    assert np.allclose(c[:2] / c[2], 111.5)


def _synthetic(key, pairs=24, n=36, signal=8, nuisance=8):
    """Node identity in `signal` channels shared by a frame and its warp; loud independent noise in `nuisance`."""
    k1, k2, k3, k4 = jax.random.split(key, 4)
    ident = np.asarray(jax.random.normal(k1, (pairs, n, signal)))
    perm = np.stack([np.asarray(jax.random.permutation(k, n)) for k in jax.random.split(k2, pairs)])
    fs = np.concatenate([ident, 3 * np.asarray(jax.random.normal(k3, (pairs, n, nuisance)))], -1)
    ft = np.empty_like(fs)
    for p in range(pairs):
        ft[p, perm[p], :signal] = ident[p]
    ft[..., signal:] = 3 * np.asarray(jax.random.normal(k4, (pairs, n, nuisance)))
    return fs.astype(np.float32), ft.astype(np.float32), perm.astype(np.int32), np.ones((pairs, n), bool)


@pytest.mark.parametrize("kind,dim", [("lowrank", 8), ("linear", 8)])
def test_training_raises_the_warp_match_rate_over_identity(kind, dim):
    fs, ft, target, valid = _synthetic(jax.random.PRNGKey(0))
    cfg = wp.ProjectionTrainConfig(kind=kind, dim=dim, steps=150, batch=8, nodes=16, lr=0.03, tau=0.2)
    params, losses = wp.train_projection(fs[:20], ft[:20], target[:20], valid[:20], jax.random.PRNGKey(1), cfg)
    before = wp.match_rate(None, fs[20:], ft[20:], target[20:], valid[20:])
    after = wp.match_rate(params, fs[20:], ft[20:], target[20:], valid[20:])
    assert losses[-10:].mean() < losses[:10].mean()
    assert after > before + 0.2, (before, after)


@pytest.mark.parametrize("kind", ["lowrank", "linear"])
def test_an_all_zero_column_keeps_training_finite(kind):
    # ReLU features hold all-zero columns; their norm's gradient at 0 must not turn the parameters into NaN
    fs, ft, target, valid = _synthetic(jax.random.PRNGKey(0), pairs=3, n=16, signal=4, nuisance=4)
    fs[:, 0] = 0.0
    ft[:, :4] = 0.0
    cfg = wp.ProjectionTrainConfig(kind=kind, dim=4, steps=5, batch=2, nodes=8)
    params, losses = wp.train_projection(fs, ft, target, valid, jax.random.PRNGKey(1), cfg)
    assert np.isfinite(losses).all(), losses
    assert all(np.isfinite(np.asarray(v)).all() for v in params.values())
    assert not np.asarray(wp.project(params, jnp.zeros((2, 8)))).any()  # zero columns stay zero


def test_loss_gradient_matches_finite_differences():
    fs, ft, target, valid = _synthetic(jax.random.PRNGKey(2), pairs=2, n=9, signal=3, nuisance=3)
    valid[0, :3] = False
    params = {"u": 0.1 * jax.random.normal(jax.random.PRNGKey(3), (6, 2)),
              "v": jax.random.normal(jax.random.PRNGKey(4), (6, 2))}
    f = lambda p: wp._info_nce(p, jnp.asarray(fs), jnp.asarray(ft), jnp.asarray(target), jnp.asarray(valid), 0.5)
    grads = jax.grad(f)(params)
    d = {k: jax.random.normal(jax.random.PRNGKey(5 + i), v.shape) for i, (k, v) in enumerate(params.items())}
    h = 1e-2
    shift = lambda s: {k: params[k] + s * d[k] for k in params}
    numeric = (f(shift(h)) - f(shift(-h))) / (2 * h)
    analytic = sum(jnp.sum(grads[k] * d[k]) for k in params)
    assert np.isclose(float(numeric), float(analytic), rtol=2e-2, atol=1e-4)


def test_lowrank_starts_as_identity_and_projected_applies_only_to_matchers(tmp_path):
    feats = np.abs(np.random.default_rng(0).normal(size=(2, 3, 3, 6))).astype(np.float32)
    cfg = wp.ProjectionTrainConfig(kind="lowrank", dim=2)
    params = wp._init_projection(feats.reshape(-1, 6), cfg, jax.random.PRNGKey(0))
    unit = feats / np.linalg.norm(feats, axis=-1, keepdims=True)
    assert np.allclose(np.asarray(wp.project(params, feats)), unit, atol=1e-6)
    path = tmp_path / "p.npz"
    wp.save_projection(path, {"u": params["u"] + 0.5, "v": params["v"]}, {"networks": "test"})
    moved = projected(feats, PointTransferConfig(projection=str(path)))
    assert moved.shape == feats.shape and not np.allclose(moved, unit, atol=1e-3)
    assert projected(feats, PointTransferConfig(projection=str(path), method="bp")) is feats
    with pytest.raises(InputError, match="features"):
        projected(feats[..., :5], PointTransferConfig(projection=str(path)))


@pytest.mark.parametrize("names", [("file",), ("allow_pickle",), ("meta",), ("u",), ("u", "w")])
def test_save_projection_refuses_params_other_than_u_v_or_w(tmp_path, names):
    with pytest.raises(InputError, match="save_projection: field 'params'"):
        wp.save_projection(tmp_path / "p.npz", {n: np.eye(4, 2) for n in names}, {"networks": "test"})
    assert not (tmp_path / "p.npz").exists()


def test_sha256_check_refuses_a_changed_file(tmp_path):
    path = tmp_path / "p.npz"
    sha = wp.save_projection(path, {"w": np.eye(4, 2)}, {"networks": "test"})
    params, meta = wp._load_projection(str(path), sha)
    assert meta == {"networks": "test"} and np.allclose(params["w"], np.eye(4, 2))
    data = bytearray(path.read_bytes())
    data[-40] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match="sha256"):
        wp._load_projection(str(path), sha)
    with pytest.raises(InputError, match="projection"):
        wp._load_projection("no_such_projection")


def test_config_field_checked_and_described():
    assert "projection" not in PointTransferConfig().describe()
    assert "projection p.npz" in dataclasses.replace(PointTransferConfig(), projection="p.npz").describe()
    with pytest.raises(InputError, match="projection"):
        PointTransferConfig(projection="")
    with pytest.raises(InputError, match="kind"):
        wp.ProjectionTrainConfig(kind="mlp")
