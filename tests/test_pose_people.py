"""The pieces of a pose model for people of every kind: one skeleton for several datasets (joints mapped by name),
LSP-extended's fixed parts, and the augmentations for photos of every kind."""

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from convcorr_jax.data import joint_map, lsp, pose_sets, skeletons
from convcorr_jax.errors import InputError
from convcorr_jax.pose import augment


def test_person_skeleton_holds_every_joint_of_flic_lsp_mpii_and_coco_by_name():
    person = skeletons.PERSON
    missing = {}
    for name in ("flic", "lsp", "mpii", "coco17"):
        src = skeletons.get(name)
        index = joint_map.joint_index(src, person)
        assert len(set(index[index >= 0])) == int((index >= 0).sum())  # one source joint per joint
        for j, i in enumerate(index):  # a mapped joint has the same name in one spelling
            if i >= 0:
                assert joint_map.canonical_name(src.names[i]) == person.names[j]
        missing[name] = {person.names[j] for j in np.flatnonzero(index < 0)}
    assert missing["flic"] == {"l knee", "r knee", "l ankle", "r ankle", "neck", "head top"}
    assert missing["lsp"] == missing["mpii"] == {"l eye", "r eye", "nose"}
    assert missing["coco17"] == {"neck", "head top"}
    # left and right as the person sees them, in every dataset: a flip pair of the source is one of the person's
    for name in ("flic", "lsp", "coco17"):
        src = skeletons.get(name)
        index = joint_map.joint_index(src, person)
        back = {int(i): j for j, i in enumerate(index) if i >= 0}
        pairs = {tuple(sorted(p)) for p in person.flip_pairs}
        for a, b in src.flip_pairs:
            if a in back and b in back:
                assert tuple(sorted((back[a], back[b]))) in pairs
    assert skeletons.get("person") is person and person.normaliser_name().startswith("torso (l shoulder - r hip")


def test_map_joints_by_hand_and_explicit_names():
    lsp_sk, person = skeletons.LSP, skeletons.PERSON
    rng = np.random.default_rng(0)
    pts = rng.uniform(0, 100, (3, 14, 2))
    lab = rng.uniform(size=(3, 14)) > 0.3
    out, ok = joint_map.map_joints(pts, lab, joint_map.joint_index(lsp_sk, person))
    assert out.shape == (3, 17, 2) and ok.shape == (3, 17)
    rk, hk = lsp_sk.names.index("r knee"), person.names.index("r knee")
    np.testing.assert_array_equal(out[:, hk], pts[:, rk])
    np.testing.assert_array_equal(ok[:, hk], lab[:, rk])
    nose = person.names.index("nose")
    assert np.isnan(out[:, nose]).all() and not ok[:, nose].any()
    index = joint_map.joint_index(lsp_sk, person, {"neck": "head top"})  # explicit: only what is named
    assert (index >= 0).sum() == 1 and index[person.names.index("head top")] == lsp_sk.names.index("neck")
    with pytest.raises(InputError, match="joints of lsp"):
        joint_map.joint_index(lsp_sk, person, {"elbow": "l elbow"})
    with pytest.raises(InputError, match="joints of person"):
        joint_map.joint_index(lsp_sk, person, {"r knee": "tail"})
    with pytest.raises(InputError, match="one lsp joint per person joint"):
        joint_map.joint_index(lsp_sk, person, {"r knee": "r knee", "l knee": "r knee"})


def test_lspet_fixed_parts(real_data):
    root = real_data / "lspet"
    if not (root / "joints.mat").is_file() or not (root / "images" / "im06000.jpg").is_file():
        pytest.skip(f"LSP-extended with 6,000 images not found under {real_data}")
    parts = {s: pose_sets.load_people("lsp", root, s, **lsp.LSPET_PARTS) for s in ("train", "val", "test")}
    names = {s: [Path(x.image_path).name for x in p.samples] for s, p in parts.items()}
    assert (len(parts["train"]), len(parts["val"]), len(parts["test"])) == (5000, 500, 500)
    assert names["val"][0] == "im05001.jpg" and names["val"][-1] == "im05500.jpg"
    assert names["test"][0] == "im05501.jpg" and names["test"][-1] == "im06000.jpg"
    assert names["train"][-1] == "im05000.jpg"
    with pytest.raises(InputError, match="val_images / test_images"):
        pose_sets.load_people("lsp", root, "test", train_images=5000, val_images=500, test_images=600)


def _dots(size: int, pts: np.ndarray) -> np.ndarray:
    img = np.zeros((size, size, 3), np.float32)
    for x, y in np.round(pts).astype(int):
        img[y - 2:y + 3, x - 2:x + 3] = 1.0
    return img


def test_photo_augmentation_moves_the_image_with_its_joints():
    size = 64
    pts = np.array([[20.0, 18.0], [44.0, 20.0], [30.0, 46.0], [38.0, 50.0]], np.float32)
    cfg = augment.AugmentConfig(rotation=40.0, scale=(0.7, 1.3), flip_perm=(1, 0, 3, 2), shift=0.15,
                                half_body=0.5, upper=(0, 1))
    assert not cfg.paper_only and augment.AugmentConfig().paper_only
    keys = jax.random.split(jax.random.PRNGKey(3), 32)
    img = jnp.broadcast_to(_dots(size, pts), (32, size, size, 3))
    out_img, out_pts, out_vis = jax.jit(lambda k, i, p, v: augment.augment_batch(k, i, p, v, cfg))(
        keys, img, jnp.broadcast_to(pts, (32, 4, 2)), jnp.ones((32, 4), bool))
    out_img, out_pts, out_vis = map(np.asarray, (out_img, out_pts, out_vis))
    assert out_vis.any() and not out_vis.all()  # some joints leave the crop (shift, zoom), most stay
    for i in range(32):
        for p in out_pts[i][out_vis[i]]:
            x, y = np.round(p).astype(int)
            assert out_img[i, y, x].max() > 0.5  # the dot moved with its joint
    spread = np.nanstd(np.where(out_vis[..., None], out_pts, np.nan), axis=(0, 1))
    assert (spread > 3).all()  # the crops differ


def test_photometric_augmentations_stay_in_range_and_change_the_image():
    rng = np.random.default_rng(1)
    img = jnp.asarray(rng.uniform(0, 1, (32, 32, 3)).astype(np.float32))
    cfg = augment.AugmentConfig(colour=0.4, blur=1.0, low_res=1.0, occlusion=1.0)
    out = np.asarray(jax.jit(lambda k: augment.photometric(k, img, cfg))(jax.random.PRNGKey(0)))
    assert out.shape == img.shape and 0.0 <= out.min() and out.max() <= 1.0
    assert np.std(out) < np.std(np.asarray(img))  # blurred and pixelated: smoother
    occluded = np.asarray(augment.photometric(jax.random.PRNGKey(2), img, augment.AugmentConfig(occlusion=1.0)))
    grey = (occluded == 0.5).all(axis=-1)
    ys, xs = np.nonzero(grey)
    assert 3 * 3 <= grey.sum() == (np.ptp(ys) + 1) * (np.ptp(xs) + 1)  # one rectangle, sides >= 10 % of 32 px
    np.testing.assert_array_equal(occluded[~grey], np.asarray(img)[~grey])
    blurred = np.asarray(augment.gaussian_blur(img, 1.0))
    const = np.asarray(augment.gaussian_blur(jnp.full((16, 16, 3), 0.3), 1.5))
    np.testing.assert_allclose(const, 0.3, atol=1e-6)  # the kernel sums to one
    assert blurred.shape == img.shape
