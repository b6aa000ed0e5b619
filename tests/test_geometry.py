"""convcorr_jax.core.geometry: boxes, affine maps, point transforms and the one crop, against hand-computed values
and scipy's map_coordinates."""

import doctest

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.ndimage import map_coordinates

from convcorr_jax.core import geometry
from convcorr_jax.core.errors import InputError


def test_box_to_affine_maps_outer_edges_to_crop_edges():
    box = np.array([10.0, 20.0, 29.0, 59.0])  # 20 x 40 pixels, inclusive
    M = geometry.box_to_affine(box, (80, 40))  # (h, w): scale 2 in both axes
    edges = np.array([[9.5, 19.5], [29.5, 59.5]])  # outer pixel edges of the box
    np.testing.assert_allclose(geometry.transform_points(edges, M), [[-0.5, -0.5], [39.5, 79.5]], atol=1e-12)
    # hand-computed: x' = (x - 10 + 0.5) * 2 - 0.5
    np.testing.assert_allclose(geometry.transform_points(np.array([[10.0, 20.0]]), M), [[0.5, 0.5]])


def test_square_box_and_inverse_round_trip():
    boxes = geometry.square_box(np.array([[30.3, 20.7], [5.0, 6.0]]), np.array([24.0, 10.0]))
    np.testing.assert_allclose(boxes[0], [30.3 - 12 + 0.5, 20.7 - 12 + 0.5, 30.3 + 12 - 0.5, 20.7 + 12 - 0.5])
    M = geometry.box_to_affine(boxes, 32)
    pts = np.random.default_rng(0).normal(size=(2, 7, 2)) * 10
    back = geometry.transform_points(geometry.transform_points(pts, M), geometry.invert_affine(M))
    np.testing.assert_allclose(back, pts, atol=1e-10)
    both = geometry.compose_affine(geometry.invert_affine(M), M)
    np.testing.assert_allclose(both, np.broadcast_to(np.eye(2, 3), both.shape), atol=1e-12)


def test_transform_and_compose_with_rotation_and_shear():
    """Maps that are not diagonal (a rotation, a shear with anisotropic scale), against the matrix product written
    out: transform_points applies M[:, :2] itself, not its transpose, and compose_affine applies M1 first."""
    c, s = np.cos(0.3), np.sin(0.3)
    M1 = np.array([[c, -s, 2.0], [s, c, -1.0]])  # rotation, then a shift
    M2 = np.array([[2.0, 0.5, 3.0], [0.0, 1.0, 4.0]])  # shear and scale x
    p = np.array([[1.0, 2.0], [-3.0, 0.5]])
    by_hand = p @ M1[:, :2].T + M1[:, 2]
    np.testing.assert_allclose(geometry.transform_points(p, M1), by_hand, atol=1e-12)
    np.testing.assert_allclose(geometry.transform_points(p, geometry.compose_affine(M2, M1)),
                               by_hand @ M2[:, :2].T + M2[:, 2], atol=1e-12)


def test_points_box_ignores_invisible_and_nan():
    p = np.array([[1.0, 2.0], [5.0, 9.0], [np.nan, 0.0], [100.0, 100.0]])
    np.testing.assert_allclose(geometry.points_box(p, np.array([1, 1, 1, 0], bool)), [1, 2, 5, 9])


@pytest.mark.parametrize("border,mode", [("constant", "constant"), ("edge", "nearest")])
def test_crop_equals_scipy_bilinear_sampling(border, mode):
    rng = np.random.default_rng(1)
    img = rng.uniform(0, 255, size=(2, 17, 23, 3)).astype(np.float32)
    boxes = np.array([[-4.0, 3.0, 15.0, 20.0], [2.5, 1.0, 30.0, 12.0]])  # partly outside the image
    M = geometry.box_to_affine(boxes, (9, 11))
    out = geometry.crop(img, M, (9, 11), border=border)
    assert out.shape == (2, 9, 11, 3) and out.dtype == np.float32
    ys, xs = np.mgrid[0:9, 0:11].astype(np.float64)
    for n in range(2):
        src = geometry.transform_points(np.stack([xs.ravel(), ys.ravel()], -1), geometry.invert_affine(M[n]))
        for c in range(3):
            ref = map_coordinates(img[n, ..., c].astype(np.float64), [src[:, 1], src[:, 0]], order=1, mode=mode,
                                  cval=0.0).reshape(9, 11)
            np.testing.assert_allclose(out[n, ..., c], ref, atol=2e-3)


def test_crop_uint8_and_identity():
    img = np.random.default_rng(2).integers(0, 256, size=(1, 8, 8, 3), dtype=np.uint8)
    same = geometry.crop(img, geometry.box_to_affine(np.array([[0, 0, 7, 7]]), 8), 8)
    assert same.dtype == np.uint8
    np.testing.assert_array_equal(same, img)
    each = geometry.crop_each([img[0], img[0, :6]], geometry.box_to_affine(np.array([[0, 0, 7, 7], [0, 0, 7, 5]]), 4),
                              4)
    assert each.shape == (2, 4, 4, 3)
    # images of one shape are cropped in one batch: same values as one by one, in the given order
    imgs = [img[0], img[0, :6], img[0, ::-1]]
    Ms = geometry.box_to_affine(np.array([[0, 0, 7, 7], [0, 0, 7, 5], [1, 1, 6, 6]]), 4)
    together = geometry.crop_each(imgs, Ms, 4)
    for k in range(3):
        np.testing.assert_array_equal(together[k], geometry.crop(imgs[k][None], Ms[k][None], 4)[0])


def test_the_result_kinds_are_the_ones_the_overloads_promise():
    """`transform_points`: numpy for numpy (or list) operands, jax when either is a jax array; `crop`: numpy for
    numpy images under host maps or a concrete jax map, and for concrete uint8 jax images; jax for float jax images
    (the kinds geometry's `@overload` signatures give the type checker)."""
    pts, M = np.array([[1.0, 2.0]]), geometry.box_to_affine([0, 0, 3, 3], 4)
    assert type(geometry.transform_points(pts, M)) is np.ndarray
    assert type(geometry.transform_points(pts.tolist(), M.tolist())) is np.ndarray
    assert isinstance(geometry.transform_points(jnp.asarray(pts), M), jax.Array)
    assert isinstance(geometry.transform_points(pts, jnp.asarray(M)), jax.Array)
    image = np.zeros((1, 4, 4, 1), np.uint8)
    for images, maps in [(image, M[None]), (image.astype(np.float32), M[None].tolist()),
                         (image, jnp.asarray(M[None])), (jnp.asarray(image), M[None])]:
        assert type(geometry.crop(images, maps, 4)) is np.ndarray
    assert isinstance(geometry.crop(jnp.asarray(image, jnp.float32), M[None], 4), jax.Array)


def test_crop_each_buckets_image_sizes_without_changing_crops():
    """Images of different sizes padded (constant or edge border) to multiples of BUCKET: the same crops as one by
    one, also for boxes running off the image, with one compiled shape for sizes that share a bucket."""
    rng = np.random.default_rng(3)
    imgs = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in ((50, 70), (60, 70), (100, 90))]
    Ms = geometry.box_to_affine(np.array([[30, 20, 90, 75], [-10, -5, 40, 58], [40, 60, 95, 105]], float), 32)
    before = geometry._crop._cache_size()
    geometry.crop_each(imgs, Ms, 32)
    assert geometry._crop._cache_size() - before <= 2  # 3 image sizes, 2 buckets: (64, 128) and (128, 128)
    assert {geometry._pad_to_bucket(im, 0.0).shape[:2] for im in imgs} == {(64, 128), (128, 128)}
    for dtype in (np.uint8, np.float32):
        imgs_t = [im.astype(dtype) for im in imgs]
        together = geometry.crop_each(imgs_t, Ms, 32)
        assert together.dtype == dtype
        for k in range(3):
            np.testing.assert_array_equal(together[k], geometry.crop(imgs_t[k][None], Ms[k][None], 32)[0])
    before = geometry._crop._cache_size()
    edge = geometry.crop_each(imgs, Ms, 32, border="edge")  # the edge border: padded with the last row / column
    assert geometry._crop._cache_size() - before <= 2
    assert geometry._pad_to_bucket(imgs[0], 0.0, "edge").shape[:2] == (64, 128)
    for k in range(3):  # boxes 1 and 2 run off the image's right / bottom: clamped edge pixels either way
        np.testing.assert_array_equal(edge[k], geometry.crop(imgs[k][None], Ms[k][None], 32, border="edge")[0])
    refl = geometry.crop_each(imgs, Ms, 32, border="reflect")  # other borders are not padded
    np.testing.assert_array_equal(refl[1], geometry.crop(imgs[1][None], Ms[1][None], 32, border="reflect")[0])


def test_crop_each_crops_one_image_given_for_several_maps_once(crop_arguments, count_compiles):
    """One array given for several maps (several people in one photo: `pose.estimate` with P boxes) is cropped with
    the image shared: no crop program gets it once per map (an argument of P images), also past CROP_CHUNK maps
    and beside other images, and the crops are those of separate copies of the image, bit for bit; a new image
    size compiles the crop's one program only."""
    rng = np.random.default_rng(7)
    with count_compiles() as n:
        geometry.crop_each([np.zeros((200, 300, 3), np.uint8)] * 3, np.tile(np.eye(2, 3), (3, 1, 1)), 9)
    assert n[0] == 1
    img, other = rng.integers(0, 256, (70, 90, 3), dtype=np.uint8), rng.integers(0, 256, (50, 40, 3), dtype=np.uint8)
    seen = crop_arguments
    for p, dtype, border in ((3, np.uint8, "constant"), (geometry.CROP_CHUNK + 3, np.float32, "edge")):
        im = img.astype(dtype)
        M = geometry.box_to_affine(np.array([[-5 + 4 * i, 3 * i, 40 + 2 * i, 60 + i] for i in range(p)], float), 16)
        seen.clear()
        shared = geometry.crop_each([im] * p, M, 16, border)
        assert max(int(np.prod(s)) for s in seen) == 128 * 128 * 3  # one image (padded to BUCKET), never p of them
        np.testing.assert_array_equal(shared, geometry.crop_each([im.copy() for _ in range(p)], M, 16, border))
        assert shared.dtype == dtype
    M = geometry.box_to_affine(np.array([[0, 0, 30, 30], [5, 5, 39, 49], [10, 20, 80, 69]], float), 16)
    mixed = geometry.crop_each([img, other, img], M, 16)
    np.testing.assert_array_equal(mixed, geometry.crop_each([img, other, img.copy()], M, 16))


def test_bad_input_is_named():
    with pytest.raises(InputError, match="border"):
        geometry.crop(np.zeros((1, 4, 4, 3)), np.eye(2, 3)[None], 4, border="nope")
    with pytest.raises(InputError, match="boxes"):
        geometry.box_to_affine(np.array([5.0, 5.0, 2.0, 2.0]), 4)
    with pytest.raises(InputError, match="one map per image"):
        geometry.crop(np.zeros((2, 4, 4, 3)), np.eye(2, 3)[None], 4)


@pytest.mark.parametrize("point", [[9.5, 0.0], [0.0, 7.5], [-0.5, 3.0], [2.0, -0.5]])
def test_check_point_refuses_a_point_beyond_the_outer_pixel_centres(point):
    """Inside is 0 <= x <= W - 1 and 0 <= y <= H - 1 (an 8 x 10 image: x 0..9, y 0..7); the last centres are in."""
    np.testing.assert_array_equal(geometry.check_point([9.0, 7.0], (8, 10), "f", "torso"), [9.0, 7.0])
    with pytest.raises(InputError, match="f: field 'torso'"):
        geometry.check_point(point, (8, 10), "f", "torso")


@pytest.mark.parametrize("box, inward", [([-5, 0, -1, 4], [-5, 0, 0, 4]), ([0, -5, 4, -1], [0, -5, 4, 0]),
                                          ([10, 0, 12, 4], [9, 0, 12, 4]), ([0, 8, 4, 12], [0, 7, 4, 12])])
def test_check_box_refuses_a_box_that_only_touches_the_image(box, inward):
    """A box ending at x1 = -1 (outer edge -0.5) or starting at x0 = W (outer edge W - 0.5) shares no area with an
    8 x 10 image (its outer edges -0.5 .. 9.5, -0.5 .. 7.5); one pixel further in, it does."""
    with pytest.raises(InputError, match="a box overlapping"):
        geometry.check_box(box, (8, 10), "f", "box")
    np.testing.assert_array_equal(geometry.check_box(inward, (8, 10), "f", "box"), inward)


def test_module_examples_run():
    """The runnable examples in the module docstring print what they say."""
    result = doctest.testmod(geometry)
    assert result.attempted >= 5 and result.failed == 0


def _blob(h: int, w: int, x: float, y: float, sigma: float) -> np.ndarray:
    ys, xs = np.mgrid[0:h, 0:w]
    return np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * sigma**2))


def _centroid(image: np.ndarray) -> np.ndarray:
    ys, xs = np.mgrid[0:image.shape[0], 0:image.shape[1]]
    m = np.where(image > 0.05 * image.max(), image, 0.0)
    return np.array([(m * xs).sum(), (m * ys).sum()]) / m.sum()


@pytest.mark.parametrize("box, size, point", [
    ([10, 5, 49, 44], 32, (23.3, 17.8)),          # downscaled
    ([10, 5, 49, 44], 80, (23.3, 17.8)),          # upscaled
    ([-20, -10, 29, 59], 40, (14.6, 21.2)),       # partly outside the image, non-square box onto a square crop
    ([60, 20, 119, 45], (20, 50), (80.4, 30.7)),  # non-square crop, partly outside
])
def test_crop_shows_the_content_where_the_points_go_and_back(box, size, point):
    """A Gaussian blob drawn at a point lands, in the crop, where `transform_points` sends the point (its centroid to
    a few hundredths of a crop pixel), and the crop's centroid mapped back (`predict.to_original`) is the point."""
    from convcorr_jax.pose import predict

    M = geometry.box_to_affine(box, size)
    img = _blob(60, 90, *point, 3.0 / min(M[0, 0], M[1, 1]))[None, ..., None].astype(np.float32)  # 3 crop px
    found = _centroid(geometry.crop(img, M[None], size)[0, ..., 0])
    np.testing.assert_allclose(found, geometry.transform_points(np.array([point]), M)[0], atol=0.05)
    np.testing.assert_allclose(predict.to_original(found[None, None], M[None])[0, 0], point, atol=0.05)


def test_crop_each_compiles_once_for_any_number_of_images_of_a_bucket(count_compiles):
    """Calls with 5, 6, 7 and 8 images of one bucket (the count padded to a power of two, the padded crops
    dropped) and the uint8 casts inside the crop's one program: after the first call nothing is compiled again,
    and each call's crops are the one-by-one crops."""
    rng = np.random.default_rng(5)
    imgs = [rng.integers(0, 256, (40 + i, 50, 3), dtype=np.uint8) for i in range(8)]  # one bucket: 64 x 64
    Ms = geometry.box_to_affine(np.array([[5 + i, 3, 40, 38 + i] for i in range(8)], float), 23)
    with count_compiles() as first:
        geometry.crop_each(imgs[:5], Ms[:5], 23)
    assert first[0] >= 1
    with count_compiles() as again:
        for n in (6, 7, 8, 5):
            out = geometry.crop_each(imgs[:n], Ms[:n], 23)
    assert again[0] == 0
    assert out.shape == (5, 23, 23, 3) and out.dtype == np.uint8
    for k in range(5):
        np.testing.assert_array_equal(out[k], geometry.crop(imgs[k][None], Ms[k][None], 23)[0])
