"""Dense coarse-to-fine flow: recovers known shifts and smooth warps to sub-pixel accuracy; CLI output shape and
sign."""

import json
import subprocess
import sys

import jax.numpy as jnp
import numpy as np
import pytest
from conftest import xla_flags
from scipy import ndimage
from test_pose_train import TESTS, _env

from convcorr_jax.core.errors import InputError
from convcorr_jax.flow import dense, dense_level
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
    flows = np.asarray(dense.dense_flows(np.stack([a0, a1, b0]), np.stack([b0, b1, a0]), *net))
    return flows, (a0, b0)


@pytest.mark.slow
def test_shift_recovered(batch):
    flows, _ = batch
    assert flows.shape == (3, H, W, 2) and flows.dtype == np.float32
    assert _epe(flows[0], _shift()) < 0.5


@pytest.mark.slow
def test_smooth_warp_recovered(batch):
    assert _epe(batch[0][1], _smooth()) < 0.5


@pytest.mark.slow
def test_reverse_pair_gives_the_opposite_flow(batch):
    assert _epe(batch[0][2], -_shift()) < 0.5


@pytest.mark.slow
def test_batch_matches_single(net, batch):
    """One pair is solved without vmap (`dense._batch`): the flow of the vmapped batch's pair bit for bit."""
    flows, (a, b) = batch
    one = np.asarray(dense.dense_flows(a[None], b[None], *net))[0]  # the CLI test's shapes: compiled once for both
    assert one.shape == (H, W, 2)
    np.testing.assert_array_equal(one, flows[0])


@pytest.mark.slow
def test_cli_writes_pixel_flow(tmp_path):
    from PIL import Image

    import convcorr_cli.main as cli

    gt = np.broadcast_to(np.array([6.0, 2.0], np.float32), (H, W, 2))
    a, b = _pair(gt)
    # A given at twice the working size: the flow comes back at A's size, in A's pixels
    Image.fromarray(a).resize((2 * W, 2 * H), Image.Resampling.BICUBIC).save(tmp_path / "a.png")
    Image.fromarray(b).resize((2 * W, 2 * H), Image.Resampling.BICUBIC).save(tmp_path / "b.png")
    argv = ["align", str(tmp_path / "a.png"), str(tmp_path / "b.png"), "--dense", "--out", str(tmp_path / "o"),
            "--backbone", "caffenet", "--weights", "random", "--max-side", str(W)]
    assert cli.main([*argv, "--set", "edge_sigma=-1"]) == 2 and not (tmp_path / "o").exists()  # --set reaches it
    rc = cli.main(argv)  # the default config: the program `test_batch_matches_single` compiled
    assert rc == 0
    saved = json.loads((tmp_path / "o" / "energy.json").read_text())
    assert saved["config"]["edge_sigma"] == dense.DenseConfig().edge_sigma
    assert saved["backbone"] == "caffenet" and "jax" in saved["versions"] and saved["seconds"] > 0
    flow = np.load(tmp_path / "o" / "flow.npy")
    assert flow.shape == (2 * H, 2 * W, 2) and flow.dtype == np.float32
    inner = flow[2 * MARGIN:-2 * MARGIN, 2 * MARGIN:-2 * MARGIN]
    np.testing.assert_allclose(np.median(inner.reshape(-1, 2), 0), 2 * gt[0, 0], atol=0.5)
    with Image.open(tmp_path / "o" / "warp.png") as warp:  # the alignment figure (tests/test_figures.py)
        assert warp.format == "PNG" and warp.size[0] >= 800


DENSE_SHARDED = """
import numpy as np, jax
from convcorr_jax.core import parallel
from convcorr_jax.core.errors import InputError
from convcorr_jax.flow import dense
from convcorr_jax.weights import load_backbone
assert len(jax.devices()) == 2, jax.devices()
rng = np.random.default_rng(0)
a = rng.integers(0, 255, (3, 48, 64, 3), dtype=np.uint8)
b = np.roll(a, (2, -3), axis=(1, 2))
net = load_backbone("caffenet", "random", 0)
cfg = dense.DenseConfig(iters=2, levels=1, fine_iters=2, fine_strides=(2,))
one = np.asarray(dense.dense_flows(a, b, *net, cfg=cfg))
two = np.asarray(dense.dense_flows(a, b, *net, cfg=cfg, mesh=parallel.make_mesh(2)))
assert two.shape == (3, 48, 64, 2) and parallel._row_sharded.cache_info().currsize == 1
np.testing.assert_allclose(one, two, atol=1e-4)
print("OK")
"""


@pytest.mark.slow
def test_dense_batch_sharded_over_devices_equals_vmap():
    """dense_flows(..., mesh=...) over 2 forced CPU devices (3 pairs, padded to 4) gives the vmap's flow
    (the last level at 2 px, upsampled to every pixel inside the sharded program)."""
    r = subprocess.run([sys.executable, "-c", DENSE_SHARDED], check=False, capture_output=True, text=True, timeout=900,
                       cwd=TESTS.parent, env=_env({"XLA_FLAGS": xla_flags(2)}))
    assert r.returncode == 0 and "OK" in r.stdout, r.stdout + r.stderr[-3000:]


def test_binned_is_the_block_mean_with_edge_replication():
    g = np.arange(35, dtype=np.float32).reshape(5, 7)
    out = np.asarray(dense.binned(g, 2))
    padded = np.pad(g, ((0, 1), (0, 1)), mode="edge")
    want = np.array([[padded[2 * i:2 * i + 2, 2 * j:2 * j + 2].mean() for j in range(4)] for i in range(3)])
    assert out.shape == (3, 4)
    np.testing.assert_allclose(out, want, rtol=1e-6)
    assert dense.binned(g, 1) is g


def test_pixel_levels_sit_on_binned_cell_centres(net):
    """Pixel level s: one node per s x s block, centred at (i + 0.5) s - 0.5, ceil(n / s) per axis."""
    cfg = dense.DenseConfig(fine_strides=(4, 2, 1))
    lv = dense._levels(net[0], dense._taps(net[0], cfg)[:1], [(3, 4)], (9, 10), (1.0, 1.0), cfg)
    assert [len(x.xs) for x in lv] == [3, 5, 10] and [len(x.ys) for x in lv] == [3, 5, 9]
    np.testing.assert_allclose(lv[0].xs, [1.5, 5.5, 9.5])
    assert all(x.whole and x.offset[0] == x.xs[0] for x in lv)


@pytest.mark.slow
def test_level_grey_is_the_block_mean_at_the_node_centres(net):
    """A pixel level's grey is the binned image; a level whose node centres sit between block centres reads the
    block means bilinearly (node 4 of a stride-4 level: block index (4 - 1.5) / 4 = 0.625 along each axis)."""
    g = jnp.asarray(np.random.default_rng(0).random((9, 10)), jnp.float32)
    cfg = dense.DenseConfig(fine_strides=(2, 1))
    lv = dense._levels(net[0], dense._taps(net[0], cfg)[:1], [(3, 4)], (9, 10), (1.0, 1.0), cfg)
    for x in lv:
        np.testing.assert_allclose(np.asarray(dense._level_grey(g, x)), np.asarray(dense.binned(g, int(x.stride[0]))),
                                   rtol=1e-6)
    conv = dense_level.Level(tuple(4.0 * np.arange(3)), tuple(4.0 * np.arange(3)), (4.0, 4.0), (0.0, 0.0), False)
    b = np.asarray(dense.binned(g, 4))  # block centres 1.5, 5.5, 9.5
    want = 0.625 * (0.625 * b[1, 1] + 0.375 * b[1, 0]) + 0.375 * (0.625 * b[0, 1] + 0.375 * b[0, 0])
    np.testing.assert_allclose(np.asarray(dense._level_grey(g, conv))[1, 1], want, rtol=1e-5)


@pytest.mark.slow
def test_last_level_coarser_than_pixels_is_upsampled_to_every_pixel(net):
    """fine_strides=(2,): the flow of the 2 px level comes back at every pixel of a."""
    a, b = _pair(_shift())
    cfg = dense.DenseConfig(iters=2, levels=1, fine_iters=4, fine_strides=(2,))
    flow = np.asarray(dense.dense_flows(a[None], b[None], *net, cfg))[0]
    assert flow.shape == (H, W, 2)
    assert _epe(flow, _shift()) < 0.5


def _parabola_costs(rng, h=6, w=7, n=5):
    """Data costs [h, w, n, n] exactly quadratic around a per-node sub-label minimum m [h, w, 2] (dy, dx) in
    (1.75, 2.25), with per-node curvatures; returns (cost, m, curvatures)."""
    m = rng.uniform(1.75, 2.25, (h, w, 2))
    k = rng.uniform(0.5, 3.0, (h, w, 2))
    y, x = np.arange(n)[:, None], np.arange(n)[None, :]
    cost = (0.5 * k[..., :1, None] * (y - m[..., :1, None]) ** 2
            + 0.5 * k[..., 1:, None] * (x - m[..., 1:, None]) ** 2)
    return cost.astype(np.float32), m, k


def test_subpixel_vertex_and_energy_minimum():
    """iters 0: each parabola's vertex (the exact minimum of a quadratic cost); weight 0: the same after sweeps."""
    rng = np.random.default_rng(0)
    cost, m, _ = _parabola_costs(rng)
    lab = np.full(m.shape, 2, np.int32)
    flow = np.zeros(m.shape, np.float32)
    alone = np.asarray(dense_level._subpixel(cost, lab, flow, 0.0, 0))
    np.testing.assert_allclose(alone, m - 2, atol=1e-5)
    np.testing.assert_allclose(np.asarray(dense_level._subpixel(cost, lab, flow, 0.0, 5)), alone, atol=1e-5)


def test_subpixel_parabolas_skip_labels_whose_target_is_off_b():
    """An image with itself on a pixel level: no move is every node's exact minimum. A border node's label that
    looks past b's edge costs a stand-in (the window's mean), not a measurement: a parabola through it put the
    vertex off 0 and pulled every border pixel inward (about 0.15 px in an image aligned with itself). Such
    parabolas are dropped; the others are unchanged."""
    h, w, r = 6, 8, 2
    f = jnp.asarray(np.random.default_rng(0).uniform(0, 1, (h, w, 4)), jnp.float32)
    lv = dense_level.Level(tuple(range(w)), tuple(range(h)), (1, 1), (0, 0), True)
    cost, _, inside = dense_level._window_cost(f, f, jnp.zeros((h, w, 2), jnp.float32), lv, r)
    inside = np.asarray(inside)
    assert not inside[0, :, r - 1, r].any() and not inside[:, -1, r, r + 1].any()  # dy = -1 at the top, dx = +1
    assert inside[1:-1, 1:-1, r - 1:r + 2, r - 1:r + 2].all()
    lab, zero = np.full((h, w, 2), r, np.int32), np.zeros((h, w, 2), np.float32)
    for iters in (0, 5):  # weight 0: the sweeps give the vertices
        t = np.asarray(dense_level._subpixel(cost, lab, zero, 0.0, iters, inside=inside))
        assert not t[0, :, 0].any() and not t[-1, :, 0].any() and not t[:, 0, 1].any() and not t[:, -1, 1].any()
    every = np.asarray(dense_level._subpixel(cost, lab, zero, 0.0, 0))
    t = np.asarray(dense_level._subpixel(cost, lab, zero, 0.0, 0, inside=inside))
    np.testing.assert_array_equal(t[1:-1, 1:-1], every[1:-1, 1:-1])
    assert np.abs(every[0, :, 0]).max() > 0.05  # what the stand-in cost did


def test_subpixel_sweeps_lower_the_level_energy():
    """With neighbours' flows that disagree, the sweeps' offsets lower data-parabola + pairwise energy below both
    no offset and the parabola vertices alone; exact minimum checked against a dense linear solve."""
    rng = np.random.default_rng(1)
    cost, m, k = _parabola_costs(rng, 5, 6)
    lab = np.full(m.shape, 2, np.int32)
    flow = rng.normal(0, 0.1, m.shape).astype(np.float32)  # labels' flow (label + continuous origin)
    weight = 0.3

    def energy(t):
        f = flow + t
        data = (k * (m - 2 - t) ** 2).sum() / 2
        return data + weight * (((f[1:] - f[:-1]) ** 2).sum() + ((f[:, 1:] - f[:, :-1]) ** 2).sum())

    swept = np.asarray(dense_level._subpixel(cost, lab, flow, weight, 200)).astype(np.float64)
    alone = np.asarray(dense_level._subpixel(cost, lab, flow, weight, 0)).astype(np.float64)
    assert energy(swept) < energy(alone) and energy(swept) < energy(np.zeros_like(swept))
    _assert_dense_solve(swept, k, m, flow, weight, lambda f, p, q: True)


def _assert_dense_solve(swept, k, m, flow, weight, keep):
    """swept equals the optimum of the data parabolas + the quadratic on the grid edges (p, q), each times
    keep(flow, p, q) (a factor; False drops the edge), by a dense solve per axis (inside +-0.5 here, so the
    clipping is inactive)."""
    h, w = m.shape[:2]
    lap = np.zeros((h * w, h * w))
    for i in range(h):
        for j in range(w):
            for di, dj in ((1, 0), (0, 1)):
                if i + di < h and j + dj < w:
                    c = float(keep(flow, (i, j), (i + di, j + dj)))
                    p, q = i * w + j, (i + di) * w + j + dj
                    lap[[p, q], [p, q]] += c
                    lap[p, q] -= c
                    lap[q, p] -= c
    for ax in range(2):
        kk, mm, ff = k[..., ax].ravel(), (m[..., ax] - 2).ravel(), flow[..., ax].ravel()
        t = np.linalg.solve(np.diag(kk) + 2 * weight * lap, kk * mm - 2 * weight * lap @ ff)
        assert np.abs(t).max() < 0.5
        np.testing.assert_allclose(swept[..., ax].ravel(), t, atol=1e-3)


def test_subpixel_sweeps_drop_the_truncated_pairs():
    """With a truncation, pairs whose flows differ by more (a step of 3 labels between two regions) are left out of
    the sweeps: the offsets equal the dense solve on the other pairs only, and differ from the untruncated ones."""
    rng = np.random.default_rng(2)
    cost, m, k = _parabola_costs(rng, 5, 6)
    lab = np.full(m.shape, 2, np.int32)
    flow = rng.normal(0, 0.1, m.shape).astype(np.float32)
    flow[:, 3:, 0] += 3.0  # dy steps by 3 labels between columns 2 and 3
    weight, trunc = 0.3, 1.5
    swept = np.asarray(dense_level._subpixel(cost, lab, flow, weight, 300, trunc)).astype(np.float64)
    _assert_dense_solve(swept, k, m, flow, weight,
                        lambda f, p, q: float(np.sum(np.square(f[p] - f[q]))) < trunc**2)
    full = np.asarray(dense_level._subpixel(cost, lab, flow, weight, 300)).astype(np.float64)
    assert np.abs(full - swept).max() > 1e-2


def test_subpixel_sweeps_weigh_each_edge():
    """With per-edge factors of the pairwise term (edge_scale), the offsets equal the dense solve with those factors
    on the edges, and differ from the unweighted ones."""
    rng = np.random.default_rng(3)
    cost, m, k = _parabola_costs(rng, 5, 6)
    lab = np.full(m.shape, 2, np.int32)
    flow = rng.normal(0, 0.1, m.shape).astype(np.float32)
    flow[:, 3:, 0] += 1.0
    scale = rng.uniform(0.01, 2.0, (5, 6, 2)).astype(np.float32)
    swept = np.asarray(dense_level._subpixel(cost, lab, flow, 0.3, 300,
                                             edge_scale=jnp.asarray(scale))).astype(np.float64)
    _assert_dense_solve(swept, k, m, flow, 0.3, lambda f, p, q: scale[p][0 if q[0] > p[0] else 1])
    plain = np.asarray(dense_level._subpixel(cost, lab, flow, 0.3, 300)).astype(np.float64)
    assert np.abs(plain - swept).max() > 1e-2


def test_contrast_factors_by_hand():
    """exp(-(g_p - g_q)^2 / (2 sigma^2)) on the edges below and right; 1 past the last row / column."""
    g = jnp.asarray([[0.0, 0.1, 0.4], [0.2, 0.2, 0.2]], jnp.float32)
    f = np.asarray(dense._contrast_factors(g, 0.1))
    e = lambda d: np.exp(-d * d / 0.02)
    np.testing.assert_allclose(f[..., 0], [[e(0.2), e(0.1), e(0.2)], [1, 1, 1]], rtol=1e-5)
    np.testing.assert_allclose(f[..., 1], [[e(0.1), e(0.3), 1], [1, 1, 1]], rtol=1e-5)
    assert float(np.min(dense._contrast_factors(g, 1e-3))) == pytest.approx(dense.MIN_FACTOR)


@pytest.mark.parametrize("a_shape,a_dtype,b_shape,field", [
    ((1, 24, 0, 3), np.uint8, (1, 24, 0, 3), "images_a"),  # empty: ZeroDivisionError
    ((0, 24, 32, 3), np.uint8, (0, 24, 32, 3), "images_a"),
    ((1, 24, 32, 4), np.uint8, (1, 24, 32, 4), "images_a"),  # RGBA: reported as extract's 'images'
    ((1, 24, 32, 3), np.float32, (1, 24, 32, 3), "images_a"),  # float (NaN) pixels: likewise
    ((1, 24, 32, 3), np.uint8, (1, 24, 30, 3), "images_b"),
])
def test_dense_flows_refuses_images_not_uint8_rgb_in_one_line(a_shape, a_dtype, b_shape, field):
    """Images that are not uint8 [N, H, W, 3] with N, H, W >= 1, or a B of another shape: one InputError naming
    dense_flows' own argument, before any network runs."""
    a = np.full(a_shape, np.nan if a_dtype == np.float32 else 0, a_dtype)
    b = np.zeros(b_shape, np.uint8)
    with pytest.raises(InputError, match=f"^dense_flows: field '{field}'"):
        dense.dense_flows(a, b, None, None)


def test_pixel_features_refuse_an_image_that_is_not_grey_in_one_line():
    """pixel_features (and the SIFT gradients under it) take a grey [H, W] image: an RGB image came back as
    [H, W, 3, 8] without a word, and a [1, H, W] or 1 x 1 image failed deep in XLA's slicing."""
    from convcorr_jax.features.sift import gradient_channels

    rgb = np.random.default_rng(0).random((12, 16, 3), np.float32)
    for image in (rgb, rgb[None, ..., 0], rgb[:1, :1, 0]):
        with pytest.raises(InputError, match=r"^pixel_features: field 'grey': expected shape \[H>=2, W>=2\] \(a grey"):
            dense.pixel_features(image, "grad")
        with pytest.raises(InputError, match=r"^gradient_channels: field 'image': expected shape \[H>=2, W>=2\]"):
            gradient_channels(image)
    assert dense.pixel_features(rgb[..., 0], "grad").shape == (12, 16, 8)


def test_pixel_features_refuse_a_uint8_grey_image_in_one_line():
    """A uint8 grey image (0..255) read as if in [0, 1] gave "grad" features 255 times too large against the flow's
    smoothness term, without a word; it is refused, naming the dtype and the division."""
    grey = np.random.default_rng(0).random((12, 16), np.float32)
    with pytest.raises(InputError, match=r"^pixel_features: field 'grey'.*float.*uint8"):
        dense.pixel_features((grey * 255).astype(np.uint8), "grad")
    assert dense.pixel_features(grey, "sift").shape == (12, 16, 128)


def test_images_too_small_for_the_conv4_grid_are_named_by_the_function_and_argument():
    """The error named 'image_a' as its source (a file) and 'size' as its field; it names dense_flows and
    images_a now, with the images' size."""
    bb, params = load_backbone("mobilenet_v2", "random")
    a = np.zeros((1, 8, 8, 3), np.uint8)
    with pytest.raises(InputError, match=r"^dense_flows: field 'images_a': expected images giving a conv4 grid of >= "
                       r"2 columns, got 8 x 8 px \(width x height\)$"):
        dense.dense_flows(a, a, bb, params)
