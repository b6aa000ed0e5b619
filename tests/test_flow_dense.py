"""Dense coarse-to-fine flow: recovers known shifts and smooth warps to sub-pixel accuracy; CLI output shape and sign."""

import subprocess
import sys

import numpy as np
import pytest
from scipy import ndimage
from test_pose_train import TESTS, _env

from convcorr_jax.flow import dense
from convcorr_jax.weights import load_backbone

H, W, MARGIN = 96, 128, 8


@pytest.fixture(scope="module")
def net():
    return load_backbone("caffenet", "random", 0)


def _texture(seed=0, size=(200, 240)):
    """Smooth random RGB texture, float [h, w, 3] in 0..255."""
    rng = np.random.default_rng(seed)
    t = ndimage.gaussian_filter(rng.uniform(0, 255, size=(*size, 3)), (1.5, 1.5, 0))
    t = ndimage.gaussian_filter(rng.uniform(0, 255, size=(*size, 3)), (6, 6, 0)) * 0.5 + t
    return (t - t.min()) / (t.max() - t.min()) * 255


def _sample(t, x, y):
    return np.stack([ndimage.map_coordinates(t[..., c], [y, x], order=3) for c in range(3)], -1)


def _pair(flow):
    """a, b uint8 [H, W, 3] with a(p) = b(p + flow(p)) (b is the texture, a samples it along the flow)."""
    t = _texture()
    yy, xx = np.mgrid[:H, :W].astype(np.float64)
    ox, oy = 40, 30
    b = _sample(t, xx + ox, yy + oy)
    a = _sample(t, xx + ox + flow[..., 0], yy + oy + flow[..., 1])
    return np.clip(a, 0, 255).astype(np.uint8), np.clip(b, 0, 255).astype(np.uint8)


def _epe(est, gt):
    e = np.linalg.norm(est - gt, axis=-1)
    return float(e[MARGIN:-MARGIN, MARGIN:-MARGIN].mean())


def _shift():
    return np.broadcast_to(np.array([5.0, -3.0], np.float32), (H, W, 2))


def _smooth():
    yy, xx = np.mgrid[:H, :W].astype(np.float32)
    return np.stack([3.0 + 2.5 * np.sin(2 * np.pi * yy / H), -2.0 + 1.5 * np.cos(2 * np.pi * xx / W)], -1)


@pytest.fixture(scope="module")
def batch(net):
    """Three pairs in one batched call (one compile): shift, smooth warp, the shift's reverse (b -> a)."""
    (a0, b0), (a1, b1) = _pair(_shift()), _pair(_smooth())
    flows = np.asarray(dense.dense_align_batch(np.stack([a0, a1, b0]), np.stack([b0, b1, a0]), *net))
    return flows, (a0, b0)


def test_shift_recovered(batch):
    flows, _ = batch
    assert flows.shape == (3, H, W, 2) and flows.dtype == np.float32
    assert _epe(flows[0], _shift()) < 0.5


def test_smooth_warp_recovered(batch):
    assert _epe(batch[0][1], _smooth()) < 0.5


def test_reverse_pair_gives_the_opposite_flow(batch):
    assert _epe(batch[0][2], -_shift()) < 0.5


def test_batch_matches_single(net, batch):
    flows, (a, b) = batch
    one = dense.dense_align(a, b, *net)  # same shapes as the CLI test below: compiled once for both
    assert one.shape == (H, W, 2)
    np.testing.assert_allclose(one, flows[0], atol=1e-3)


def test_cli_writes_pixel_flow(tmp_path):
    from PIL import Image

    from convcorr_jax import cli

    gt = np.broadcast_to(np.array([6.0, 2.0], np.float32), (H, W, 2))
    a, b = _pair(gt)
    # A given at twice the working size: the flow comes back at A's size, in A's pixels
    Image.fromarray(a).resize((2 * W, 2 * H), Image.BICUBIC).save(tmp_path / "a.png")
    Image.fromarray(b).resize((2 * W, 2 * H), Image.BICUBIC).save(tmp_path / "b.png")
    rc = cli.main(["align", str(tmp_path / "a.png"), str(tmp_path / "b.png"), "--dense", "--out", str(tmp_path / "o"),
                   "--backbone", "caffenet", "--weights", "random", "--max-side", str(W)])
    assert rc == 0
    flow = np.load(tmp_path / "o" / "flow.npy")
    assert flow.shape == (2 * H, 2 * W, 2) and flow.dtype == np.float32
    inner = flow[2 * MARGIN:-2 * MARGIN, 2 * MARGIN:-2 * MARGIN]
    np.testing.assert_allclose(np.median(inner.reshape(-1, 2), 0), 2 * gt[0, 0], atol=0.5)
    assert (tmp_path / "o" / "warp.png").exists()


DENSE_SHARDED = """
import numpy as np, jax
from convcorr_jax import parallel
from convcorr_jax.flow import dense
from convcorr_jax.weights import load_backbone
assert len(jax.devices()) == 2, jax.devices()
rng = np.random.default_rng(0)
a = rng.integers(0, 255, (3, 48, 64, 3), dtype=np.uint8)
b = np.roll(a, (2, -3), axis=(1, 2))
net = load_backbone("caffenet", "random", 0)
cfg = dense.DenseConfig(iters=2, levels=1, fine_iters=2)
one = np.asarray(dense.dense_align_batch(a, b, *net, cfg=cfg))
two = np.asarray(dense.dense_align_batch(a, b, *net, cfg=cfg, mesh=parallel.make_mesh(2)))
assert two.shape == (3, 48, 64, 2) and parallel._row_sharded.cache_info().currsize == 1
np.testing.assert_allclose(one, two, atol=1e-4)
print("OK")
"""


@pytest.mark.slow
def test_dense_batch_sharded_over_devices_equals_vmap():
    """dense_align_batch(..., mesh=...) over 2 forced CPU devices (3 pairs, padded to 4) gives the vmap's flow."""
    r = subprocess.run([sys.executable, "-c", DENSE_SHARDED], capture_output=True, text=True, timeout=900,
                       cwd=TESTS.parent, env=_env({"XLA_FLAGS": "--xla_force_host_platform_device_count=2"}))
    assert r.returncode == 0 and "OK" in r.stdout, r.stdout + r.stderr[-3000:]
