"""COCO-format annotation files are parsed once per evaluation (`coco_keypoints.parsed_once`), and nothing is kept
after it: a large file such as COCO's person_keypoints_train2017.json costs one parse, not one per reader."""

from __future__ import annotations

import json
import os

import pytest
from test_pose_skeletons import write_coco

from convcorr_jax.core.errors import InputError
from convcorr_jax.data import coco_keypoints


@pytest.fixture
def parses(monkeypatch):
    """The paths `_parse_json` was called on, in order."""
    seen = []
    real = coco_keypoints._parse_json

    def counting(path):
        seen.append(path.name)
        return real(path)

    monkeypatch.setattr(coco_keypoints, "_parse_json", counting)
    return seen


def test_one_parse_per_file_inside_the_block_and_none_kept_after_it(tmp_path, parses):
    train = write_coco(tmp_path, "train", n=3)
    val = write_coco(tmp_path, "val", n=2)
    with coco_keypoints.parsed_once():
        a = coco_keypoints.read_annotations(train)
        with coco_keypoints.parsed_once():  # nested: the outer block's parses serve it
            b = coco_keypoints.read_annotations(train)
        c = coco_keypoints.read_annotations(val)
        people = coco_keypoints.people(tmp_path, "val")  # the loaders read through the same memo
        d = coco_keypoints.read_annotations(train)
    assert a is b is d and parses == ["train.json", "val.json"] and len(people.samples) == 2
    assert c["images"][0]["file_name"] == "val_0.png"
    e = coco_keypoints.read_annotations(train)  # outside: parsed again, a new object
    assert e is not a and e == a and parses == ["train.json", "val.json", "train.json"]
    assert coco_keypoints._PARSED.get() is None


def test_a_file_rewritten_inside_the_block_is_parsed_again(tmp_path, parses):
    train = write_coco(tmp_path, "train", n=3)
    with coco_keypoints.parsed_once():
        first = coco_keypoints.read_annotations(train)
        obj = json.loads(train.read_text())
        obj["images"] = obj["images"][:1]
        train.write_text(json.dumps(obj) + "\n")
        st = train.stat()
        os.utime(train, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # a newer time, whatever the clock's grain
        second = coco_keypoints.read_annotations(train)
    assert len(first["images"]) == 3 and len(second["images"]) == 1 and parses == ["train.json", "train.json"]


def test_a_missing_file_is_one_line_naming_it(tmp_path):
    with pytest.raises(InputError, match=r"nope\.json.*file.*COCO-format"):
        coco_keypoints.read_annotations(tmp_path / "nope.json")
    with coco_keypoints.parsed_once(), pytest.raises(InputError, match=r"nope\.json.*file"):
        coco_keypoints.read_annotations(tmp_path / "nope.json")


def test_coco_ground_truth_copies_what_pycocotools_changes(tmp_path):
    pytest.importorskip("pycocotools", reason="pycocotools (the test extra) is not installed")
    from convcorr_eval.tompson2015 import pose_scores

    val = write_coco(tmp_path, "val", n=2)
    with coco_keypoints.parsed_once():
        gt = pose_scores.coco_ground_truth(val, {1})
        gt["annotations"][0]["ignore"] = 1
        shared = coco_keypoints.read_annotations(val)
    assert len(gt["images"]) == 1 and len(shared["images"]) == 2 and "ignore" not in shared["annotations"][0]


def test_coco_ground_truth_parses_its_file_once_outside_a_block(tmp_path, parses):
    """`coco_ground_truth` reads the file twice (the dataset dict, then its annotations): one parse, not two."""
    pytest.importorskip("pycocotools", reason="pycocotools (the test extra) is not installed")
    from convcorr_eval.tompson2015 import pose_scores

    val = write_coco(tmp_path, "val", n=2)
    gt = pose_scores.coco_ground_truth(val)
    assert parses == ["val.json"] and len(gt["annotations"]) == 2
    assert coco_keypoints._PARSED.get() is None
