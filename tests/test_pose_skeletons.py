"""Skeletons as data (`data.skeletons`), the pose dataset loaders behind one interface (`data.pose_sets`: COCO-format
folders with a skeleton the project has no entry for, LSP / LSPET, MPII's annotations), their refusals, and the
spatial model on a non-FLIC skeleton against brute-force tree inference."""

from __future__ import annotations

import json
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image
from test_spatial import _brute_force

from convcorr_jax.data import keypoint_sides, pose_sets, skeletons
from convcorr_jax.data.skeletons import from_coco_category
from convcorr_jax.core.errors import InputError
from convcorr_jax.pose import joints
from convcorr_jax.pose import spatial as spatial_mrf

# a skeleton the project has no entry for: 5 keypoints, no torso ends, no head segment
CAT = {"id": 1, "name": "lamp", "keypoints": ["base", "joint", "arm_left", "arm_right", "bulb"],
       "skeleton": [[1, 2], [2, 3], [2, 4], [2, 5]]}


def write_coco(root: Path, split: str = "train", n: int = 3, cat: dict | None = None, size: int = 40,
               edit=None) -> Path:
    """A COCO-format folder: n images (size px, one person each) and annotations/<split>.json; `edit(obj)` changes
    the parsed file before it is written."""
    cat = json.loads(json.dumps(cat or CAT))  # a copy: `edit` may change it
    k = len(cat["keypoints"])
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(n)
    images, anns = [], []
    for i in range(n):
        name = f"{split}_{i}.png"
        Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(root / "images" / name)
        pts = rng.uniform(5, size - 5, (k, 2))
        v = np.full(k, 2)
        v[0] = 1 if i % 2 else 2
        kp = [float(x) for p, vis in zip(pts, v) for x in (*p, vis)]
        images.append({"id": i + 1, "file_name": name, "width": size, "height": size})
        anns.append({"id": i + 1, "image_id": i + 1, "category_id": cat["id"], "keypoints": kp,
                     "num_keypoints": k, "bbox": [2.0, 3.0, 30.0, 20.0 + i], "area": 600.0, "iscrowd": 0})
    obj = {"images": images, "annotations": anns, "categories": [cat]}
    if edit is not None:
        edit(obj)
    path = root / "annotations" / f"{split}.json"
    path.write_text(json.dumps(obj))
    return path


def test_registry_entries_and_flic_mpii_lsp_joint_sets_unchanged():
    assert set(skeletons.SKELETONS) == {"flic", "mpii", "lsp", "coco17", "person", "face68"}
    for sk in skeletons.SKELETONS.values():
        assert sk.validate(sk.name) is sk
        assert sorted(sk.flip) == list(range(sk.num_joints)) and all(sk.flip[sk.flip[j]] == j for j in sk.flip)
        tree = sk.spatial_tree()
        spatial_mrf.tree_structure(tree, sk.num_joints + 1)  # a tree over the joints and the torso point
        assert len(tree) == sk.num_joints
    # the joint sets that FLIC, MPII and LSP had before the registry, literally
    assert joints.FLIC.flip == (3, 4, 5, 0, 1, 2, 7, 6, 9, 8, 10) and joints.FLIC.left == (0, 1, 2, 6, 8)
    assert joints.MPII.flip == (5, 4, 3, 2, 1, 0, 6, 7, 8, 9, 15, 14, 13, 12, 11, 10)
    assert joints.MPII.left == (3, 4, 5, 13, 14, 15) and joints.LSP.left == (3, 4, 5, 9, 10, 11)
    assert joints.LSP.flip == (5, 4, 3, 2, 1, 0, 11, 10, 9, 8, 7, 6, 12, 13)
    assert spatial_mrf.FLIC_EDGES == ((11, 0), (0, 1), (1, 2), (11, 3), (3, 4), (4, 5), (11, 6), (11, 7), (11, 10),
                                      (10, 8), (10, 9))
    coco = skeletons.get("coco17")
    assert [coco.names[a] for a, b in coco.flip_pairs] == [n for n in coco.names if n.startswith("left_")]
    assert coco.sigmas[0] == pytest.approx(0.026) and len(coco.links) == 19
    with pytest.raises(InputError, match="name"):
        skeletons.get("cats")


def test_normaliser_of_every_skeleton_by_hand():
    boxes = np.array([[10.0, 20.0, 40.0, 100.0]])  # 30 wide, 80 tall
    for sk in skeletons.SKELETONS.values():
        pts = np.zeros((1, sk.num_joints, 2))
        lab = np.ones((1, sk.num_joints), bool)
        if sk.normaliser == "bbox":
            want = 80.0
        else:
            a, b = getattr(sk, sk.normaliser)
            pts[0, a], pts[0, b] = (3.0, 4.0), (6.0, 8.0)  # 3-4-5
            want = 5.0
        assert sk.normaliser_lengths(pts, lab, boxes)[0] == pytest.approx(want), sk.name
    flic, mpii, lsp, coco = (skeletons.get(n) for n in ("flic", "mpii", "lsp", "coco17"))
    assert (flic.normaliser, flic.names[flic.torso[0]], flic.names[flic.torso[1]]) == ("torso", "lsho", "rhip")
    assert (mpii.normaliser, mpii.names[mpii.head[0]], mpii.names[mpii.head[1]]) == ("head", "upper neck",
                                                                                     "head top")
    assert lsp.normaliser == "bbox" and [lsp.names[j] for j in lsp.head] == ["neck", "head top"]
    assert coco.normaliser == "bbox" and coco.normaliser_name() == "bbox (the person box's longer side)"
    # a torso end unlabelled: NaN (not scored), never another normaliser
    lab = np.ones((1, 11), bool)
    lab[0, 7] = False
    assert np.isnan(flic.normaliser_lengths(np.zeros((1, 11, 2)), lab)[0])
    pts = np.zeros((1, 14, 2))
    pts[0, 12], pts[0, 13] = (0, 0), (0, 7)
    assert lsp.head_lengths(pts, np.ones((1, 14), bool))[0] == pytest.approx(7.0)
    assert coco.head_lengths(np.zeros((1, 17, 2)), np.ones((1, 17), bool)) is None


def test_a_degenerate_normaliser_leaves_the_person_out_of_pck():
    """A torso with both ends on one pixel, or a person box of no extent, gives no normaliser (NaN): the person is
    left out of PCK (`metrics.pck_hits` refuses a zero norm) rather than scored a miss or stopping the evaluation;
    MPII's stored head size likewise."""
    from types import SimpleNamespace

    from convcorr_jax.core import metrics
    from convcorr_jax.data import mpii_people

    flic, lsp = skeletons.get("flic"), skeletons.get("lsp")
    pts = np.zeros((2, 11, 2))
    pts[0, flic.torso[1]] = (30.0, 40.0)  # person 0: torso 50 px; person 1: both ends at (0, 0)
    torso = flic.normaliser_lengths(pts, np.ones((2, 11), bool))
    assert torso[0] == pytest.approx(50.0) and np.isnan(torso[1])
    hits = metrics.pck_hits(pts, pts, None, torso, 0.1)
    assert (hits[0] == 1.0).all() and np.isnan(hits[1]).all()
    boxes = np.array([[0, 0, 10, 20], [5, 5, 5, 5], [5, 5, 4, 4]], float)
    box_norm = lsp.normaliser_lengths(np.zeros((3, 14, 2)), np.ones((3, 14), bool), boxes)
    assert box_norm[0] == 20 and np.isnan(box_norm[1:]).all()
    people = SimpleNamespace(samples=[SimpleNamespace(extras={"center": np.array([50.0, 50.0]), "scale": 1.0,
                                                              "head_size": h}) for h in (20.0, 0.0)])
    heads = mpii_people._mpii_inputs(people, 64).norm
    assert heads[0] > 0 and np.isnan(heads[1])


def test_a_coco_category_gives_a_new_skeleton_without_code():
    sk = from_coco_category(CAT, "f.json")
    assert sk.name == "lamp" and sk.num_joints == 5 and sk.links == ((0, 1), (1, 2), (1, 3), (1, 4))
    assert sk.flip_pairs == ((2, 3),) and sk.flip == (0, 1, 3, 2, 4)  # arm_left <-> arm_right from the names
    assert sk.normaliser == "bbox" and sk.torso is None and sk.head is None
    assert dict(sk.column_groups) == {n: (i,) for i, n in enumerate(CAT["keypoints"])}
    # the torso point joins the joint with the most links (joint), then breadth-first over the links
    assert sk.spatial_tree() == ((5, 1), (1, 0), (1, 2), (1, 3), (1, 4))
    rich = from_coco_category({**CAT, "torso": ["base", "bulb"], "flip_pairs": [[3, 4]], "sigmas": [0.1] * 5,
                               "groups": {"Arms": ["arm_left", "arm_right"]}}, "f.json")
    assert rich.normaliser == "torso" and rich.torso == (0, 4) and rich.flip_pairs == ((2, 3),)
    assert dict(rich.groups) == {"Arms": (2, 3)} and rich.sigmas == (0.1,) * 5
    # COCO-17's names: the registered skeleton
    coco = {"id": 1, "keypoints": list(skeletons.COCO17_NAMES), "skeleton": [list(p) for p in
                                                                           skeletons.COCO17_LINKS_1BASED]}
    assert from_coco_category(coco, "f.json") is skeletons.COCO17
    assert keypoint_sides.name_flip_pairs(["lsho", "rsho", "l_knee", "r_knee", "nose"]) == ((0, 1), (2, 3))


@pytest.mark.parametrize("field, value, match", [
    ("skeleton", [[1, 9]], r"f.json: field 'categories\[\].skeleton'"),
    ("skeleton", [[1, 2], [3, 3]], r"f.json: field 'categories\[\].skeleton': expected two different joints"),
    ("flip_pairs", [["arm_left", "tail"]], r"f.json: field 'categories\[\].flip_pairs'"),
    ("keypoints", [], r"categories\[\].keypoints"),
    ("torso", ["base"], r"categories\[\].torso"),
    ("sigmas", [0.1, 0.1], r"categories\[\].sigmas"),
])
def test_bad_skeletons_are_refused_naming_file_and_field(field, value, match):
    with pytest.raises(InputError, match=match) as e:
        from_coco_category({**CAT, field: value}, "f.json")
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("fields, field", [
    ({"links": ((0, 1, 2),)}, "links"),
    ({"links": ((0,),)}, "links"),
    ({"links": ((1, 1),)}, "links"),
    ({"links": (1, 2)}, "links"),
    ({"flip_pairs": ((0, 1, 2),)}, "flip_pairs"),
    ({"flip_pairs": ((0,),)}, "flip_pairs"),
    ({"flip_pairs": ((2, 2),)}, "flip_pairs"),
    ({"normaliser": "torso", "torso": (0, 1, 2)}, "torso"),
    ({"normaliser": "head", "head": (0,)}, "head"),
])
def test_links_flip_pairs_and_ends_must_be_two_different_joints(fields, field):
    with pytest.raises(InputError, match=f"skeleton t: field '{field}'"):
        skeletons.Skeleton("t", ("a", "b", "c"), **{"links": ((0, 1),), **fields})


@pytest.mark.parametrize("fields, field", [
    ({"links": 5}, "links"),  # each of these four was a TypeError ("'int' object is not iterable")
    ({"flip_pairs": 5}, "flip_pairs"),
    ({"tree": 5}, "tree"),
    ({"groups": {"G": 5}}, "groups.G"),
    ({"groups": 5}, "groups"),  # an AttributeError
    ({"tree": ((1.5, 2),)}, "tree"),  # these three were accepted
    ({"tree": ((0, 1, 2),)}, "tree"),
    ({"tree": ((3, 3),)}, "tree"),
    ({"tree": (("a", "b"),)}, "tree"),  # a TypeError comparing "a" with 0
    ({"tree": ((0, 4),)}, "tree"),
])
def test_links_flip_pairs_tree_and_groups_must_be_sequences_of_ids(fields, field):
    """Links, flip pairs and the tree are sequences of pairs of two ints (the tree's nodes 0..K, K the torso point),
    groups a mapping of joint id sequences: anything else is one InputError naming the field."""
    with pytest.raises(InputError, match=f"skeleton t: field '{field}'") as e:
        skeletons.Skeleton("t", ("a", "b", "c"), **{"links": ((0, 1),), **fields})
    assert e.value.field == field and "\n" not in str(e.value)
    assert skeletons.Skeleton("t", ("a", "b", "c"), ((0, 1),), tree=((3, 0), (0, 1), (3, 2))).tree is not None


@pytest.mark.parametrize("fields, field", [
    ({"links": ((True, 2),)}, "links"),  # True == 1 in Python: each of these was taken as joint 1 (or 0)
    ({"flip_pairs": ((2, True),)}, "flip_pairs"),
    ({"tree": ((3, True),)}, "tree"),
    ({"normaliser": "torso", "torso": (0, True)}, "torso"),
    ({"head": (True, 2)}, "head"),
    ({"groups": {"G": (0, True)}}, "groups.G"),
])
def test_joint_ids_are_not_bools(fields, field):
    with pytest.raises(InputError, match=f"skeleton t: field '{field}': expected .* ids .*got True") as e:
        skeletons.Skeleton("t", ("a", "b", "c"), **{"links": ((0, 1),), **fields})
    assert e.value.field == field


def test_coco_category_joint_ids_are_not_bools():
    """JSON's true was read as the 1-based id 1."""
    with pytest.raises(InputError, match=r"f.json: field 'categories\[\].skeleton': .*1-based id 1..5, got True"):
        from_coco_category({**CAT, "skeleton": [[True, 2]]}, "f.json")


def test_each_skeleton_error_names_the_field_the_user_wrote():
    """A Skeleton(...) names its own argument `links` (it named COCO's word "skeleton"); a COCO category its key
    `skeleton`, for the names of a registered skeleton too (that error named "skeleton coco17", not the file)."""
    with pytest.raises(InputError) as e:
        skeletons.Skeleton("t", ("a", "b", "c"), ((0, 0),))
    assert str(e.value) == "skeleton t: field 'links': expected two different joints, got (0, 0)"
    with pytest.raises(InputError) as e:
        from_coco_category({"keypoints": list(skeletons.COCO17_NAMES), "skeleton": [[3, 3]]}, "f.json")
    assert str(e.value) == "f.json: field 'categories[].skeleton': expected two different joints, got (2, 2)"


@pytest.mark.parametrize("names, expected, got", [
    ([0, 1, 2], "a list of keypoint names (non-blank strings)", "0"),  # these six were accepted
    ((0, 1, 2), "a list of keypoint names (non-blank strings)", "0"),
    (("a", "", "c"), "a list of keypoint names (non-blank strings)", "''"),
    (("a", " ", "c"), "a list of keypoint names (non-blank strings)", "' '"),
    ((b"a", "b", "c"), "a list of keypoint names (non-blank strings)", "b'a'"),
    ("abc", "a list of keypoint names (strings)", "abc"),
    (None, "a list of keypoint names (strings)", None),  # a TypeError from enumerate(None)
    (("a", "b", "a"), "distinct keypoint names", "['a', 'b', 'a']"),  # refused before, as field 'keypoints'
    ((), "at least one keypoint name", "0"),
])
def test_keypoint_names_must_be_distinct_non_blank_strings(names, expected, got):
    with pytest.raises(InputError) as e:
        skeletons.Skeleton("t", names, ((0, 1),))
    assert e.value.field == "names" and str(e.value) == (f"skeleton t: field 'names': expected {expected}"
                                                         + ("" if got is None else f", got {got}"))


@pytest.mark.parametrize("fields, field, expected", [
    ({"name": 3}, "name", "a non-blank string, got 3"),  # these five were accepted
    ({"name": " "}, "name", "a non-blank string, got ' '"),
    ({"title": None}, "title", "a string, got None"),
    ({"groups": {1: (0,)}}, "groups", "column names that are non-blank strings, got 1"),
    ({"groups": {"": (0,)}}, "groups", "column names that are non-blank strings, got ''"),
])
def test_skeleton_name_title_and_group_names_are_strings(fields, field, expected):
    with pytest.raises(InputError) as e:
        skeletons.Skeleton(**{"name": "t", "names": ("a", "b", "c"), "links": ((0, 1),), **fields})
    assert e.value.field == field and str(e.value).endswith(f"field '{field}': expected {expected}")


@pytest.mark.parametrize("edit, field, expected", [
    ({"name": 5}, "name", "a non-blank string, got 5"),  # str() made each of these four a name: "5", "None", ...
    ({"name": None}, "name", "a non-blank string, got None"),
    ({"name": ["lamp"]}, "name", "a non-blank string, got ['lamp']"),
    ({"groups": {1: ["base"]}}, "groups", "column names that are non-blank strings, got 1"),
    ({"name": ""}, "name", "a non-blank string, got ''"),  # this one was accepted as it was
])
def test_coco_category_name_and_group_names_are_not_converted_to_text(edit, field, expected):
    with pytest.raises(InputError) as e:
        from_coco_category({**CAT, **edit}, "f.json")
    assert str(e.value) == f"f.json: field 'categories[].{field}': expected {expected}"


@pytest.mark.parametrize("sigmas", [[True] * 5, ["0.1"] * 5, [0.1, 0.1, "0.1", 0.1, 0.1], "12345", {"a": 0.1}])
def test_coco_sigmas_must_be_a_list_of_numbers(sigmas):
    """float() read JSON's true as 1.0 and the strings "0.1" and "12345" as numbers: each was accepted (a mapping
    was refused already)."""
    with pytest.raises(InputError, match=r"f.json: field 'categories\[\]\.sigmas': expected a list of 5 numbers") as e:
        from_coco_category({**CAT, "sigmas": sigmas}, "f.json")
    assert "\n" not in str(e.value)
    assert from_coco_category({**CAT, "sigmas": [1, 0.5, np.float32(0.25), 1, 1]}, "f.json").sigmas == (1.0, 0.5, 0.25,
                                                                                                       1.0, 1.0)


@pytest.mark.parametrize("names", [["base", "", "bulb"], ["base", " ", "bulb"]])
def test_coco_keypoint_names_must_not_be_blank(names):
    """An empty or blank keypoint name was accepted (a table column with no heading)."""
    with pytest.raises(InputError, match=r"f.json: field 'categories\[\]\.keypoints': expected .*non-blank"):
        from_coco_category({**CAT, "keypoints": names, "skeleton": [[1, 2]]}, "f.json")


@pytest.mark.parametrize("sigmas, expected", [
    (5, "a sequence of 3 positive OKS sigmas"),  # a TypeError: object of type 'int' has no len()
    (np.float64(0.1), "a sequence of 3"),
    (np.array(0.1), "a sequence of 3"),
    ("abc", "a sequence of 3"),  # a TypeError comparing "a" with 0
    ((0.1, True, 0.1), "3 finite OKS sigmas > 0"),  # these two were accepted
    ((0.1, float("inf"), 0.1), "3 finite OKS sigmas > 0"),
    ((0.1, 0.0, 0.1), "3 finite OKS sigmas > 0"),
])
def test_sigmas_must_be_a_sequence_of_positive_numbers(sigmas, expected):
    with pytest.raises(InputError, match=f"skeleton t: field 'sigmas': expected {expected}") as e:
        skeletons.Skeleton("t", ("a", "b", "c"), ((0, 1),), sigmas=sigmas)
    assert e.value.field == "sigmas"
    assert skeletons.Skeleton("t", ("a", "b", "c"), ((0, 1),), sigmas=np.full(3, 0.1)).sigmas is not None


def test_coco_loader_on_a_file_with_a_skeleton_without_entry(tmp_path):
    write_coco(tmp_path, "train", n=3, edit=lambda o: o["annotations"].append(
        {"id": 9, "image_id": 1, "category_id": 1, "keypoints": [0] * 15, "num_keypoints": 0,
         "bbox": [0, 0, 5, 5], "iscrowd": 0}))
    write_coco(tmp_path, "val", n=1)  # a val file of its own: train is the whole train file
    people = pose_sets.load_people("coco", tmp_path, "train")
    assert people.skeleton.name == "lamp" and len(people) == 3 and people.no_keypoints == 1
    assert "1 person(s) without labelled keypoints left out" in people.summary("train")
    s = people.samples[1]
    obj = json.loads((tmp_path / "annotations" / "train.json").read_text())
    kp = np.asarray(obj["annotations"][1]["keypoints"]).reshape(5, 3)
    np.testing.assert_allclose(s.points, kp[:, :2], rtol=1e-6)
    assert s.visible.tolist() == [False, True, True, True, True] and s.extras["labelled"].all()
    np.testing.assert_allclose(people.boxes[1], [2, 3, 32, 24])  # x, y, w, h -> x0, y0, x1, y1
    assert people.skeleton.normaliser_lengths(np.zeros((1, 5, 2)), np.ones((1, 5), bool), people.boxes[1:2])[0] == 30


def test_coco_crowd_and_other_category_annotations_are_counted_and_unknown_categories_refused(tmp_path, caplog):
    import logging

    from convcorr_jax.pose.person_crops import person_set

    def edit(o):  # dropped without a count before
        o["categories"].append({"id": 7, "name": "car"})  # a category without keypoints
        o["annotations"][0]["iscrowd"] = 1
        o["annotations"][1]["category_id"] = 7
        o["annotations"][2].update(category_id=7, iscrowd=1)

    write_coco(tmp_path, "train", n=5, edit=edit)
    write_coco(tmp_path, "val", n=1)
    people = pose_sets.load_people("coco", tmp_path, "train")
    assert len(people) == 2 and dict(people.left_out) == {"crowd": 1, "other-category": 2}
    line = people.summary("train")
    assert "; 1 crowd annotation(s) left out; 2 other-category annotation(s) left out" in line
    caplog.set_level(logging.INFO)
    person_set("coco", tmp_path, "train")  # the one summary line on the progress log
    assert any("1 crowd annotation(s) left out" in r.getMessage() for r in caplog.records)
    ann = str(tmp_path / "annotations" / "train.json")
    write_coco(tmp_path, "train", n=5, edit=lambda o: o["annotations"][3].update(category_id=99))
    with pytest.raises(InputError) as e:  # read as another category (silently dropped) before
        pose_sets.load_people("coco", tmp_path, "train")
    msg = str(e.value)
    assert msg.startswith(ann) and "annotations[3].category_id" in msg and "annotation id 4" in msg, msg
    assert msg.endswith("got 99") and "\n" not in msg
    write_coco(tmp_path, "train", n=3, edit=lambda o: o["annotations"].append("person"))
    with pytest.raises(InputError, match=r"train.json: field 'annotations\[3\]': expected an object"):
        pose_sets.load_people("coco", tmp_path, "train")
    write_coco(tmp_path, "train", n=2, edit=lambda o: [a.update(iscrowd=1) for a in o["annotations"]])
    with pytest.raises(InputError, match=r"\(0 without any, 2 crowd, 0 of another category\)"):
        pose_sets.load_people("coco", tmp_path, "train")


def _bad(field_edit, tmp_path, split="train"):
    write_coco(tmp_path, split, edit=field_edit)
    with pytest.raises(InputError) as e:
        pose_sets.load_people("coco", tmp_path, split)
    assert "\n" not in str(e.value)
    return str(e.value)


def test_every_bad_coco_input_is_one_line_naming_file_and_field(tmp_path):
    ann = str(tmp_path / "annotations" / "train.json")

    def kp_count(o):
        o["annotations"][0]["keypoints"] = o["annotations"][0]["keypoints"][:12]

    msg = _bad(kp_count, tmp_path)
    assert msg.startswith(ann) and "annotations[0].keypoints" in msg and "15 numbers" in msg
    msg = _bad(lambda o: o["annotations"][1].pop("bbox"), tmp_path)
    assert msg.startswith(ann) and "annotations[1].bbox" in msg
    msg = _bad(lambda o: o["annotations"][1].pop("keypoints"), tmp_path)
    assert msg.startswith(ann) and "annotations[1].keypoints" in msg and msg.endswith("got missing")
    msg = _bad(lambda o: o["annotations"][1].update(keypoints=None), tmp_path)
    assert msg.startswith(ann) and "annotations[1].keypoints" in msg and msg.endswith("got None")
    msg = _bad(lambda o: o["images"][0].update(file_name="gone.png"), tmp_path)
    assert "gone.png" in msg and "images[0].file_name" in msg
    msg = _bad(lambda o: o["categories"][0].update(skeleton=[[1, 7]]), tmp_path)
    assert msg.startswith(ann) and "categories[].skeleton" in msg
    msg = _bad(lambda o: o["categories"][0].update(flip_pairs=[["base", "nose"]]), tmp_path)
    assert msg.startswith(ann) and "categories[].flip_pairs" in msg and "nose" in msg
    msg = _bad(lambda o: o.update(annotations=[]), tmp_path)
    assert msg.startswith(ann) and "'annotations'" in msg

    def keypoint(j, value):  # keypoint 1 (base) of annotation 0: its x (j=0) or its v (j=2)
        def edit(o):
            o["annotations"][0]["keypoints"][3 + j] = value
        return edit

    for j, value, said in ((2, 3, "0, 1 or 2"), (2, 0.5, "0, 1 or 2"), (2, -1, "0, 1 or 2"), (2, "2", "numbers"),
                           (0, None, "numbers"), (0, True, "numbers"), (0, float("inf"), "finite x, y"),
                           (0, float("nan"), "finite x, y")):
        msg = _bad(keypoint(j, value), tmp_path)  # read silently before (NaN / inf points trained as visible)
        assert msg.startswith(ann) and "annotations[0].keypoints" in msg and said in msg, (value, msg)
    msg = _bad(lambda o: o["annotations"][0].update(area="big"), tmp_path)
    assert msg.startswith(ann) and "annotations[0].area" in msg
    msg = _bad(lambda o: o["categories"][0].update(groups={"G": 3}), tmp_path)
    assert msg.startswith(ann) and "categories[].groups.G" in msg
    (tmp_path / "annotations" / "train.json").write_text("{not json")
    with pytest.raises(InputError, match=r"train.json: field 'json'"):
        pose_sets.load_people("coco", tmp_path, "train")
    with pytest.raises(InputError, match=r"test.json: field 'file'"):
        pose_sets.load_people("coco", tmp_path, "test")
    write_coco(tmp_path, "train")
    write_coco(tmp_path, "val", n=1)
    (tmp_path / "images" / "train_2.png").write_bytes(b"not a png")
    from convcorr_jax.pose.person_crops import person_crops

    with pytest.raises(InputError, match="train_2.png") as e:  # decoding: when the crops are built, before training
        person_crops("coco", tmp_path, "train", 32)
    assert "\n" not in str(e.value)
    import shutil

    shutil.rmtree(tmp_path / "images")
    with pytest.raises(InputError, match=r"images: field 'images'.*missing folder"):
        pose_sets.load_people("coco", tmp_path, "train")


def test_spatial_model_on_a_non_flic_skeleton_matches_brute_force():
    sk = from_coco_category(CAT, "f.json")
    edges = sk.spatial_tree()  # 5 joints + the torso point: 6 nodes on a 3 x 3 grid
    rng = np.random.default_rng(7)
    for mode in ("sum", "max"):
        u = rng.normal(0, 1.5, (6, 3, 3)).astype(np.float32)
        pri = rng.normal(0, 1.5, (len(edges), 3, 3)).astype(np.float32)
        want = _brute_force(u.astype(np.float64), pri.astype(np.float64), edges, mode)
        got = np.asarray(spatial_mrf.marginals(jnp.asarray(u), jnp.asarray(pri), edges, mode))
        np.testing.assert_allclose(got, want, atol=2e-4)
    cfg = spatial_mrf.for_skeleton(sk)
    assert cfg.edges == edges and cfg.mode == spatial_mrf.FLIC_VALIDATED.mode
    pts = rng.uniform(0, 63, (20, 5, 2)).astype(np.float32)
    pri = spatial_mrf.learn_priors(pts, np.ones((20, 5), bool), np.full((20, 2), 32.0, np.float32), 8, cfg, 8)
    assert pri.shape == (5, 15, 15) and np.all(np.isfinite(pri))


def test_lsp_and_lspet_loaders_on_the_real_files(real_data):
    lsp_mat = real_data / "lsp" / "joints.mat"
    lspet = real_data / "lspet"
    if not lsp_mat.is_file() or not (lspet / "images").is_dir():
        pytest.skip(f"LSP joints.mat or LSPET images/ not found under the real data folder {real_data}")
    with pytest.raises(InputError, match=r"lsp/images: field 'images'.*missing folder"):
        pose_sets.load_people("lsp", real_data / "lsp", "train")  # LSP's annotations without its images
    n_images = len(list((lspet / "images").glob("im*.jpg")))  # 6,000 here (SOURCES.md); a user's copy: 10,000
    test = pose_sets.load_people("lsp", lspet, "test", train_images=3000)
    assert len(test) == n_images - 3000 and test.skeleton is skeletons.LSP and test.no_keypoints == 0
    assert Path(test.samples[0].image_path).name == "im03001.jpg" and test.samples[0].extras["index"] == 3000
    w, h = Image.open(test.samples[0].image_path).size
    np.testing.assert_allclose(test.boxes[0], [0, 0, w - 1, h - 1])  # the whole image
    val = pose_sets.load_people("lsp", lspet, "val", train_images=3000)
    train = pose_sets.load_people("lsp", lspet, "train", train_images=3000)
    ids = {s.extras["index"] for s in val.samples} | {s.extras["index"] for s in train.samples}
    assert len(val) == 450 and len(train) == 2550 and ids == set(range(3000))
    s = test.samples[0]
    lab = s.extras["labelled"]
    box = test.norm_boxes[0]
    assert np.allclose(box, [np.nanmin(s.points[lab, 0]), np.nanmin(s.points[lab, 1]), np.nanmax(s.points[lab, 0]),
                             np.nanmax(s.points[lab, 1])])
    pinned = pose_sets.load_people("lsp", lspet, "test", train_images=3000, test_images=1000)  # the published part
    assert [s.extras["index"] for s in pinned.samples] == list(range(3000, 4000))  # im03001-im04000, whatever n
    with pytest.raises(InputError, match="field 'test_images'"):
        pose_sets.load_people("lsp", lspet, "test", train_images=3000, test_images=n_images)
    with pytest.raises(InputError, match="train_images"):
        pose_sets.load_people("lsp", lspet, "test", train_images=n_images + 1)
    with pytest.raises(InputError, match="split"):
        pose_sets.load_people("lsp", lspet, "test")  # LSPET's standard: every image present trains


def test_mpii_skeleton_on_the_real_annotations(real_data):
    from convcorr_jax.data.mpii import load_mpii_h5

    path = real_data / "mpii" / "hg_annot" / "valid.h5"
    if not path.is_file():
        pytest.skip(f"MPII valid.h5 not found under the real data folder {real_data}")
    people = load_mpii_h5(path)
    sk = skeletons.MPII
    assert people[0].names == sk.names and len(people) == 2958
    pts = np.stack([p.points for p in people])
    lab = np.stack([p.visible | np.all(np.isfinite(p.points), -1) for p in people]) & np.all(np.isfinite(pts), -1)
    seg = sk.head_lengths(np.nan_to_num(pts), lab)
    head = np.array([p.extras["head_size"] for p in people])
    ok = np.isfinite(seg)
    assert ok.mean() > 0.9 and 0.8 < np.median(seg[ok] / head[ok]) < 1.6  # the head segment ~ PCKh's head size
    left = [sk.names[a] for a, _ in sk.flip_pairs]
    assert all(n.startswith("l ") for n in left) and all(sk.names[b].startswith("r ") for _, b in sk.flip_pairs)


def test_coco_loader_on_a_real_coco_format_file(real_data, tmp_path):
    # mmpose's 300-W test file: COCO's keypoint format with 68 face landmarks and no keypoint names: refused, naming
    # the field; with names added, a skeleton the project has no entry for
    src = real_data / "300w" / "mmpose_tests"
    if not (src / "test_300w.json").is_file():
        pytest.skip(f"300w/mmpose_tests/test_300w.json not found under the real data folder {real_data}")
    (tmp_path / "annotations").mkdir()
    ann = tmp_path / "annotations" / "val.json"
    ann.write_bytes((src / "test_300w.json").read_bytes())
    (tmp_path / "images").mkdir()
    for png in src.glob("*.png"):
        (tmp_path / "images" / png.name).symlink_to(png)
    with pytest.raises(InputError, match=r"val.json: field 'categories\[\].keypoints'"):
        pose_sets.load_people("coco", tmp_path, "val")
    obj = json.loads(ann.read_text())
    obj["categories"][0]["keypoints"] = [f"p{i + 1}" for i in range(68)]
    ann.write_text(json.dumps(obj))
    people = pose_sets.load_people("coco", tmp_path, "val")
    assert len(people) == 2 and people.skeleton.num_joints == 68 and people.skeleton.normaliser == "bbox"
    a = obj["annotations"][0]
    np.testing.assert_allclose(people.samples[0].points, np.reshape(a["keypoints"], (68, 3))[:, :2], rtol=1e-6)
    x, y, w, h = a["bbox"]
    np.testing.assert_allclose(people.boxes[0], [x, y, x + w, y + h])


def test_names_pair_the_registered_skeletons_as_their_declared_flip_pairs():
    """Names alone give every registered skeleton of body joints its declared flip pairs, and MODEC's 29 FLIC slots
    their 8 (300-W's 68 point names do not give its mirror pairs: `test_300w_names_get_the_300w_mirror_pairs`)."""
    for sk in skeletons.SKELETONS.values():
        if sk is not skeletons.FACE68:
            assert keypoint_sides.name_flip_pairs(sk.names) == sk.flip_pairs, sk.name
    assert keypoint_sides.name_flip_pairs(skeletons.FLIC_JOINTS) == (
        (0, 3), (1, 4), (2, 5), (6, 9), (7, 10), (8, 11), (12, 13), (14, 15))


def test_300w_names_get_the_300w_mirror_pairs():
    """A COCO-format file with the 68 iBUG point names (`faces300w.IBUG_68_NAMES`) gets 300-W's mirror pairs (jaw
    i and 16 - i, brow 17 and 26, outer eye corners 36 and 45, mouth corners 48 and 54, ...). Its names alone paired
    right_eye_0 (the outer corner) with left_eye_0 (an inner one) and right_brow_0 with left_brow_0, and left the jaw
    and lips unpaired: a flipped face taught the wrong points."""
    from convcorr_jax.data.faces300w import IBUG_68_NAMES

    sk = from_coco_category({"id": 1, "name": "face", "keypoints": list(IBUG_68_NAMES)}, "f.json")
    flip = sk.flip
    assert all(flip[flip[j]] == j for j in range(68))
    assert [flip[j] for j in (0, 7, 17, 21, 31, 32, 36, 39, 40, 41, 48, 50, 55, 56, 60, 61, 65)] == [
        16, 9, 26, 22, 35, 34, 45, 42, 47, 46, 54, 52, 59, 58, 64, 63, 67]
    assert [j for j in range(68) if flip[j] == j] == [8, 27, 28, 29, 30, 33, 51, 57, 62, 66]
    assert all(sk.names[b].startswith(("jaw", "right", "nose", "outer", "inner")) for _, b in sk.flip_pairs)
    assert sk.left[:8] == (9, 10, 11, 12, 13, 14, 15, 16) and 45 in sk.left and 36 not in sk.left  # subject's left
    with_sigmas = from_coco_category({"id": 1, "keypoints": list(IBUG_68_NAMES), "sigmas": [0.1] * 68}, "f.json")
    assert with_sigmas.flip == flip and with_sigmas.sigmas[0] == 0.1


@pytest.mark.parametrize("name, key", [
    ("left_ear", ("l", "ear")), ("Right Ear", ("r", "ear")), ("LEFT-EYE", ("l", "eye")), ("l_eye", ("l", "eye")),
    ("eye_r", ("r", "eye")), ("l eye", ("l", "eye")), ("leftHand", ("l", "hand")), ("HandRight", ("r", "hand")),
    ("front_left_paw", ("l", "front paw")), ("frontRightPaw", ("r", "front paw")), ("RShoulder", ("r", "shoulder")),
    ("lsho", ("l", "sho")), ("REYE", ("r", "eye")), ("r ankle", ("r", "ankle")),
    # no side: a joint word that merely ends or starts with l / r, or a side glued on without a boundary
    ("shoulder", None), ("root_of_tail", None), ("tail", None), ("ear", None), ("collar", None), ("MidHip", None),
    ("leftear", None), ("rib", None), ("upper neck", None), ("mear", None), ("left_right", None),
])
def test_side_key_reads_explicit_side_words_only(name, key):
    assert keypoint_sides.side_key(name) == key


def test_custom_names_pair_by_side_word_only():
    names = ["tail", "ear", "collar", "shoulder", "left_ear", "right_ear", "l_eye", "r_eye", "lsho", "rsho",
             "hand_l", "hand_r", "leftFoot", "rightFoot", "lip", "rip", "pedal", "pedar", "neckL", "neckR"]
    assert keypoint_sides.name_flip_pairs(names) == ((4, 5), (6, 7), (8, 9), (10, 11), (12, 13), (18, 19))
    sk = from_coco_category({"id": 1, "keypoints": names}, "f.json")
    assert sk.flip[:4] == (0, 1, 2, 3) and sk.flip[14:18] == (14, 15, 16, 17)  # no side: its own mirror
    # one joint spelt twice on a side ("l_eye", "eye_l"): paired with none rather than with a guess
    assert keypoint_sides.name_flip_pairs(["l_eye", "r_eye", "eye_l", "nose"]) == ()


def test_an_mpii_file_without_people_is_one_line_naming_it(tmp_path):
    """A part with zero people (an empty valid.h5) was a numpy traceback ("need at least one array to stack")."""
    import h5py

    tails = {"center": (2,), "part": (16, 2), "visible": (16,), "normalize": (), "scale": (), "index": (),
             "person": (), "torsoangle": ()}
    with h5py.File(tmp_path / "valid.h5", "w") as f:
        for key, tail in tails.items():
            f[key] = np.zeros((0, *tail))
        f["imgname"] = np.zeros((0,), "S16")
    (tmp_path / "images").mkdir()
    with pytest.raises(InputError, match=r"valid\.h5.*at least one person"):
        pose_sets.load_people("mpii", tmp_path, "val")


def test_training_warns_when_flip_augmentation_swaps_no_point():
    """`convcorr train pose`'s warning: flip augmentation with a skeleton that swaps no point (points named without
    sides, no flip_pairs: the file's 68 "p1".. points) keeps every label in place on mirrored images."""
    import dataclasses

    from convcorr_jax.pose.training.config import TrainConfig
    from convcorr_train.pose import flip_warning

    unnamed = from_coco_category({"keypoints": [f"p{i + 1}" for i in range(68)], "skeleton": []}, "val.json")
    assert unnamed.flip == tuple(range(68))
    cfg = TrainConfig(data="coco")
    cfg = dataclasses.replace(cfg, augment=dataclasses.replace(cfg.augment, flip_perm=unnamed.flip))
    assert "swaps no left/right points" in flip_warning(cfg)
    assert flip_warning(dataclasses.replace(cfg, augment=dataclasses.replace(cfg.augment, flip=False))) is None
    assert flip_warning(TrainConfig()) is None  # MPII's 16 joints: pairs swapped


def _ann(key, value, i=0):
    return lambda o: o["annotations"][i].__setitem__(key, value)


def _image(key, value, i=0):
    return lambda o: o["images"][i].__setitem__(key, value)


def _assert_coco_refusal(tmp_path, edit, field, got) -> InputError:
    """Reading a COCO train split written with `edit` is one one-line InputError naming its file and `field`, ending
    in "got <got>" (nothing when got is None); returns it."""
    write_coco(tmp_path, "val", n=1)
    write_coco(tmp_path, "train", n=3, edit=edit)
    with pytest.raises(InputError) as e:
        pose_sets.load_people("coco", tmp_path, "train")
    ann = str(tmp_path / "annotations" / "train.json")
    assert e.value.source == ann and e.value.field == field and "\n" not in str(e.value), str(e.value)
    assert str(e.value).endswith("" if got is None else f", got {got}"), str(e.value)
    return e.value


@pytest.mark.parametrize("edit, field, got", [
    # float() read each of these three as coordinates: "2" as 2.0, true as 1.0, "1234" as [1, 2, 3, 4]
    (_ann("bbox", ["2", 3, 30, 20]), "annotations[0].bbox[0]", "'2'"),
    (_ann("bbox", [2, True, 30, 20]), "annotations[0].bbox[1]", "True"),
    (_ann("bbox", "1234"), "annotations[0].bbox", "'1234'"),
    (_ann("num_keypoints", False), "annotations[0].num_keypoints", "False"),  # pycocotools: 0, the person ignored
    (_ann("num_keypoints", "5"), "annotations[0].num_keypoints", "'5'"),
    (_ann("num_keypoints", 9), "annotations[0].num_keypoints", "9"),
    (_ann("iscrowd", "0"), "annotations[0].iscrowd", "'0'"),  # a non-empty string: a crowd, the person left out
    (_ann("iscrowd", 2), "annotations[0].iscrowd", "2"),
    (_ann("iscrowd", None), "annotations[0].iscrowd", "None"),
    (_ann("image_id", True), "annotations[0].image_id", "True"),  # true == 1: image 1's
    (_ann("image_id", 1.5), "annotations[0].image_id", "1.5"),
    (_ann("image_id", "1"), "annotations[0].image_id", "'1'"),  # refused before, as "got 1"
    (_ann("category_id", True), "annotations[0].category_id", "True"),  # true == 1: category 1's
    (_ann("id", True), "annotations[0].id", "True"),  # the sample's id "True"
    (_ann("id", None), "annotations[0].id", "None"),  # not the sample id "None"
    (_ann("id", [1]), "annotations[0].id", "[1]"),  # "[1]"
    (_ann("id", 1.5), "annotations[0].id", "1.5"),
    (_image("id", True), "images[0].id", "True"),  # matched annotations' image_id 1
    (_image("file_name", 5), "images[0].file_name", "5"),  # refused before as the annotation's image_id
    (lambda o: o["images"].append("im.png"), "images[3]", "str"),  # left out before
    (_ann("area", "600"), "annotations[0].area", "'600'"),  # refused before, as "got 600"
])
def test_coco_annotation_numbers_are_not_text_or_bools(edit, field, got, tmp_path):
    """A COCO annotation's numbers and ids as the file writes them: text and true / false are refused, naming the
    file and the field, never converted."""
    _assert_coco_refusal(tmp_path, edit, field, got)


def _category(key, value, j=0):
    return lambda o: o["categories"][j].__setitem__(key, value)


def _crowd(**fields):
    """Append a crowd annotation (annotations[3]) of image 1 with `fields` changed."""
    return lambda o: o["annotations"].append({"id": 9, "image_id": 1, "category_id": 1, "keypoints": [0] * 15,
                                              "num_keypoints": 0, "bbox": [0, 0, 9, 9], "area": 81, "iscrowd": 1,
                                              **fields})


@pytest.mark.parametrize("edit, field, got, also", [
    # true is not the id 1 (Python's True == 1), nor is 1.5
    (_category("id", True), "categories[0].id", "True", None),
    (_category("id", 1.5), "categories[0].id", "1.5", None),
    (lambda o: o["categories"][0].pop("id"), "categories[0].id", "missing", None),  # matched a missing category_id
    (_ann("category_id", 1.5), "annotations[0].category_id", "1.5", None),
    (lambda o: o["categories"].append("car"), "categories[1]", "str", None),  # skipped
    # a repeated id: the last image entry won, the categories and annotations shared it
    (_image("id", 1, 1), "images[1].id", "1", "images[0] has it"),
    (lambda o: o["categories"].append({"id": 1, "name": "car"}), "categories[1].id", "1", "categories[0] has it"),
    (_ann("id", 1, 2), "annotations[2].id", "1", "annotations[0] has it"),  # pycocotools scored [2] as [0]
    (_ann("id", "2", 0), "annotations[1].id", "2", "annotations[0] has it"),  # two samples named "2"
    (lambda o: [a.update(id=v) for a, v in zip(o["annotations"], "axx")], "annotations[2].id", "'x'",
     "annotations[1] has"),
    (_image("id", 1.0, 1), "images[1].id", "1", "images[0] has it"),  # 1.0 is the id 1
    (_ann("id", 2.0, 0), "annotations[1].id", "2", "annotations[0] has it"),
    # a list's ids of one kind: pycocotools sorts them (TypeError: '<' not supported between 'str' and 'int')
    (_image("id", "1", 1), "images[1].id", "'1'", "images[0] has it"),  # 1 and "1": unique as text
    (_image("id", "b", 1), "images[1].id", "'b'", "an integer, as images[0]'s id"),
    (lambda o: o["categories"].append({"id": "car", "name": "car"}), "categories[1].id", "'car'",
     "an integer, as categories[0]'s id"),
    (_ann("id", "b", 1), "annotations[1].id", "'b'", "an integer, as annotations[0]'s id"),
    (lambda o: [a.update(id=v) for a, v in zip(o["annotations"], ["a", 5, "c"])], "annotations[1].id", "5",
     "a string, as annotations[0]'s id"),
    (_crowd(id=True), "annotations[3].id", "True", None),  # a crowd annotation's id was not checked
    (_crowd(id=2), "annotations[3].id", "2", "annotations[1] has it"),
])
def test_coco_ids_are_integers_or_strings_and_unique(edit, field, got, also, tmp_path):
    """Image, category and annotation ids: an integer or a string (one rule for all three), 1.0 and true are not the
    id 1, and no two images, categories or annotations share one; refused naming the file, the field and the other
    entry of the id."""
    error = _assert_coco_refusal(tmp_path, edit, field, got)
    assert also is None or also in str(error), str(error)


def test_coco_ids_that_are_strings_and_whole_float_counts_are_read(tmp_path):
    """The forms COCO files do write stay accepted: string ids (matched as written), 1.0 for a count or a flag."""
    def edit(o):
        for im, a, key in zip(o["images"], o["annotations"], "abc"):
            im["id"] = a["image_id"] = key
        for a, key in zip(o["annotations"], "xyz"):
            a["id"] = key
        o["annotations"][0].update(num_keypoints=5.0, iscrowd=0.0, area=10)
        o["annotations"][1].pop("num_keypoints")
        o["categories"][0]["id"] = "lamp"
        for a in o["annotations"]:
            a["category_id"] = "lamp"
        o["categories"].append({"id": "1", "name": "car"})
        o["annotations"].append({**o["annotations"][2], "id": "w", "category_id": "1"})

    write_coco(tmp_path, "val", n=1)
    write_coco(tmp_path, "train", n=3, edit=edit)
    people = pose_sets.load_people("coco", tmp_path, "train")
    assert [s.id for s in people.samples] == ["x", "y", "z"] and people.samples[0].extras["image_id"] == "a"
    assert people.samples[0].extras["area"] == 10.0 and dict(people.left_out)["other-category"] == 1


def test_coco_whole_number_float_ids_and_true_false_iscrowd_are_read(tmp_path):
    """Converters built on pandas write ids as 1.0 (the id 1) and pycocotools reads iscrowd true / false as 1 / 0:
    a file with both reads as the same file with integers does."""
    def edit(o):
        o["categories"][0]["id"] = 1.0
        o["images"][1]["id"] = 2.0
        o["annotations"][0].update(image_id=1.0, category_id=1.0, iscrowd=False)
        o["annotations"][1].update(id=2.0, image_id=2.0)
        o["annotations"][2]["iscrowd"] = True

    write_coco(tmp_path, "val", n=1)
    write_coco(tmp_path, "train", n=3, edit=edit)
    people = pose_sets.load_people("coco", tmp_path, "train")
    assert [s.id for s in people.samples] == ["1", "2"] and dict(people.left_out) == {"crowd": 1, "other-category": 0}
    ids = [(s.extras["image_id"], s.extras["annotation_id"]) for s in people.samples]
    assert ids == [(1, 1), (2, 2)] and all(type(v) is int for pair in ids for v in pair)
    write_coco(tmp_path / "plain", "val", n=1)
    write_coco(tmp_path / "plain", "train", n=3, edit=lambda o: o["annotations"][2].update(iscrowd=1))
    plain = pose_sets.load_people("coco", tmp_path / "plain", "train")
    assert [s.id for s in plain.samples] == ["1", "2"] and dict(plain.left_out) == dict(people.left_out)
    np.testing.assert_array_equal(plain.boxes, people.boxes)


@pytest.mark.parametrize("ids, names", [
    ([1, None, 7], ["1", "8", "7"]),  # annotations[1] was named by its position, "1": annotations[0]'s id
    ([None, "0", None], ["3", "0", "2"]),  # annotations[0] was "0", annotations[1]'s id "0" (text names the sample)
    ([None, None, None], ["0", "1", "2"]),  # a file without ids: named by position, as before
    ([4, 5, 6], ["4", "5", "6"]),
])
def test_coco_annotation_without_an_id_gets_a_sample_id_no_annotation_has(ids, names, tmp_path):
    """An annotation without an id is named by its position where no annotation has that id (as text), else by the
    next integer above the file's ids and positions: never the id of another annotation."""
    def edit(o):
        for a, v in zip(o["annotations"], ids):
            a.pop("id") if v is None else a.update(id=v)

    write_coco(tmp_path, "val", n=1)
    write_coco(tmp_path, "train", n=3, edit=edit)
    people = pose_sets.load_people("coco", tmp_path, "train")
    assert [s.id for s in people.samples] == names
    assert [s.extras["annotation_id"] for s in people.samples] == ids  # the file's own, None where it has none

def test_shared_number_parsers_refuse_bools_and_json_text():
    """`as_float` / `as_int`: XML's text is parsed, a bool never (float(True) is 1.0), JSON's text not at all."""
    from convcorr_jax.data._common import as_float, as_int

    assert as_float("2.5", "f.xml", "x") == 2.5 and as_int("3.00", "f.xml", "z") == 3 and as_int(4.0, "f", "n") == 4
    for value in (True, np.bool_(False)):
        with pytest.raises(InputError, match=r"f.xml: field 'x': expected a number, got (True|False)"):
            as_float(value, "f.xml", "x")
    for parse, value in ((as_float, "2.5"), (as_int, "3"), (as_float, None), (as_int, False)):
        with pytest.raises(InputError, match=r"f.json: field 'n': expected a number \(not text, not true / false\)"):
            parse(value, "f.json", "n", text=False)
    assert as_float(np.float32(0.5), "f.json", "n", text=False) == 0.5 and as_int(np.int64(2), "f", "n", False) == 2
