"""The pieces of a pose model for people of every kind: one skeleton for several datasets (joints mapped by name),
LSP-extended's fixed parts, and the augmentations for photos of every kind."""

from pathlib import Path

import grain
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from convcorr_jax.data import joint_map, lsp, pose_sets, skeletons
from convcorr_jax.core.errors import InputError
from convcorr_jax.pose import augment, mixture
from convcorr_jax.pose.data_part import DataPart
from convcorr_jax.pose.person_crops import PoseArrays


def test_person_skeleton_holds_every_joint_of_flic_lsp_mpii_and_coco_by_name():
    person = skeletons.PERSON
    missing = {}
    for name in ("flic", "lsp", "mpii", "coco17"):
        src = skeletons.get(name)
        index = joint_map.joint_index(src, person)
        assert len(set(index[index >= 0])) == int((index >= 0).sum())  # one source joint per joint
        for j, i in enumerate(index):  # a mapped joint has the same name in one spelling
            if i >= 0:
                assert joint_map._canonical_name(src.names[i]) == person.names[j]
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
    assert index[person.names.index("r knee")] == -1  # a joint of the same name is not matched unless listed
    with pytest.raises(InputError, match="joints of lsp"):
        joint_map.joint_index(lsp_sk, person, {"elbow": "l elbow"})
    with pytest.raises(InputError, match="joints of person"):
        joint_map.joint_index(lsp_sk, person, {"r knee": "tail"})
    with pytest.raises(InputError, match="one lsp joint per person joint"):
        joint_map.joint_index(lsp_sk, person, {"r knee": "r knee", "l knee": "r knee"})


def test_joint_index_refuses_an_ambiguous_model_joint_and_names_that_are_not_text():
    # two joints of the model's skeleton with one name in one spelling: the dataset's joint is not silently put on
    # the last of them (the other never trained); an explicit pair names the model's joint exactly
    model = skeletons.Skeleton("model", ("neck", "upper_neck", "head_top"), ())
    with pytest.raises(InputError, match="neck.*upper_neck"):
        joint_map.joint_index(skeletons.LSP, model)
    index = joint_map.joint_index(skeletons.LSP, model, {"neck": "neck", "head top": "head_top"})
    assert index.tolist() == [skeletons.LSP.names.index("neck"), -1, skeletons.LSP.names.index("head top")]
    for bad in ({"lsho": 3}, {3: "l shoulder"}):  # one line naming the field, not a TypeError from the name parser
        with pytest.raises(InputError, match="names"):
            joint_map.joint_index(skeletons.FLIC, skeletons.PERSON, bad)


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
    out = np.asarray(jax.jit(lambda k: augment._photometric(k, img, cfg))(jax.random.PRNGKey(0)))
    assert out.shape == img.shape and 0.0 <= out.min() and out.max() <= 1.0
    assert np.std(out) < np.std(np.asarray(img))  # blurred and pixelated: smoother
    occlude = jax.jit(lambda k: augment._photometric(k, img, augment.AugmentConfig(occlusion=1.0)))
    occluded = np.asarray(occlude(jax.random.PRNGKey(2)))
    grey = (occluded == 0.5).all(axis=-1)
    ys, xs = np.nonzero(grey)
    assert 3 * 3 <= grey.sum() == (np.ptp(ys) + 1) * (np.ptp(xs) + 1)  # one rectangle, sides >= 10 % of 32 px
    np.testing.assert_array_equal(occluded[~grey], np.asarray(img)[~grey])
    blur = jax.jit(augment._gaussian_blur)
    const = np.asarray(blur(jnp.full((32, 32, 3), 0.3), 1.5))
    np.testing.assert_allclose(const, 0.3, atol=1e-6)  # the kernel sums to one
    blurred = np.asarray(blur(img, 1.0))
    k = np.exp(-0.5 * np.arange(-4, 5) ** 2)
    k /= k.sum()
    padded = np.pad(np.asarray(img, np.float64), ((4, 4), (4, 4), (0, 0)), mode="edge")
    want = sum(k[i] * k[j] * padded[i:i + 32, j:j + 32] for i in range(9) for j in range(9))
    np.testing.assert_allclose(blurred, want, atol=1e-5)  # separable = the 2-D kernel, edges repeated


def _arrays(n: int, value: int, k: int = 17) -> PoseArrays:
    images = np.full((n, 8, 8, 3), value, np.uint8)
    images[:, 0, 0, 0] = np.arange(n)  # the row's id
    return PoseArrays(images, np.zeros((n, k, 2), np.float32), np.ones((n, k), bool), np.ones(n, np.float32))


def test_mixed_batches_hold_each_part_by_its_share_and_every_person_once_an_epoch():
    assert mixture._batch_rows(np.array([0.75, 0.25]), 8).tolist() == [6, 2]
    assert mixture._batch_rows(mixture.shares([DataPart("lsp", share=2), DataPart("lsp")]),
                              16).tolist() == [11, 5]
    parts = [_arrays(12, 10), _arrays(5, 200)]
    ds = mixture._mixed_dataset(parts, np.array([0.75, 0.25]), batch_size=8, steps=10, seed=3)
    seen = {10: [], 200: []}
    for t in range(10):
        b = ds[t]
        assert b["image"].shape == (8, 8, 8, 3) and b["key"].shape == (8, 2)
        assert (b["image"][:6, 1, 1, 0] == 10).all() and (b["image"][6:, 1, 1, 0] == 200).all()
        for img in b["image"]:
            seen[int(img[1, 1, 0])].append(int(img[0, 0, 0]))
    # part 0: 60 rows = 5 epochs of 12, each a permutation; part 1: 20 rows = 4 epochs of 5
    for value, n in ((10, 12), (200, 5)):
        rows = seen[value]
        for e in range(len(rows) // n):
            assert sorted(rows[e * n:(e + 1) * n]) == list(range(n))
    # sharded: two processes' rows put together are the one process's batch
    halves = [mixture._mixed_dataset(parts, np.array([0.75, 0.25]), 8, 10, 3,
                                    grain.sharding.ShardOptions(i, 2))[4]["image"] for i in (0, 1)]
    np.testing.assert_array_equal(np.concatenate(halves), ds[4]["image"])
    with pytest.raises(InputError, match="one image size and one skeleton"):
        mixture._mixed_dataset([_arrays(3, 1), _arrays(3, 1, k=14)], np.array([0.5, 0.5]), 4, 1, 0)
    with pytest.raises(InputError, match="share"):
        DataPart("lsp", share=0).check()
    with pytest.raises(InputError, match="options of lsp"):
        DataPart("lsp", options=(("n_samples", 3),)).check()


def test_the_parts_cached_crops_are_put_together_on_disk_not_in_memory(tmp_path, monkeypatch):
    """A mixture's training crops (each part's memory-mapped cache entry) are put one after another in a
    memory-mapped file: they were copied into one in-memory array, so a person model on COCO, MPII and LSPET held
    every crop of all three in memory for the whole run."""
    monkeypatch.setenv("CONVCORR_CACHE", str(tmp_path / "cache"))
    parts = []
    for n, value in ((600, 10), (5, 200)):
        a = _arrays(n, value)
        np.save(tmp_path / f"{value}.npy", a.images)
        parts.append(PoseArrays(np.load(tmp_path / f"{value}.npy", mmap_mode="r"), a.points, a.visible, a.norm))
    both = mixture.concat(parts, [0.5, 0.5])
    assert isinstance(both.images, np.memmap) and both.sizes == (600, 5)
    np.testing.assert_array_equal(both.images, np.concatenate([np.asarray(p.images) for p in parts]))
    np.testing.assert_array_equal(both.parts()[1].images, parts[1].images)
    assert not isinstance(mixture.concat([_arrays(3, 1), _arrays(2, 2)]).images, np.memmap)  # in memory: as they are


def test_a_part_whose_share_gives_it_no_row_of_a_batch_is_refused_not_left_untrained():
    parts = [_arrays(12, 10), _arrays(5, 200)]
    assert mixture._batch_rows(np.array([0.95, 0.05]), 8).tolist() == [8, 0]
    with pytest.raises(InputError, match=r"batch_size.*rows \[8, 0\]"):
        mixture._mixed_dataset(parts, np.array([0.95, 0.05]), batch_size=8, steps=2, seed=0)
    ds = mixture._mixed_dataset(parts, np.array([0.95, 0.05]), batch_size=16, steps=2, seed=0)  # 15 + 1 rows
    assert (ds[0]["image"][-1:, 1, 1, 0] == 200).all()


def test_a_dataset_joint_or_option_named_twice_is_refused_not_dropped():
    with pytest.raises(InputError, match=r"datasets\[1\]\.joints.*lsho twice"):
        DataPart("flic", joints=(("lsho", "l shoulder"), ("lsho", "r shoulder"))).check("datasets[1]")
    with pytest.raises(InputError, match=r"datasets\.options.*train_images twice"):
        DataPart("lsp", options=(("train_images", 5), ("train_images", 6))).check()
    DataPart("flic", joints=(("lsho", "l shoulder"), ("rsho", "r shoulder"))).check()  # one pair each: fine


def test_flic_and_lsp_people_on_one_skeleton_cropped_from_person_boxes(real_data, flic_subset):
    lspet = real_data / "lspet"
    if not (lspet / "images" / "im00040.jpg").is_file():
        pytest.skip(f"LSP-extended images not found under {real_data}")
    flic_root, n_train, _ = flic_subset
    parts = (DataPart("flic", str(flic_root), 0.5),
             DataPart("lsp", str(lspet), 0.5, options=(("train_images", 30), ("val_images", 10),
                                                                ("test_images", 10))))
    person = skeletons.PERSON
    flic_people = mixture.mapped_people(parts[0], person, "train")
    knee, wrist = person.names.index("l knee"), person.names.index("l wrist")
    assert not any(s.extras["labelled"][knee] for s in flic_people.samples)
    s = flic_people.samples[0]
    lab = s.extras["labelled"]
    box = flic_people.boxes[0]
    tight = np.array([s.points[lab, 0].min(), s.points[lab, 1].min(), s.points[lab, 0].max(), s.points[lab, 1].max()])
    pad = 0.15 * np.max(tight[2:] - tight[:2])
    np.testing.assert_allclose(box, np.concatenate([tight[:2] - pad, tight[2:] + pad]), rtol=1e-5)
    train, held = mixture.load_parts(parts, person, 64)
    assert [len(a) for a in held] == [len(mixture.mapped_people(parts[0], person, "val")), 10]
    assert all(a.points.shape[1:] == (17, 2) and a.images.shape[1:] == (64, 64, 3) for a in train + held)
    assert not train[0].visible[:, knee].any() and train[1].visible[:, knee].any()
    assert train[0].visible[:, wrist].any() and train[1].visible[:, wrist].any()
    for a in train:  # every labelled joint inside its crop (the person box holds them all, with margin)
        p = a.points[a.visible]
        assert (p > 0).all() and (p < 63).all()
    again = mixture._part_crops(parts[1], person, "train", 64)  # cached: the same arrays
    np.testing.assert_array_equal(np.asarray(again.arrays.images), np.asarray(train[1].images))


@pytest.mark.slow  # 28 s: a tiny training run on real images (make test-all)
def test_one_config_trains_a_person_model_on_flic_and_lsp_together(real_data, flic_subset, tmp_path):
    """`--config person` at the tiny size: FLIC and LSP-extended from one config (a small LSP part here), mixed by
    share, 17 joints; the run is a model that estimates a full-body skeleton from a person box."""
    import dataclasses

    from convcorr_jax.pose import estimate, load
    from convcorr_jax.pose.export import model_folder
    from convcorr_jax.pose.training.loop import train
    from convcorr_train.pose_configs import get_config

    lspet = real_data / "lspet"
    if not (lspet / "images" / "im00050.jpg").is_file():
        pytest.skip(f"LSP-extended images not found under {real_data}")
    data_root = tmp_path / "data"
    data_root.mkdir()
    (data_root / "flic").symlink_to(flic_subset[0])
    (data_root / "lspet").symlink_to(lspet)
    cfg = get_config("person_tiny")
    small = (("train_images", 30), ("val_images", 10), ("test_images", 10))
    cfg = dataclasses.replace(cfg, data_root=str(data_root), out=str(tmp_path / "runs"),
                              datasets=(cfg.datasets[0], dataclasses.replace(cfg.datasets[1], options=small)))
    assert cfg.data == "person" and [p.kind for p in cfg.datasets] == ["flic", "lsp"]
    result = train(cfg, progress=False, on_stage=model_folder.write_stage)
    assert result.evals and result.evals[-1]["step"] == cfg.total_steps  # scored on both val parts together
    model = load(cfg.run_dir())
    assert model.names == skeletons.PERSON.names
    img = np.asarray(Image.open(lspet / "images" / "im00001.jpg").convert("RGB"))
    h, w = img.shape[:2]
    poses = estimate(img, model, person_boxes=[(0, 0, w - 1, h - 1)])
    assert poses.points.shape == (1, 17, 2) and np.isfinite(poses.points).all()
    with pytest.raises(InputError, match="datasets exactly when data=person"):
        dataclasses.replace(cfg, datasets=()).check()


def test_a_mixture_part_without_its_folder_or_read_twice_is_one_line_naming_the_part(tmp_path, capsys):
    """A part's missing folder was an error naming only a file under a relative path ("flic: field 'examples.mat'"),
    neither the part nor data_root; two parts reading one folder trained on its people twice (and, with other
    options, on one part's held-out people). Now one line naming `datasets[i].root`, before the run folder is made."""
    from convcorr_cli.main import main
    from convcorr_train import pose

    (tmp_path / "lspet").mkdir()
    cfg = pose.config("person_tiny", sets=[f"data_root={tmp_path}"])
    with pytest.raises(InputError, match=r"datasets\[0\]\.root.*for flic \(under data_root=.*no such folder"):
        cfg.part_roots()
    with pytest.raises(InputError, match=r"datasets\[0\]\.root.*data_root, which is not set"):
        pose.config("person_tiny").part_roots()
    (tmp_path / "flic").mkdir()
    assert [p.root for p in cfg.part_roots()] == [str(tmp_path / "flic"), str(tmp_path / "lspet")]
    twice = pose.config("person_tiny", sets=[f"data_root={tmp_path}", "datasets.0.kind=lsp",
                                             f"datasets.0.root={tmp_path}/lspet/"])
    with pytest.raises(InputError, match=r"datasets\[1\]\.root.*no other part reads \(datasets\[0\] reads lsp"):
        twice.part_roots()
    rc = main(["train", "pose", "--config", "person_tiny", "--set", f"data_root={tmp_path / 'none'}", "--out",
               str(tmp_path / "runs"), "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and err[-1].startswith("convcorr train: error: config: field 'datasets[0].root'")
    assert not (tmp_path / "runs").exists()


def test_a_parts_crops_are_keyed_by_the_joint_mapping_code(monkeypatch):
    """A part's crops hold its people mapped onto the model's skeleton (`data.joint_map`) in boxes drawn from the
    mapped joints (`pose.person_boxes`); their cache key carried neither module's version, so a corrected name
    mapping kept serving the crops of the old one."""
    from convcorr_jax.core import cache
    from convcorr_jax.pose import person_crops as pc

    seen = {}
    monkeypatch.setattr(pc, "_cached_crops", lambda kind, settings, *a, **k: seen.update(settings))
    mixture._part_crops(DataPart("synthetic", options=(("n_samples", 8),)), skeletons.PERSON, "train", 32)
    want = cache.code_version("convcorr_jax.pose.mixture", "convcorr_jax.data.joint_map",
                              "convcorr_jax.pose.person_boxes")
    assert seen["options"]["mapping_code"] == want


def test_a_synthetic_part_makes_its_crops():
    """A part of a kind that reads no folder (synthetic people) was a FileNotFoundError traceback: its crops' cache
    key read its source line ("synthetic people (n=8, seed=0)") as an annotation file."""
    crops = mixture._part_crops(DataPart("synthetic", options=(("n_samples", 8), ("input_size", 32))),
                                skeletons.PERSON, "train", 16)
    assert crops.arrays.images.shape[1:] == (16, 16, 3) and crops.arrays.points.shape[1:] == (17, 2)
    assert not crops.arrays.visible[:, skeletons.PERSON.names.index("l eye")].any()  # MPII has no eyes
