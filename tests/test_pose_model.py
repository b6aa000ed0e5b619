"""Unit tests of the pose cascade pieces: heat-maps, crop module, augmentation, losses, model shapes."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from convcorr_jax.core.errors import InputError
from convcorr_jax.pose import augment as aug
from convcorr_jax.pose import heatmaps as hm
from convcorr_jax.pose import losses
from convcorr_jax.pose import model as pose_model
from convcorr_jax.pose import networks as pose_networks

TINY = pose_model.ModelConfig(image_size=32, pool=4, levels=2, bank=(4, 4, 4, 4), head=8, fine=(4, 4, 4, 4), context=16)


def test_map_image_roundtrip_and_cell_centres():
    # stride 4: cell 0 covers pixels 0..3, centre 1.5
    assert float(hm.map_to_image(jnp.array(0.0), 4)) == 1.5
    p = jnp.array([[10.3, 7.9]])
    np.testing.assert_allclose(hm.map_to_image(hm.image_to_map(p, 8), 8), p, rtol=1e-6)


def test_gaussian_target_and_argmax():
    pts = jnp.array([[3.0, 5.0], [7.0, 1.0], [-100.0, -100.0]])
    t = hm.gaussian_targets(pts, (8, 10), 1.5)
    assert t.shape == (8, 10, 3)
    np.testing.assert_array_equal(hm.argmax_2d(t)[:2], [[3, 5], [7, 1]])
    assert float(t[5, 3, 0]) == pytest.approx(1.0)
    assert float(t[5, 4, 0]) == pytest.approx(np.exp(-1 / (2 * 1.5**2)), rel=1e-5)
    assert float(t[..., 2].max()) < 1e-6  # far outside: empty map


def test_subpixel_argmax_recovers_offset():
    # a sampled parabola-like peak: exp of a quadratic has its vertex exactly recovered by a log-parabola, here the
    # parabola fit on the raw values must land within 0.1 cell of the true centre and on the correct side
    for cx, cy in ((4.3, 3.8), (5.0, 2.0), (2.6, 4.45)):
        t = hm.gaussian_targets(jnp.array([[cx, cy]]), (8, 9), 1.5)
        est = np.asarray(hm.subpixel_argmax(t))[0]
        assert abs(est[0] - cx) < 0.1 and abs(est[1] - cy) < 0.1


def test_subpixel_argmax_by_hand_at_the_border_and_at_a_selected_cell():
    """The parabola's shift by hand (lo, c, hi = 1, 3, 2: 0.5 (lo - hi) / (lo - 2c + hi) = 1/6 cell); 0 on the map's
    last column and row; clipped to 0.5 cell at a cell `select` picks that is not the map's maximum (3.5 cells off
    the fit); a NaN joint gives an all-zero target."""
    maps = np.zeros((1, 4, 5, 3), np.float32)
    maps[0, 1, 1:4, 0] = [1.0, 3.0, 2.0]  # x: peak at column 2, y: no neighbour above or below but zeros
    maps[0, 3, 3:5, 1] = [1.0, 3.0]  # peak in the last row and column
    maps[0, 2, 0:3, 2] = [0.0, 2.0, 3.5]  # the map's maximum at column 2
    select = np.zeros_like(maps)
    select[0, 1, 2, 0], select[0, 3, 4, 1], select[0, 2, 1, 2] = 1.0, 1.0, 1.0  # column 1 for map 2
    got = np.asarray(hm.subpixel_argmax(jnp.asarray(maps), jnp.asarray(select)))[0]
    np.testing.assert_allclose(got, [[2 + 1 / 6, 1.0], [4.0, 3.0], [1.5, 2.0]], rtol=1e-6)
    np.testing.assert_allclose(np.asarray(hm.subpixel_argmax(jnp.asarray(maps)))[0, :2], got[:2], rtol=1e-6)
    assert float(jnp.abs(hm.gaussian_targets(jnp.array([[np.nan, 2.0]]), (4, 5))).max()) == 0.0


def test_crop_matches_numpy_slice_and_gradient_is_local():
    cfg = TINY
    feats = jax.random.normal(jax.random.PRNGKey(0), (2, 16, 16, 3))  # level 0, stride 2 of a 32 image
    origin = jnp.array([[[0, 2], [6, 4]], [[-2, 10], [12, 12]]], jnp.int32)  # multiples of 2 (= 2^(levels-1))
    out = pose_model.crop(feats, origin, 0, cfg)
    w = cfg.window
    assert out.shape == (2, 2, w, w, 3)
    padded = np.pad(np.asarray(feats), ((0, 0), (w, w), (w, w), (0, 0)))
    for n in range(2):
        for k in range(2):
            x0, y0 = np.asarray(origin[n, k]) + w
            np.testing.assert_array_equal(out[n, k], padded[n, y0:y0 + w, x0:x0 + w])
    g = jax.grad(lambda f: pose_model.crop(f, origin[:, :1], 0, cfg).sum())(feats)
    ref = np.zeros((2, 16 + 2 * w, 16 + 2 * w, 3))
    for n in range(2):
        x0, y0 = np.asarray(origin[n, 0]) + w
        ref[n, y0:y0 + w, x0:x0 + w] = 1
    np.testing.assert_array_equal(g, ref[:, w:-w, w:-w])


def test_crop_levels_cover_same_image_area():
    cfg = pose_model.ModelConfig(image_size=64, pool=4, levels=3, bank=(4, 4, 4, 4), head=8, fine=(4, 4, 4, 4),
                                 context=16)
    centers = jnp.array([[[20.0, 33.0], [50.0, 5.0], [0.0, 63.0]]])
    origin = pose_model.window_origin(centers, cfg)
    assert np.all(np.asarray(origin) % 4 == 0)
    for lv in range(cfg.levels):
        s = 2 ** (lv + 1)
        n = cfg.image_size // s
        ys, xs = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
        coords = jnp.asarray(np.stack([xs * s + (s - 1) / 2, ys * s + (s - 1) / 2], -1)[None], jnp.float32)
        win = np.asarray(pose_model.crop(coords + 1000.0, origin, lv, cfg))  # +1000 marks real (not padded) cells
        first = win[0, :, 0, 0] - 1000.0
        # window's first cell centre: origin (level-0 cells of stride 2) in pixels, shifted to this level's centre
        expect = np.asarray(origin[0], np.float64) * 2 + (s - 1) / 2
        inside = win[0, :, 0, 0, 0] > 500
        np.testing.assert_allclose(first[inside], expect[inside])
    # the crop centre lies within the window
    lo = np.asarray(origin[0]) * 2
    assert np.all((np.asarray(centers[0]) >= lo) & (np.asarray(centers[0]) < lo + cfg.context))


def test_augment_moves_points_with_image_and_swaps_sides():
    size = 32
    img = np.zeros((size, size, 3), np.float32)
    pts = np.zeros((16, 2), np.float32) + 16
    pts[2] = [9, 12]  # r hip: a bright dot
    img[12, 9] = 1.0
    vis = np.ones(16, bool)
    cfg = aug.AugmentConfig()
    hits = 0
    run = jax.jit(lambda k: (aug._sample_params(k, cfg), aug.augment(k, jnp.asarray(img), jnp.asarray(pts),
                                                                      jnp.asarray(vis), cfg)))
    for s in range(12):
        (ang, sc, fl), (o_img, o_pts, o_vis) = run(jax.random.PRNGKey(s))
        j = 3 if bool(fl) else 2  # after a flip the right hip is labelled left hip
        yx = np.unravel_index(np.argmax(np.asarray(o_img[..., 0])), (size, size))
        if float(o_img.max()) > 0.2:
            assert np.hypot(yx[1] - o_pts[j, 0], yx[0] - o_pts[j, 1]) < 1.5
            hits += 1
        assert abs(np.degrees(float(ang))) <= 20 and 0.5 <= float(sc) <= 1.5
    assert hits >= 6
    # points pushed outside become invisible
    far = jnp.asarray(np.full((16, 2), 31.0, np.float32))
    no_rot = aug.AugmentConfig(rotation=0.0, scale=(1.5, 1.5), flip=False)
    _, p2, v2 = aug.augment(jax.random.PRNGKey(0), jnp.asarray(img), far, jnp.asarray(vis), no_rot)
    assert not bool(v2.any()) and float(p2[0, 0]) > 31


@pytest.mark.parametrize("ang, sc, fl", [(0.3, 1.0, False), (0.0, 1.3, False), (0.0, 1.0, True), (-0.25, 0.8, True),
                                         (0.35, 1.4, True)])
def test_augment_warp_and_point_map_agree_to_subpixel(ang, sc, fl):
    """A Gaussian blob at a non-integer point: the warped image's blob centroid is where the point goes (rotation,
    scale, mirror and their composition), in the paper's warp and in the photo path's affine warp; a mirror gives the
    point the other joint's label."""
    size, p = 48, np.array([[17.3, 28.6], [24.0, 24.0]], np.float32)
    ys, xs = np.mgrid[0:size, 0:size]
    img = np.exp(-((xs - p[0, 0]) ** 2 + (ys - p[0, 1]) ** 2) / (2 * 1.5**2)).astype(np.float32)[..., None]
    args = (jnp.float32(ang), jnp.float32(sc), jnp.bool_(fl))
    q = np.asarray(aug.transform_points(jnp.asarray(p), *args, size, (1, 0)))[1 if fl else 0]
    x = jnp.asarray(img)
    for warped in (aug.warp_image(x, *args), aug._warp_affine(x, aug.affine(*args, size))):
        w = np.where(np.asarray(warped)[..., 0] > 0.05, np.asarray(warped)[..., 0], 0.0)
        np.testing.assert_allclose([(w * xs).sum() / w.sum(), (w * ys).sum() / w.sum()], q, atol=0.05)


def test_photo_augment_shift_moves_the_content_with_the_points():
    """The photo path (shift, rotation, mirror): the augmented image's blob centroid is the augmented point."""
    size, p = 48, np.array([[17.3, 28.6], [24.0, 24.0]], np.float32)
    ys, xs = np.mgrid[0:size, 0:size]
    img = np.exp(-((xs - p[0, 0]) ** 2 + (ys - p[0, 1]) ** 2) / (2 * 1.5**2)).astype(np.float32)[..., None]
    cfg = aug.AugmentConfig(shift=0.2, rotation=30.0, flip_perm=(1, 0))
    for s in range(4):
        key = jax.random.PRNGKey(s)
        o, q, v = aug.augment(key, jnp.asarray(img.repeat(3, -1)), jnp.asarray(p), jnp.ones(2, bool), cfg)
        _, fl = aug._sample_affine(jax.random.split(key)[0], jnp.asarray(p), jnp.ones(2, bool), cfg, size)
        j = 1 if bool(fl) else 0
        w = np.where(np.asarray(o)[..., 0] > 0.05, np.asarray(o)[..., 0], 0.0)
        assert bool(v[j])
        np.testing.assert_allclose([(w * xs).sum() / w.sum(), (w * ys).sum() / w.sum()], np.asarray(q)[j], atol=0.05)


def test_augment_of_an_image_that_is_not_square_is_one_input_error():
    """A 32 x 48 image was warped about its x centre on both axes and its points about (15.5, 15.5): the joints
    no longer lay on the image's content (1.6 px off at 20 degrees), without a word."""
    cfg = aug.AugmentConfig(flip_perm=(0,))
    with pytest.raises(InputError, match=r"image.*square crop.*\(32, 48, 3\)"):
        aug.augment(jax.random.PRNGKey(0), jnp.zeros((32, 48, 3)), jnp.zeros((1, 2)), jnp.ones(1, bool), cfg)

@pytest.mark.parametrize("perm", [(1, 1, 2, 3), (1, 2, 3, 0), (1, 0, 2, 9), (-1, 0, 2, 3)])
def test_flip_perm_that_is_not_a_mirror_permutation_is_one_input_error(perm):
    """A repeated, cyclic, out-of-range or negative id was taken as it was: a mirrored sample lost a joint's label,
    gave it to two joints, or took a clamped or wrapped one, and trained on it without a word."""
    with pytest.raises(InputError, match="flip_perm.*mirror permutation"):
        aug.AugmentConfig(flip_perm=perm)


def test_loss_masks_invisible_and_all_invisible_is_zero():
    cfg = TINY
    params = pose_model.init(jax.random.PRNGKey(0), cfg)
    imgs = jax.random.uniform(jax.random.PRNGKey(1), (2, 32, 32, 3))
    pts = jnp.full((2, 16, 2), 10.0)
    none = jnp.zeros((2, 16), bool)

    def loss(p, vis):
        out = pose_model.apply(p, imgs, cfg)
        s1, c1 = losses.e1(out, pts, vis, cfg)
        s2, _ = losses.e2(out, pts, vis, cfg)
        return (s1 + 0.1 * s2) / jnp.maximum(c1, 1.0)

    vg = jax.jit(jax.value_and_grad(loss))
    val, g = vg(params, none)
    assert float(val) == 0.0
    assert all(float(jnp.abs(x).max()) == 0.0 for x in jax.tree_util.tree_leaves(g))
    # one labelled joint: the loss equals that joint's squared error alone
    vis = none.at[0, 3].set(True)

    @jax.jit  # E1 and its reference in one compilation, not one per operation
    def e1_and_ref(p, vis):
        out = pose_model.apply(p, imgs, cfg)
        tgt = losses.coarse_targets(pts, cfg)
        return losses.e1(out, pts, vis, cfg)[0], jnp.sum((out["coarse_hm"][0, ..., 3] - tgt[0, ..., 3]) ** 2)

    e1, ref = e1_and_ref(params, vis)
    assert float(e1) == pytest.approx(float(ref), rel=1e-5)
    gv = vg(params, vis)[1]
    assert float(jnp.abs(gv["fine"]["joint_w"][3]).max()) > 0  # the labelled joint's 1x1 is trained ...
    assert float(jnp.abs(gv["fine"]["joint_w"][4]).max()) == 0  # ... no other joint's unshared 1x1


def test_e1_trains_only_the_coarse_model_and_e2_the_fine_model_and_the_shared_layers():
    """Sec. 4.1-4.2: E1's gradient reaches every coarse layer and no fine one; E2's reaches every fine layer and,
    through the crop module, the first two conv layers of every coarse bank (the cropped features), but not the
    later bank layers or the 1x1 head (the crop centre, the coarse arg-max, carries no gradient)."""
    cfg = pose_model.ModelConfig(**{**TINY.__dict__, "out_init_std": 0.1})
    params = pose_model.init(jax.random.PRNGKey(0), cfg)
    rng = np.random.default_rng(0)
    imgs = jnp.asarray(rng.random((2, 32, 32, 3)), jnp.float32)
    pts = jnp.asarray(rng.uniform(8, 24, (2, 16, 2)), jnp.float32)
    vis = jnp.ones((2, 16), bool)
    masks = pose_model.dropout_masks(jax.random.split(jax.random.PRNGKey(1), 2), cfg)

    @jax.jit
    def grads(p):
        def term(q, e):
            return e(pose_model.apply(q, imgs, cfg, masks), pts, vis, cfg)[0]
        return jax.grad(term)(p, losses.e1), jax.grad(term)(p, losses.e2)

    g1, g2 = grads(params)
    def moved(tree):
        return {jax.tree_util.keystr(k): bool(jnp.any(v != 0)) for k, v in jax.tree_util.tree_leaves_with_path(tree)}

    assert all(moved(g1["coarse"]).values()) and not any(moved(g1["fine"]).values())
    assert all(moved(g2["fine"]).values())
    shared = {k: v for k, v in moved(g2["coarse"]).items() if "'conv1'" in k or "'conv2'" in k}
    assert len(shared) == 8 and all(shared.values())  # 2 banks x conv1, conv2 x kernel, bias
    assert not any(v for k, v in moved(g2["coarse"]).items() if k not in shared)


def test_heatmap_sse_gradient_is_zero_on_masked_joints():
    """Brute force: the loss is the plain sum over the unmasked maps, and its gradient is 2 (pred - target) there
    and exactly 0 on every masked joint's map (even one whose prediction is huge)."""
    rng = np.random.default_rng(0)
    pred, tgt = (jnp.asarray(rng.normal(size=(2, 3, 4, 5)), jnp.float32) for _ in range(2))
    pred = pred.at[1, :, :, 2].set(1e6)
    mask = jnp.asarray(rng.random((2, 5)) < 0.5).at[1, 2].set(False).at[0, 0].set(True)
    (val, count), g = jax.value_and_grad(losses.heatmap_sse, has_aux=True)(pred, tgt, mask)
    m = np.asarray(mask)[:, None, None, :]
    d = np.asarray(pred, np.float64) - np.asarray(tgt, np.float64)
    assert float(count) == m.sum()
    assert float(val) == pytest.approx(float(np.sum(np.where(m, d, 0.0) ** 2)), rel=1e-5)
    np.testing.assert_allclose(g, np.where(m, 2 * d, 0.0), rtol=1e-5)
    assert not np.any(np.asarray(g)[~np.broadcast_to(m, g.shape)])


def test_fine_target_of_a_joint_outside_its_window_is_the_gaussian_tail():
    pts = jnp.array([[[-3.0, 10.0], [-40.0, 10.0]]])  # 1.75 and 20.25 cells left of the window's first column
    t = np.asarray(losses._fine_targets(pts, jnp.zeros((1, 2, 2), jnp.int32), TINY))
    assert t[0, 5, 0, 0] == pytest.approx(np.exp(-(1.75**2 + 0.25**2) / (2 * TINY.sigma**2)), rel=1e-5)
    assert t[..., 1].max() < 1e-30


def test_spatial_dropout_masks_whole_maps():
    cfg = TINY
    keys = jax.random.split(jax.random.PRNGKey(0), 64)
    m = np.asarray(pose_model.dropout_masks(
        keys, pose_model.ModelConfig(**{**TINY.__dict__, "bank": (4, 4, 4, 200), "spatial_dropout": 0.3})))
    assert m.shape == (64, 1, 1, 200)
    assert set(np.unique(m)) <= {0.0, np.float32(1 / 0.7)}
    assert 0.25 < (m == 0).mean() < 0.35
    assert pose_model.dropout_masks(keys, pose_model.ModelConfig(**{**cfg.__dict__, "spatial_dropout": 0.0})) is None


@pytest.mark.parametrize("pool", [4, 8, 16])
def test_shapes_per_pool(pool):
    cfg = pose_model.ModelConfig(image_size=64, pool=pool, levels=2, bank=(4, 4, 4, 4), head=8, fine=(4, 4, 4, 4),
                                 context=16)
    p = pose_model.init(jax.random.PRNGKey(0), cfg)
    out = jax.jit(lambda p, x: pose_model.apply(p, x, cfg))(p, jnp.zeros((1, 64, 64, 3)))
    assert out["coarse_hm"].shape == (1, 64 // pool, 64 // pool, 16)
    assert out["fine_hm"].shape == (1, 8, 8, 16)
    # cascade point = window origin + fine arg-max, inside the window
    lo = np.asarray(out["origin"]) * 2
    assert np.all((np.asarray(out["xy"]) >= lo - 1) & (np.asarray(out["xy"]) <= lo + 16))


def test_standard_cascade_matches_parameter_count():
    shared = pose_model.init(jax.random.PRNGKey(0), pose_model.ModelConfig())
    std = pose_model.init(jax.random.PRNGKey(0), pose_model.ModelConfig(variant="standard"))
    first_two = sum(pose_model._count_params({k: v for k, v in shared["coarse"][f"bank{lv}"].items()
                                             if k in ("conv1", "conv2")})
                    for lv in range(3))
    # fine path of the shared cascade = its fine net + the coarse layers it reads; standard has its own copies
    assert pose_model._count_params(std["fine"]) == pose_model._count_params(shared["fine"]) + first_two


def test_lcn_invariant_to_gain_and_offset():
    x = jax.random.uniform(jax.random.PRNGKey(0), (1, 32, 32, 3))
    a = pose_model.lcn(x)
    b = pose_model.lcn(3.0 * x + 0.5)
    np.testing.assert_allclose(a, b, atol=1e-3)


def test_lcn_and_pyramid_equal_scipy_filters():
    """The matrix-product filters equal scipy's: zero-padded Gaussian (LCN, kernel mass renormalised at the
    border) and an edge-replicated [1,3,3,1]/8 blur sampled at 2k + 0.5 (pyramid)."""
    from scipy import ndimage

    x = np.asarray(jax.random.uniform(jax.random.PRNGKey(1), (2, 20, 14, 3)), np.float64)
    sigma, r = 2.0, 4
    g = np.exp(-np.arange(-r, r + 1) ** 2 / (2 * sigma**2))
    g /= g.sum()

    def blur(z):
        return ndimage.correlate1d(ndimage.correlate1d(z, g, axis=1, mode="constant"), g, axis=2, mode="constant")

    norm = blur(np.ones_like(x))
    v = x - blur(x) / norm
    std = np.sqrt(blur(v * v) / norm + 1e-8)
    want = v / np.maximum(std, np.maximum(std.mean(axis=(1, 2), keepdims=True), 1e-4))
    np.testing.assert_allclose(pose_model.lcn(jnp.asarray(x, jnp.float32), sigma), want, atol=2e-5)

    b = np.array([1.0, 3.0, 3.0, 1.0]) / 8
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="edge")
    sep = sum(b[t] * xp[:, t:t + 20:2] for t in range(4))
    want = sum(b[t] * sep[:, :, t:t + 14:2] for t in range(4))
    levels = pose_model.pyramid(jnp.asarray(x, jnp.float32), 2)
    assert levels[1].shape == (2, 10, 7, 3)
    np.testing.assert_allclose(levels[1], want, atol=1e-6)


def test_pool2_is_max_pool_with_its_gradient():
    import flax.linen as nn

    x = jax.random.normal(jax.random.PRNGKey(2), (2, 7, 6, 3))  # odd height: last row dropped (VALID)
    np.testing.assert_array_equal(pose_networks._pool2(x), nn.max_pool(x, (2, 2), (2, 2)))
    ga = jax.grad(lambda z: jnp.sum(pose_networks._pool2(z) ** 2))(x)
    gb = jax.grad(lambda z: jnp.sum(nn.max_pool(z, (2, 2), (2, 2)) ** 2))(x)
    np.testing.assert_allclose(ga, gb, rtol=1e-6)


def test_bad_config_and_images():
    with pytest.raises(InputError, match="pool"):
        pose_model.ModelConfig(pool=6).validate()
    with pytest.raises(InputError, match="context"):
        pose_model.ModelConfig(context=20).validate()
    p = pose_model.init(jax.random.PRNGKey(0), TINY)
    with pytest.raises(InputError, match="shape"):
        pose_model.apply(p, jnp.zeros((1, 30, 30, 3)), TINY)


def test_predict_refuses_images_that_are_not_uint8_network_inputs():
    """predict_crops and coarse_heatmaps divide by 255: float images in [0, 1] were read as near-black and gave other
    points without a word, and a wrong size was reported with the padded batch (32 rows for 2 images)."""
    from convcorr_jax.pose import predict

    p = pose_model.init(jax.random.PRNGKey(0), TINY)
    images = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3), np.uint8)
    for fn in (predict.predict_crops, predict.coarse_heatmaps):
        name = fn.__name__
        with pytest.raises(InputError, match=f"^{name}: field 'images': expected a uint8 array.*got float32"):
            fn(p, images.astype(np.float32) / 255, TINY)
        with pytest.raises(InputError, match=rf"^{name}: field 'images': expected shape .*got \(2, 16, 32, 3\)"):
            fn(p, images[:, :16], TINY)
    assert predict.predict_crops(p, images, TINY)["cascade"].shape == (2, TINY.num_joints, 2)


def test_the_network_refuses_uint8_images():
    """`model.apply` takes float RGB in [0, 1]: uint8 images went through as 0..255, a trunk's ImageNet-normalised
    input up to about 1100 instead of 2.6, and gave other heat-maps without a word (inside jit too)."""
    p = pose_model.init(jax.random.PRNGKey(0), TINY)
    images = np.random.default_rng(0).integers(0, 256, (1, 32, 32, 3), np.uint8)
    for fn in (lambda x: pose_model.apply(p, x, TINY)["xy"], jax.jit(lambda x: pose_model.apply_coarse(p, x, TINY)[0])):
        with pytest.raises(InputError, match=r"^preprocess: field 'images': expected a float array .*\[0, 1\].*uint8"):
            fn(images)
    assert pose_model.apply(p, images / 255.0, TINY)["xy"].shape == (1, TINY.num_joints, 2)


def test_the_product_read_out_without_evidence_in_a_window_is_the_cascade_point():
    """Where the fine map times the coarse prior is 0 all over a joint's window, its arg-max was the window's first
    cell: the product read-out jumped to the window's top-left corner, 7-13 px up and left of any evidence."""
    p = pose_model.init(jax.random.PRNGKey(0), TINY)
    x = jax.random.uniform(jax.random.PRNGKey(3), (4, 32, 32, 3))

    @jax.jit  # the cascade and the reference product in one compilation, not one per operation
    def run(p, x):
        out = pose_model.apply(p, x, TINY)
        prior = jnp.maximum(pose_model.coarse_in_windows(out["coarse_hm"], out["origin"], TINY), 0.0)
        return out, jnp.maximum(out["fine_hm"], 0.0) * prior ** pose_model.PRODUCT_POWER

    out, weighted = run(p, x)
    weighted = np.asarray(weighted)
    none = weighted.max(axis=(1, 2)) <= 0  # [N, K]
    assert none.any() and (~none).any()  # both cases occur with these random weights
    xy, prod = np.asarray(out["xy"]), np.asarray(out["xy_product"])
    np.testing.assert_array_equal(prod[none], xy[none])
    corner = 2.0 * np.asarray(out["origin"], np.float32) + 0.5  # the window's first cell centre, image pixels
    some = ~none
    flat = weighted.reshape(weighted.shape[0], -1, weighted.shape[-1]).argmax(axis=1)  # [N, K] the arg-max cell
    w = weighted.shape[2]
    cell = np.stack([flat % w, flat // w], -1).astype(np.float32)
    assert np.all(np.abs(prod[some] - (corner[some] + 2.0 * cell[some])) <= 1.0 + 1e-4)  # within the sub-cell step


def test_init_output_layers_start_near_zero():
    """Heat-map output layers are drawn with std out_init_std, the rest LeCun-normal: the first heat-maps are
    near zero (E1 starts at the all-zero value), hidden layers keep their usual scale."""
    cfg = pose_model.ModelConfig()
    p = pose_model.init(jax.random.PRNGKey(0), cfg)
    fc2 = np.asarray(p["coarse"]["fc2"]["kernel"])
    assert 0.5e-3 < fc2.std() < 2e-3
    assert 0.5e-3 < np.asarray(p["fine"]["joint_w"]).std() < 2e-3
    fc1 = np.asarray(p["coarse"]["fc1"]["kernel"])
    assert abs(fc1.std() * np.sqrt(fc1.shape[-2]) - 1.0) < 0.1  # LeCun: std 1/sqrt(fan_in)
    out = jax.jit(lambda p, x: pose_model.apply(p, x, cfg))(p, jax.random.uniform(jax.random.PRNGKey(1),
                                                                                   (2, 128, 128, 3)))
    assert float(jnp.abs(out["coarse_hm"]).max()) < 0.05
    assert float(jnp.abs(out["fine_hm"]).max()) < 0.05
    big = pose_model.init(jax.random.PRNGKey(0), pose_model.ModelConfig(out_init_std=1.0))
    assert np.asarray(big["coarse"]["fc2"]["kernel"]).std() > 0.5


@pytest.mark.parametrize("field, value", [
    ("spatial_dropout", 1.0),  # keep probability 0: masks of 0 / 0, NaN heat-maps
    ("spatial_dropout", 1.5),  # a negative keep probability: every map dropped, silently
    ("spatial_dropout", -0.1),
    ("spatial_dropout", float("nan")),
    ("sigma", 0.0),  # 0 / 0 at the joint's own cell
    ("sigma", -1.5),  # squared: silently the same targets as 1.5
    ("levels", 0),  # a TypeError deep in the crop module's padding
    ("context", 0),  # an empty fine window: numpy's "argmax of an empty sequence"
    ("kernel", 0),  # ZeroDivisionError in init
    ("num_joints", 0),
    ("bank", (4, 0, 4, 4)),
    ("fine", (4, 4, -1, 4)),
    ("head", 0),
    ("lcn_sigma", 0.0),
])
def test_config_out_of_range_is_one_input_error(field, value):
    """A model setting outside its range is one InputError naming it (before: NaN heat-maps, silently other
    targets, or a TypeError / ValueError / ZeroDivisionError from deep inside init or apply)."""
    import dataclasses

    cfg = dataclasses.replace(TINY, **{field: value})
    with pytest.raises(InputError, match=field):
        cfg.validate()
    with pytest.raises(InputError, match=field):
        pose_model.init(jax.random.PRNGKey(0), cfg)
    with pytest.raises(InputError, match="model." + field):
        cfg.validate(prefix="model.")


def test_config_edge_values_still_valid():
    """SpatialDropout 0 (off) and just below 1 and a small sigma are settings, not errors."""
    import dataclasses

    for change in ({"spatial_dropout": 0.0}, {"spatial_dropout": 0.99}, {"sigma": 0.25}, {"levels": 1}):
        assert dataclasses.replace(TINY, **change).validate() is not None


@pytest.mark.parametrize("field, value, expected", [
    ("sigma", "1.5", "a number"),  # was a TypeError from "1.5" > 0
    ("spatial_dropout", "0.2", "a number"),  # likewise
    ("fine_coarse", "false", "true or false"),  # was taken as True, silently
    ("num_joints", 2.5, "an integer"),
    ("bank", [16, 24, 32, 48], "a tuple of 4 integers"),  # unhashable: the jitted apply's static argument
])
def test_config_of_another_type_is_one_input_error(field, value, expected):
    """A model setting of another type than its annotation's (a config built in Python) is one InputError naming
    it, under its path in an enclosing config (`check_types` and `check_fields` with a prefix)."""
    import dataclasses

    cfg = dataclasses.replace(TINY, **{field: value})
    with pytest.raises(InputError, match=f"'model.{field}': expected {expected}"):
        cfg.validate(prefix="model.")
    with pytest.raises(InputError, match=f"^model config: field '{field}'"):
        cfg.validate()


def test_check_fields_prefix_names_the_path():
    """`check_fields` names a field by its path in an enclosing config when given a prefix."""
    from convcorr_jax.core.config import check_fields

    with pytest.raises(InputError, match=r"^config: field 'model.bank': expected >= 1 for each item"):
        check_fields(pose_model.ModelConfig(bank=(4, 0, 4, 4)), at_least_one=("bank",), prefix="model.")
