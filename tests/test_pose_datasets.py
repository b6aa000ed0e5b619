"""One pose-dataset interface (`data.pose_sets.DATASETS`): every kind is one registered entry, a new format is one
file (a 2-joint format written here is registered, trained on with the tiny model and scored), COCO-format folders
in COCO's own layout or the flat one, a val split carved from train where a folder has none (trained on, scored,
and reported), and one error for a folder in neither layout."""

from __future__ import annotations

import dataclasses
import functools
import importlib
import json
import logging
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_pose_skeletons import CAT, write_coco

from convcorr_jax.data import pose_sets, skeletons
from convcorr_jax.data.pose_dataset import PoseDataset, box_inputs
from convcorr_jax.core import crop_geometry
from convcorr_jax.core.errors import InputError
from convcorr_jax.pose import joints
from convcorr_jax.pose import data as pose_data
from convcorr_jax.pose.person_crops import person_crops

# a dataset in a new format, as a user writes it: this one file (docs/extending.md shows the same)
HANDS_FORMAT = '''
"""Two hands per person: DIR/<split>.csv rows `image, x0, y0, x1, y1, lx, ly, rx, ry` (the person's box, then
the left and right hand; 0-based pixels), the images in DIR/images/."""
from pathlib import Path

import numpy as np

from convcorr_jax.data.pose_sets import DATASETS, PersonSet, PoseDataset
from convcorr_jax.data.skeletons import Skeleton
from convcorr_jax.data.types import KeypointSample

HANDS = Skeleton("hands", ("left_hand", "right_hand"), links=((0, 1),), flip_pairs=((0, 1),))


def people(root, split):
    path = Path(root) / f"{split}.csv"
    rows = [line.split(",") for line in path.read_text().splitlines()]
    boxes = np.array([row[1:5] for row in rows], np.float64)
    samples = [KeypointSample(np.array(row[5:], np.float32).reshape(2, 2), np.ones(2, bool), HANDS.names,
                              box.astype(np.float32), "person", f"{split}/{i}",
                              image_path=str(Path(root) / "images" / row[0]))
               for i, (row, box) in enumerate(zip(rows, boxes))]
    return PersonSet(samples, HANDS, boxes, boxes, str(path))


DATASETS.register("hands", PoseDataset(people, HANDS), replace=True)
'''


def write_hands(root: Path, n_train: int = 8, n_val: int = 3, size: int = 64) -> Path:
    """A folder of the hands format: random images, one person each."""
    rng = np.random.default_rng(1)
    (root / "images").mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("val", n_val)):
        rows = []
        for i in range(n):
            name = f"{split}{i}.png"
            Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(root / "images" / name)
            x0, y0 = rng.uniform(2, 12, 2)
            hands = rng.uniform(16, 44, 4)
            rows.append(",".join(str(v) for v in (name, x0, y0, x0 + 44, y0 + 40, *hands)))
        (root / f"{split}.csv").write_text("\n".join(rows))
    return root


@pytest.fixture()
def hands(tmp_path, monkeypatch):
    """The hands format registered from its own file (unregistered afterwards)."""
    (tmp_path / "hands_format.py").write_text(HANDS_FORMAT)
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("hands_format")
    yield module
    pose_sets.DATASETS.unregister("hands")
    sys.modules.pop("hands_format", None)


def coco_layout(root: Path, splits=("train", "val"), n: int = 8) -> Path:
    """A COCO-format folder in COCO's own layout: annotations/person_keypoints_<split>2017.json + <split>2017/."""
    flat = root / "flat"
    for split in splits:
        write_coco(flat, split, n=n if split == "train" else 3, size=64)
        (root / "annotations").mkdir(parents=True, exist_ok=True)
        (flat / "annotations" / f"{split}.json").rename(root / "annotations" / f"person_keypoints_{split}2017.json")
        (root / f"{split}2017").mkdir()
        for png in (flat / "images").glob(f"{split}_*.png"):
            png.rename(root / f"{split}2017" / png.name)
    return root


def test_every_kind_is_one_entry_of_one_registry():
    assert list(pose_sets.DATASETS) == ["synthetic", "mpii", "flic", "coco", "lsp", "person"] == list(pose_data.KINDS)
    assert all(isinstance(e, PoseDataset) for e in pose_sets.DATASETS.values())
    assert list(pose_sets.LOADERS) == ["coco", "lsp"]  # the kinds cropped around their people's boxes
    heads = {k: pose_data.headline(k) for k in pose_sets.DATASETS}
    assert heads == {"synthetic": ("PCK", 0.05), "mpii": ("PCKh", 0.5), "flic": ("PCK", 0.05), "coco": ("PCK", 0.2),
                     "lsp": ("PCK", 0.2), "person": ("PCK", 0.2)}
    for kind, sk in (("synthetic", skeletons.MPII), ("mpii", skeletons.MPII), ("flic", skeletons.FLIC),
                     ("lsp", skeletons.LSP), ("coco", skeletons.COCO17), ("person", skeletons.PERSON)):
        js = joints.joint_set(kind)
        assert js is sk and js.edges == sk.links and js.flip == sk.flip and js.groups == sk.column_groups
    assert joints.JointSet is skeletons.Skeleton and joints.FLIC.dataset == "FLIC"
    lamp = skeletons.from_coco_category(CAT, "f.json")
    assert dict(lamp.groups) == {n: (i,) for i, n in enumerate(CAT["keypoints"])}  # one column per joint
    with pytest.raises(InputError, match=r"config: field 'data'.*registered pose dataset"):
        pose_sets.dataset("cats")
    with pytest.raises(InputError, match="data_root"):
        pose_sets.load_people("lsp", None, "train")
    with pytest.raises(InputError, match="split"):
        pose_sets.load_people("mpii", "somewhere", "test")


def test_a_new_format_is_one_file(hands, tmp_path):
    root = write_hands(tmp_path / "data")
    people = pose_sets.load_people("hands", root, "train")
    assert len(people) == 8 and people.skeleton.num_joints == 2 and "index" not in people.samples[0].extras
    crops = person_crops("hands", root, "val", 32, 1.25)
    assert crops.arrays.images.shape == (3, 32, 32, 3) and crops.index.tolist() == [0, 1, 2]  # no extras["index"]
    # the "bbox" normaliser: the person box's longer side (44 px) in crop pixels
    np.testing.assert_allclose(crops.arrays.norm, 44 * crops.affine[:, 0, 0], rtol=1e-5)
    # training crops are the crops `estimate` takes about the same boxes: the square of 1.25 x the longer inclusive
    # pixel extent (x1 - x0 + 1), about the box's centre
    boxes = pose_sets.load_people("hands", root, "val").boxes
    np.testing.assert_allclose(crops.affine, crop_geometry.box_affines(boxes, 32, 1.25))
    np.testing.assert_allclose(crops.affine[:, 0, 0], 32 / (1.25 * (np.max(boxes[:, 2:] - boxes[:, :2], 1) + 1)))
    assert pose_sets.dataset("hands").inputs is box_inputs and "hands" in pose_sets.LOADERS
    js = joints.joint_set("hands", 2)
    assert js.names == ("left_hand", "right_hand") and js.flip == (1, 0)
    with pytest.raises(InputError, match="num_joints"):
        joints.joint_set("hands", 16)


def test_coco_layouts_and_their_refusal(tmp_path):
    own = coco_layout(tmp_path / "own")
    train, val = (pose_sets.load_people("coco", own, s) for s in ("train", "val"))
    assert len(train) == 8 and len(val) == 3 and train.carved is None and val.carved is None
    assert Path(val.samples[0].image_path).parent.name == "val2017"
    assert Path(val.source).name == "person_keypoints_val2017.json"
    with pytest.raises(InputError, match=r"person_keypoints_test2017.json: field 'file'"):
        pose_sets.load_people("coco", own, "test")
    (tmp_path / "neither" / "annotations").mkdir(parents=True)
    (tmp_path / "neither" / "annotations" / "instances_train2017.json").write_text("{}")
    with pytest.raises(InputError) as e:
        pose_sets.load_people("coco", tmp_path / "neither", "train")
    msg = str(e.value)
    assert msg.startswith(str(tmp_path / "neither")) and "person_keypoints_{train,val}2017.json" in msg
    assert "annotations/{train,val,test}.json" in msg and "\n" not in msg


@pytest.mark.parametrize("keypoints", [None, 3, "nose"])
def test_a_second_category_without_a_list_of_keypoints_is_one_input_error(keypoints, tmp_path):
    """Every category with keypoints must declare the file's skeleton: a second one whose `keypoints` is null, a
    number or a string (not a list of names) is one InputError, not a TypeError from tuple()."""
    write_coco(tmp_path, "train", n=2, edit=lambda o: o["categories"].append(
        {"id": 2, "name": "other", "keypoints": keypoints}))
    with pytest.raises(InputError, match=r"categories\[\]\.keypoints"):
        pose_sets.load_people("coco", tmp_path, "train")


def test_a_folder_without_a_val_file_carves_one_by_image(tmp_path, caplog):
    write_coco(tmp_path, "train", n=20, size=48, edit=lambda o: o["annotations"].append(
        {**o["annotations"][0], "id": 99}))  # image 1 holds two people: they stay on one side
    caplog.set_level(logging.INFO)
    train, val = (pose_sets.load_people("coco", tmp_path, s) for s in ("train", "val"))
    assert len(train) + len(val) == 21 and train.carved == val.carved
    assert val.carved["images"] == 2 and val.carved["of_images"] == 20 and val.carved["seed"] == 0
    ids = {s.extras["image_id"] for s in val.samples}
    assert len(ids) == 2 and not ids & {s.extras["image_id"] for s in train.samples}  # by image
    assert [s.extras["image_id"] for s in pose_sets.load_people("coco", tmp_path, "val").samples] == \
        [s.extras["image_id"] for s in val.samples]  # seeded: the same split every time
    assert "no val file: val carved from train.json (seed 0, 2 of its 20 images" in val.summary("val")
    assert any("val carved from train.json" in r.getMessage() for r in caplog.records)
    crops = person_crops("coco", tmp_path, "val", 32)
    assert crops.carved == val.carved and len(crops) == len(val)
    write_coco(tmp_path, "val", n=2, size=48)  # a val file of its own: train is the whole train file
    assert len(pose_sets.load_people("coco", tmp_path, "train")) == 21


def test_the_new_format_trains_and_scores(hands, tmp_path, capsys):
    from convcorr_eval.tompson2015 import pose_scores
    from convcorr_jax.pose.export import model_folder
    from convcorr_jax.pose.training import loop
    from convcorr_train import pose

    root = write_hands(tmp_path / "data")
    cfg = pose.config("coco_tiny", str(tmp_path / "runs"), ["data=hands", f"data_root={root}", "steps=2,1,0"])
    assert cfg.model.num_joints == 2 and cfg.augment.flip_perm == (1, 0)  # from the kind's skeleton
    loop.train(cfg, on_stage=model_folder.write_stage)
    res = pose_scores.score_run(cfg.run_dir(), root, "val")
    assert res["data"] == "hands" and res["people"] == 3 and res["keypoints"] == ["left_hand", "right_hand"]
    assert res["normaliser"].startswith("bbox") and "oks" not in res and set(res["pck"]["0.2"]) >= {"left_hand"}
    # on the command line, in a process where the kind is not registered: one line saying how to register it, and
    # --backbone-module (was refused by `eval pose` and `train pose`) imports the file that does
    from convcorr_cli.main import main

    pose_sets.DATASETS.unregister("hands")
    scored = ["eval", "pose", "--model", str(cfg.run_dir()), "--root", str(root), "--json", str(tmp_path / "s.json")]
    assert main(scored) == 2
    assert "registered pose dataset" in (err := capsys.readouterr().err) and "--backbone-module" in err
    assert main([*scored, "--backbone-module", str(tmp_path / "hands_format.py")]) == 0
    sys.modules.pop("convcorr_user_hands_format", None)
    assert json.loads((tmp_path / "s.json").read_text())["keypoints"] == ["left_hand", "right_hand"]


def test_a_skeleton_field_the_user_set_is_kept_or_refused_never_replaced(tmp_path, capsys):
    from convcorr_cli.main import main
    from convcorr_train import pose

    root = tmp_path / "coco"
    write_coco(root, "train", n=4, size=64)  # the lamp skeleton: 5 joints, arm_left <-> arm_right
    data = [f"data_root={root}"]
    cfg = pose.config("coco_tiny", str(tmp_path / "runs"), data)  # not set: the file's skeleton
    assert (cfg.model.num_joints, cfg.augment.flip_perm) == (5, (0, 1, 3, 2, 4))
    agree = pose.config("coco_tiny", str(tmp_path / "runs"),
                        [*data, "model.num_joints=5", "augment.flip_perm=0,1,3,2,4"])
    assert agree == cfg
    for given, said in (("model.num_joints=17", "17"), ("augment.flip_perm=0,1,2,3,4", "(0, 1, 2, 3, 4)")):
        field = given.split("=")[0]
        with pytest.raises(InputError) as e:  # replaced by the skeleton's without a word before
            pose.config("coco_tiny", str(tmp_path / "runs"), [*data, given])
        msg = str(e.value)
        assert e.value.field == field and "lamp skeleton" in msg and msg.endswith(f"got {said}"), msg
        assert ("expected 5 " if field == "model.num_joints" else "expected (0, 1, 3, 2, 4) ") in msg
    assert main(["train", "pose", "--config", "flic_tiny", "--out", str(tmp_path / "runs"),
                 "--set", "model.num_joints=14"]) == 2  # FLIC's 11: one line, before any data is read
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "model.num_joints" in err and "expected 11" in err and "got 14" in err
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_coco_own_layout_without_a_val_file_trains_reports_its_split_and_scores(tmp_path, caplog):
    from convcorr_eval.tompson2015 import pose_scores
    from convcorr_jax.pose.export import model_folder
    from convcorr_jax.pose.training import loop
    from convcorr_train import pose

    root = coco_layout(tmp_path / "coco", splits=("train",), n=10)
    caplog.set_level(logging.INFO)
    cfg = pose.config("coco_tiny", str(tmp_path / "runs"), [f"data_root={root}", "steps=2,1,0"])
    assert cfg.model.num_joints == 5  # the file's own skeleton
    held_out = loop.load_data(cfg)[1]
    assert len(held_out) == 1 and held_out.carved["from"].endswith("person_keypoints_train2017.json")
    loop.train(cfg, on_stage=model_folder.write_stage)
    lines = [r.getMessage() for r in caplog.records]
    assert any("person_keypoints_train2017.json (val): 1 people" in m and "val carved from" in m for m in lines)
    res = pose_scores.score_run(cfg.run_dir(), root, "val")
    assert res["people"] == 1 and res["carved"]["images"] == 1 and res["carved"]["of_images"] == 10
    assert res["oks"]["detections"] == 1 and 0 <= res["oks"]["AP"] <= 1  # against the carved images only
    saved = json.loads((cfg.run_dir() / "config.json").read_text())
    assert saved["data"] == "coco" and saved["model"]["num_joints"] == 5
    model = json.loads((cfg.run_dir() / "model.json").read_text())  # the run is a model that says how it split
    assert model["held_out"]["images"] == 1 and model["held_out"]["from"].endswith("person_keypoints_train2017.json")
    assert "carved from train" in json.loads((cfg.run_dir() / "readout.json").read_text())["split"]


def test_person_crops_are_cut_again_from_an_image_edited_in_place(tmp_path, monkeypatch):
    """The crops cache is keyed by the image files read (size, modification time), not only by their folder: an
    image replaced under the same name is not served as its old crop."""
    monkeypatch.setenv("CONVCORR_CACHE", str(tmp_path / "cache"))
    write_coco(tmp_path / "data", "val", n=3, size=48)
    before = np.asarray(person_crops("coco", tmp_path / "data", "val", 32).arrays.images).copy()
    assert before[0].any()
    Image.fromarray(np.zeros((48, 48, 3), np.uint8)).save(tmp_path / "data" / "images" / "val_0.png")
    after = np.asarray(person_crops("coco", tmp_path / "data", "val", 32).arrays.images)
    assert not after[0].any() and np.array_equal(after[1:], before[1:])
    again = np.asarray(person_crops("coco", tmp_path / "data", "val", 32).arrays.images)
    assert np.array_equal(again, after)
    assert len(list((tmp_path / "cache" / "coco-crops").iterdir())) == 2  # one entry per version of the images


def test_one_folder_named_any_way_is_one_crops_entry(tmp_path, monkeypatch):
    """The crops cache was keyed by the image paths as the loader joined them to the root given: the same folder
    named relatively, with ./ and a trailing slash, absolutely or through a link cut its crops again into another
    entry each (minutes on a full dataset)."""
    monkeypatch.setenv("CONVCORR_CACHE", str(tmp_path / "cache"))
    root = write_coco(tmp_path / "my data" / "über", "val", n=3, size=48).parent.parent
    (tmp_path / "linked").symlink_to(root)
    monkeypatch.chdir(tmp_path)
    first = np.asarray(person_crops("coco", "my data/über", "val", 32).arrays.images).copy()
    for given in ("./my data/über/", root, "linked", tmp_path / "linked"):
        np.testing.assert_array_equal(person_crops("coco", given, "val", 32).arrays.images, first)
    assert len(list((tmp_path / "cache" / "coco-crops").iterdir())) == 1


def test_the_crops_cache_is_written_while_the_images_are_read(tmp_path, monkeypatch):
    """A split's crops go to the cache file as they are cut, a chunk at a time: the build held every crop in
    memory before writing the first (40k people at 256 px: 7.9 GB), so a full dataset's cache could not be built
    on a machine with less memory."""
    pc = importlib.import_module("convcorr_jax.pose.person_crops")
    monkeypatch.setenv("CONVCORR_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(pc, "_CHUNK", 2)
    write_coco(tmp_path / "data", "val", n=6, size=48)
    written, read = [], pc.load_image

    def load(path, *args, **kwargs):  # the bytes of crops in the cache's images.npy when each image is read
        written.append(sum(f.stat().st_size for f in (tmp_path / "cache").rglob("images.npy")))
        return read(path, *args, **kwargs)

    monkeypatch.setattr(pc, "load_image", load)
    crops = person_crops("coco", tmp_path / "data", "val", 64)
    assert len(written) == 6 and written[0] < 2 * 64 * 64 * 3 <= written[2] < 4 * 64 * 64 * 3 <= written[4]
    people = pose_data.person_set("coco", tmp_path / "data", "val")
    np.testing.assert_array_equal(crops.arrays.images, pc.crop_images(people.samples, crops.affine, 64))


def test_person_points_are_the_crops_points_and_read_no_image(tmp_path, monkeypatch):
    """`person_points` gives the crops' "points" and "visible" (equal arrays) from the annotations alone: a
    split's mean pose (`eval pose`'s baseline) no longer cuts every image of the split into the crops cache."""
    pc = importlib.import_module("convcorr_jax.pose.person_crops")
    monkeypatch.setenv("CONVCORR_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "data"
    write_coco(root, "train", n=4, size=48, edit=lambda o: o["annotations"][1]["keypoints"].__setitem__(
        slice(6, 9), [0.0, 0.0, 0]))  # a joint left out (v 0): NaN, so 0 and not labelled

    def no_image(*args, **kwargs):
        raise AssertionError("an image was read")

    with monkeypatch.context() as m:
        for module, name in ((pc, "load_image"), (sys.modules["convcorr_jax.data.types"], "load_image"),
                             (Image, "open")):
            m.setattr(module, name, no_image)
        pts, visible = pc.person_points("coco", root, "train", 32)
    assert not (tmp_path / "cache").exists()  # nothing cut, nothing cached
    assert (~visible).sum() == 1 and np.all(pts[~visible] == 0)  # (a carved val split holds one of the 4)
    synthetic = {"n_samples": 8, "seed": 0, "input_size": 32}  # their own inputs: the loader's images, no crops
    for kind, where, scale, opts in (("coco", root, 1.25, {}), ("synthetic", None, 1.0, synthetic)):
        pts, visible = pc.person_points(kind, where, "train", 32, scale, **opts)
        crops = person_crops(kind, where, "train", 32, scale, **opts).arrays
        assert (pts.dtype, visible.dtype) == (crops.points.dtype, crops.visible.dtype) == (np.float32, bool)
        assert np.array_equal(pts, crops.points) and np.array_equal(visible, crops.visible), kind
    with pytest.raises(InputError, match="protocol"):
        pc.person_points("coco", root, "train", 32, protocol="frame")


def test_eval_pose_takes_the_mean_pose_without_the_train_crops(hands, tmp_path, monkeypatch, write_pose_run):
    """`score_run` cut the train split's crops (COCO train: 150k crops) only to average their points: it now
    builds the crops of the scored split alone, and its mean pose row is the one the train crops gave."""
    from convcorr_eval.tompson2015 import pose_scores
    from convcorr_train import pose

    pc = importlib.import_module("convcorr_jax.pose.person_crops")
    monkeypatch.setenv("CONVCORR_CACHE", str(tmp_path / "cache"))
    root = write_hands(tmp_path / "data", n_train=5, n_val=3, size=48)
    rows = (root / "train.csv").read_text().splitlines()
    (root / "train.csv").write_text("\n".join([*rows[:1], rows[1].rsplit(",", 1)[0] + ",nan", *rows[2:]]))
    run = write_pose_run(cfg := pose.config("coco_tiny", str(tmp_path / "runs"), ["data=hands", f"data_root={root}"]))
    built, crops = [], pc.person_crops

    def counted(kind, root, split, *args, **kwargs):
        built.append(split)
        return crops(kind, root, split, *args, **kwargs)

    monkeypatch.setattr(pc, "person_crops", counted)
    res = pose_scores.score_run(run, root, "val")
    assert built == ["val"]
    train, val = (pose_scores.crops_of(cfg, root, split).arrays for split in ("train", "val"))
    assert not train.visible[1, 1]  # the right hand left out: not in its mean
    scored = val.visible & np.isfinite(val.norm)[:, None]
    want = pose_scores.pck_columns(pose_scores.mean_pose(train.points, train.visible, len(val)), val.points, scored,
                                   np.asarray(val.norm, np.float64), pose_sets.skeleton("hands", root))
    assert json.dumps(res["models"]["mean_pose"]) == json.dumps(want)


@pytest.mark.parametrize("wrap", [lambda f: f, functools.partial], ids=["function", "partial"])
def test_a_loader_in_a_script_keys_the_crops_by_its_source(tmp_path, monkeypatch, wrap):
    """A kind whose loader is defined in a script run as `__main__` (or a notebook cell: a module the cache cannot
    import) keys its crops by the loader's source: a loader edited between two runs on the same files served the
    crops of its first version (here, the hands read in the other order)."""
    monkeypatch.setenv("CONVCORR_CACHE", str(tmp_path / "cache"))
    root = write_hands(tmp_path / "data", n_train=2, n_val=2, size=48)
    script = tmp_path / "my_script.py"

    def val_points(source: str) -> np.ndarray:
        script.write_text(source)
        namespace = {"__name__": "no_such_module_but_a_script"}  # as __main__: find_spec cannot read it
        exec(compile(source, str(script), "exec"), namespace)
        entry = pose_sets.DATASETS["hands"]
        pose_sets.DATASETS.register("hands", dataclasses.replace(entry, people=wrap(entry.people)), replace=True)
        return np.asarray(person_crops("hands", root, "val", 32).arrays.points).copy()

    try:
        first = val_points(HANDS_FORMAT)
        edited = val_points(HANDS_FORMAT.replace(".reshape(2, 2)", ".reshape(2, 2)[::-1]"))
        np.testing.assert_array_equal(edited, first[:, ::-1])
        np.testing.assert_array_equal(val_points(HANDS_FORMAT), first)  # the first version's entry again
    finally:
        pose_sets.DATASETS.unregister("hands")


# The project's modules that the crops' modules import but that change no crop (pixels, points, boxes): error
# messages, name registries, file writing, thread pools, the cache itself, progress lines, and the synthetic people
# (their own inputs: never cached), the loaders' stops (interrupt), the sharing of the warnings filters between
# threads (shared_swap, under `data.types.relay_pil_warnings`) and the skeletons' field checks (skeleton_checks: they
# refuse a skeleton or pass it as it is). Any other module a keyed module imports must be keyed.
_NOT_CROP_CONTENT = {"convcorr_jax.core.errors", "convcorr_jax.core.registry", "convcorr_jax.core.io",
                     "convcorr_jax.core.parallel", "convcorr_jax.core.cache", "convcorr_jax.core.progress",
                     "convcorr_jax.core.interrupt", "convcorr_jax.core.shared_swap", "convcorr_jax.data.synthetic",
                     "convcorr_jax.data.skeleton_checks"}


def _run_time_nodes(tree):
    """Every node of `tree` except those under `if TYPE_CHECKING:` (imports for the type checker only, never run)."""
    import ast

    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            todo.extend(node.orelse)
        else:
            todo.extend(ast.iter_child_nodes(node))


def _project_imports(name: str) -> set[str]:
    """The convcorr_jax modules (a submodule where `from package import submodule` names one) module `name` imports
    when it runs, at its top or inside its functions (not those imported for the type checker only)."""
    import ast
    import importlib.util

    found = set()
    for node in _run_time_nodes(ast.parse(Path(importlib.util.find_spec(name).origin).read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("convcorr_jax"):
            found |= {f"{node.module}.{a.name}" if _is_module(f"{node.module}.{a.name}") else node.module
                      for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("convcorr_jax")}
    return found


def _is_module(name: str) -> bool:
    """Whether `name` is an importable module (not a name defined in one)."""
    import importlib.util

    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def test_the_crops_cache_is_keyed_by_the_crop_geometry_its_modules_use():
    """Every module of the project the crops' modules import (and those import in turn) that changes the crops is
    part of their cache key: the crop geometry (`core.crop_geometry`, was not: a change to it served the crops cut
    before), `data.types` (load_image: the pixels) and `data._common` (the annotations' parsing, the points' boxes),
    as `core.geometry` is; the modules that change no crop (`_NOT_CROP_CONTENT`) are not, so that an edit to them
    does not rebuild every crop."""
    from convcorr_jax.pose import person_crops as pc

    keyed, seen, todo = set(pc._CODE), set(), [*pc._CODE, pc.__name__]
    while todo:
        name = todo.pop()
        for m in _project_imports(name) - seen - _NOT_CROP_CONTENT:
            seen.add(m)
            todo.append(m)
    assert {"convcorr_jax.core.crop_geometry", "convcorr_jax.data.types", "convcorr_jax.data._common"} <= seen
    assert seen <= keyed, sorted(seen - keyed)
    assert not keyed & _NOT_CROP_CONTENT


def test_every_named_config_builds_from_the_command_line(tmp_path):
    """`convcorr train pose --config lsp` was a KeyError traceback: the LSP loader's options val_images and
    test_images have no TrainConfig field, and `loader_options` looked every option up among the fields."""
    from convcorr_train import pose, pose_configs
    from convcorr_jax.pose.person_crops import loader_options

    for name in pose_configs.NAMES:
        cfg = pose.config(name, str(tmp_path / "runs"))
        assert cfg.name == f"pose_{name}" and cfg.model.num_joints == len(cfg.augment.flip_perm)
    lsp_cfg = pose.config("lsp", str(tmp_path / "runs"), ["train_images=3000", "test_images=1000"])
    assert loader_options("lsp", lsp_cfg) == {"train_images": 3000, "test_images": 1000}
    unpinned = pose.config("lsp", str(tmp_path / "runs"), ["train_images=3000"])
    assert lsp_cfg.settings_digest() == unpinned.settings_digest()  # the test part does not change the training
    assert lsp_cfg.model.num_joints == joints.joint_set("lsp").num_joints


def test_person_crops_of_people_whose_images_are_in_memory(tmp_path, monkeypatch):
    """People given with their images loaded and no image file (`image_path` None) are cropped like the same people
    read from files: the crops' cache key took the folder of the first image's path, a TypeError (Path(None))."""
    pc = importlib.import_module("convcorr_jax.pose.person_crops")
    monkeypatch.setenv("CONVCORR_CACHE", str(tmp_path / "cache"))
    write_coco(tmp_path / "data", "val", n=3, size=48)
    from_files = np.asarray(person_crops("coco", tmp_path / "data", "val", 32).arrays.images).copy()
    people = pose_data.person_set("coco", tmp_path / "data", "val")
    in_memory = dataclasses.replace(people, samples=[dataclasses.replace(s, image=pc.load_image(s.image_path),
                                                                         image_path=None) for s in people.samples])
    crops = person_crops("coco", tmp_path / "data", "val", 32, people=in_memory)
    np.testing.assert_array_equal(crops.arrays.images, from_files)
