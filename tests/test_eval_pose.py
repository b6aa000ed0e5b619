"""`convcorr eval pose` (`tompson2015.pose_scores`): PCK against a hand computation, OKS AP against pycocotools on
the same detections and against a hand-made OKS, and a tiny COCO-format run trained and scored end to end with
`convcorr train pose --config coco_tiny` (a skeleton without a registry entry), with its refusals."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from test_pose_skeletons import CAT, write_coco

from convcorr_eval.tompson2015 import pose_scores
from convcorr_jax.core import runinfo
from convcorr_jax.core.errors import InputError
from convcorr_jax.data import pose_sets
from convcorr_jax.data.skeletons import from_coco_category

pycocotools = pytest.importorskip("pycocotools", reason="pycocotools (the test extra) is not installed")


def test_pck_columns_against_a_hand_computation():
    sk = from_coco_category({**CAT, "groups": {"Arms": ["arm_left", "arm_right"]}}, "f.json")
    gt = np.zeros((2, 5, 2))
    pred = np.zeros((2, 5, 2))
    pred[0, :, 0] = [1, 3, 5, 7, 9]   # person 0, norm 20: within 0.2 * 20 = 4 px: joints 0, 1
    pred[1, :, 1] = [2, 2, 12, 2, 2]  # person 1, norm 50: within 10 px: all but joint 2
    scored = np.ones((2, 5), bool)
    scored[1, 4] = False              # not scored
    norm = np.array([20.0, 50.0])
    t = pose_scores.pck_columns(pred, gt, scored, norm, sk, (0.2,))["0.2"]
    assert t["mean"] == pytest.approx(5 / 9)
    assert t["base"] == 1.0 and t["arm_left"] == 0.0 and t["arm_right"] == 0.5 and t["bulb"] == 0.0
    assert t["Arms"] == pytest.approx(1 / 4)
    # a person whose normaliser is unknown (NaN) scores nothing when left out of `scored`
    t2 = pose_scores.pck_columns(pred, gt, scored & np.array([[True], [False]]), np.array([20.0, np.nan]), sk, (0.2,))
    assert t2["0.2"]["mean"] == pytest.approx(2 / 5)
    mp = pose_scores.mean_pose(np.array([[[0, 0], [2, 2]], [[4, 4], [9, 9]]], float),
                               np.array([[True, True], [True, False]]), 3)
    np.testing.assert_allclose(mp, np.broadcast_to([[2, 2], [2, 2]], (3, 2, 2)))


def _one_person_gt(area: float) -> dict:
    kp = [10.0, 10.0, 2, 20.0, 10.0, 2, 30.0, 10.0, 2]
    return {"images": [{"id": 1, "width": 64, "height": 64, "file_name": "a.png"}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "keypoints": kp, "num_keypoints": 3,
                             "bbox": [0, 0, 40, 20], "area": area, "iscrowd": 0}],
            "categories": [{"id": 1, "name": "x", "keypoints": ["a", "b", "c"], "skeleton": []}], "info": {}}


def test_oks_ap_against_a_hand_oks():
    # every keypoint moved by d: OKS = exp(-d^2 / (2 area (2 sigma)^2)); OKS 0.62 passes the thresholds 0.5, 0.55,
    # 0.6 of COCO's ten (0.5 .. 0.95), so AP = 3 / 10 (one person, one detection); AP50 = 1, AP75 = 0
    area, sigma, oks = 400.0, 0.05, 0.62
    d = math.sqrt(-math.log(oks) * 2 * area * (2 * sigma) ** 2)
    det = {"image_id": 1, "category_id": 1, "score": 0.9,
           "keypoints": [10 + d, 10.0, 1, 20 + d, 10.0, 1, 30 + d, 10.0, 1]}
    res = pose_scores.oks_ap(_one_person_gt(area), [det], np.full(3, sigma))
    assert res["AP"] == pytest.approx(0.3, abs=1e-6) and res["AP50"] == pytest.approx(1.0)
    assert res["AP75"] == pytest.approx(0.0)
    exact = {**det, "keypoints": [10.0, 10.0, 1, 20.0, 10.0, 1, 30.0, 10.0, 1]}
    assert pose_scores.oks_ap(_one_person_gt(area), [exact], np.full(3, sigma))["AP"] == pytest.approx(1.0)


def _extra(**fields):
    """Append annotations[3] to a file of three people: image 1's, by default a crowd of the lamp category."""
    ann = {"id": 9, "image_id": 1, "category_id": 1, "keypoints": [0] * 15, "num_keypoints": 0, "bbox": [0, 0, 9, 9],
           "area": 81, "iscrowd": 1}
    return lambda o: (o["categories"].append({"id": 7, "name": "car"}),
                      o["annotations"].append({k: v for k, v in {**ann, **fields}.items() if v is not None}))


@pytest.mark.parametrize("edit, field, got", [
    # a crowd's or another category's bbox and area went to pycocotools unchecked: TypeErrors inside its OKS
    (_extra(bbox=["2", 0, 9, 9]), "annotations[3].bbox[0]", "'2'"),
    (_extra(bbox="1234"), "annotations[3].bbox", "'1234'"),
    (_extra(bbox=[0, 0, 9, -9], area=None), "annotations[3].bbox", "[0, 0, 9, -9]"),  # the area was -81
    (_extra(bbox=[0, 0, 0, 9]), "annotations[3].bbox", "[0, 0, 0, 9]"),
    (_extra(area="81"), "annotations[3].area", "'81'"),
    (_extra(area=-1), "annotations[3].area", "-1"),
    (_extra(keypoints=[0] * 12), "annotations[3].keypoints", "12"),  # a broadcast error in pycocotools' OKS
    (_extra(num_keypoints=False), "annotations[3].num_keypoints", "False"),
    (_extra(category_id=7, bbox=[0, 0, True, 9]), "annotations[3].bbox[2]", "True"),
    (_extra(category_id=7, iscrowd="0"), "annotations[3].iscrowd", "'0'"),  # pycocotools: a crowd
    (_extra(category_id=7, area=None, bbox=None), "annotations[3].bbox", None),  # no area: a KeyError in it
    # an image_id naming no image: pycocotools left the annotation out silently
    (_extra(image_id=99), "annotations[3].image_id", "99"),
    (_extra(category_id=7, image_id="1"), "annotations[3].image_id", "'1'"),  # "1" is not the image id 1
    (_extra(category_id=7, image_id=True), "annotations[3].image_id", "True"),
    (_extra(category_id=7, image_id=None), "annotations[3].image_id", None),  # no image_id
    (_extra(bbox=[1, 1, 0, 0]), "annotations[3].bbox", "[1, 1, 0, 0]"),
    (_extra(iscrowd=0, image_id=99), "annotations[3].image_id", "99"),  # a person without labelled keypoints
])
def test_oks_ground_truth_checks_crowd_and_other_category_annotations(edit, field, got, tmp_path):
    """`coco_ground_truth` and the people's reader check every annotation alike (`check_annotation`): a bad field
    of a crowd or other-category annotation, which the reader leaves out, is one InputError naming it when the file
    is read, not only when a training run is scored."""
    val = write_coco(tmp_path, "val", n=3, edit=edit)
    for read in (lambda: pose_scores.coco_ground_truth(val), lambda: pose_sets.load_people("coco", tmp_path, "val")):
        with pytest.raises(InputError) as e:
            read()
        assert e.value.source == str(val) and e.value.field == field and "\n" not in str(e.value), str(e.value)
        assert got is None or str(e.value).endswith(f", got {got}"), str(e.value)


@pytest.mark.parametrize("image_ids", [[1, "2", 3], [1, "1", 3]])
def test_oks_ground_truth_refuses_image_ids_pycocotools_cannot_sort(image_ids, tmp_path):
    """Images 1 and "2" (or 1 and "1") reached pycocotools, whose evaluation sorts the image ids and failed inside it
    (TypeError: '<' not supported between 'str' and 'int'): the file is refused naming the entry."""
    def edit(o):
        for im, a, key in zip(o["images"], o["annotations"], image_ids):
            im["id"] = a["image_id"] = key

    val = write_coco(tmp_path, "val", n=3, edit=edit)
    with pytest.raises(InputError) as e:
        pose_scores.coco_ground_truth(val)
    assert e.value.source == str(val) and e.value.field == "images[1].id" and "images[0]" in str(e.value)


def test_oks_ap_of_whole_number_float_ids_and_true_false_iscrowd(tmp_path):
    """Ids written 1.0 and iscrowd true / false (a converter built on pandas) score as the same file with integers:
    the ground truth holds the integer ids, exact detections get AP 1.0."""
    def edit(o):
        o["categories"][0]["id"] = 1.0
        for im, a in zip(o["images"], o["annotations"]):
            im["id"] = a["image_id"] = float(im["id"])
            a.update(id=float(a["id"]), category_id=1.0, iscrowd=False)
        o["annotations"].append({**o["annotations"][0], "id": 9.0, "iscrowd": True})

    val = write_coco(tmp_path, "val", n=3, edit=edit)
    gt = pose_scores.coco_ground_truth(val)
    anns = gt["annotations"]
    assert [(a["image_id"], a["category_id"], a["iscrowd"]) for a in anns] == [(1, 1, 0), (2, 1, 0), (3, 1, 0),
                                                                               (1, 1, 1)]
    dets = [{"image_id": a["image_id"], "category_id": 1, "keypoints": a["keypoints"], "score": 1.0} for a in anns[:3]]
    assert pose_scores.oks_ap(gt, dets, np.full(5, 0.05))["AP"] == pytest.approx(1.0)


def test_oks_ground_truth_fills_ids_and_counts_pycocotools_needs(tmp_path):
    """pycocotools' ids are the positions + 1, whatever the file's (a missing one was given i + 1, annotations[0]'s
    id here: pycocotools scored two people as one); num_keypoints 0 for an other-category annotation (was a KeyError
    in pycocotools), area the box's width x height; a valid file's ground truth is as before but for its ids."""
    def edit(o):
        o["categories"].append({"id": 7, "name": "car"})
        o["annotations"][0]["id"] = 2
        o["annotations"][1].pop("id")  # was given i + 1 = 2, annotations[0]'s
        o["annotations"][2].pop("area")
        o["annotations"].append({"id": 5, "image_id": 1, "category_id": 7, "bbox": [1, 1, 4, 4], "iscrowd": 0})

    val = write_coco(tmp_path, "val", n=3, edit=edit)
    gt = pose_scores.coco_ground_truth(val)
    anns = gt["annotations"]
    assert [a["id"] for a in anns] == [1, 2, 3, 4] and anns[3]["num_keypoints"] == 0 and anns[3]["area"] == 16.0
    assert anns[2]["area"] == 30.0 * 22.0 and anns[1]["num_keypoints"] == 5
    dets = [{"image_id": a["image_id"], "category_id": 1, "keypoints": a["keypoints"], "score": 1.0} for a in anns[:3]]
    assert pose_scores.oks_ap(gt, dets, np.full(5, 0.05))["AP"] == pytest.approx(1.0)  # 0.44 and a KeyError before
    plain = write_coco(tmp_path / "plain", "val", n=3)
    file = json.loads(plain.read_text())["annotations"]
    assert pose_scores.coco_ground_truth(plain)["annotations"] == [{**a, "id": i + 1} for i, a in enumerate(file)]


def _set_ids(o: dict, ids: list) -> None:
    """The annotations' ids set to `ids` (None: no id)."""
    for a, v in zip(o["annotations"], ids):
        a.pop("id") if v is None else a.update(id=v)


@pytest.mark.parametrize("ids", [[0, 2, 3], ["a", "b", "c"], [10, 1.0, 7], [None, None, None]])
def test_oks_ground_truth_scores_any_ids_the_reader_takes(ids, tmp_path):
    """A file's annotation ids 0 or text (the reader takes integers and strings), or none, reach pycocotools as
    positions + 1: an id 0 made the exact detection of its person a false positive (AP 0.44, no error: pycocotools
    takes 0 for no match), text ids failed inside its evaluation (could not convert string to float)."""
    val = write_coco(tmp_path, "val", n=3, edit=lambda o: _set_ids(o, ids))
    gt = pose_scores.coco_ground_truth(val)
    assert [a["id"] for a in gt["annotations"]] == [1, 2, 3]
    dets = [{"image_id": a["image_id"], "category_id": 1, "keypoints": a["keypoints"], "score": 1.0}
            for a in gt["annotations"]]
    assert pose_scores.oks_ap(gt, dets, np.full(5, 0.05))["AP"] == pytest.approx(1.0)


def test_missing_area_is_the_bbox_width_times_height_for_the_people_and_the_ground_truth(tmp_path):
    """Without an area the people's extras["area"] was (x + w - x) * (y + h - y), the OKS ground truth's w * h: two
    values in the last bits for this box; now both are w * h."""
    box = [318.48, 134.89, 20.49, 8.26]  # (x + w - x) * (y + h - y) = 169.24739999999989, w * h = 169.24739999999997
    val = write_coco(tmp_path, "val", n=3, edit=lambda o: (o["annotations"][0].pop("area"),
                                                          o["annotations"][0].update(bbox=box)))
    area = pose_sets.load_people("coco", tmp_path, "val").samples[0].extras["area"]
    assert area == box[2] * box[3] == pose_scores.coco_ground_truth(val)["annotations"][0]["area"]

@pytest.mark.parametrize("where", ["dataset file", "no folder"])
def test_eval_pose_checks_its_json_path_before_any_work(where, tmp_path, capsys):
    """--json naming a file of the dataset folder (it was replaced by the scores after the run) or a path that cannot
    be written (a traceback after the whole run): one line, exit code 2, before the model is read; nothing written."""
    from convcorr_cli.main import main

    root = tmp_path / "coco"
    (root / "annotations").mkdir(parents=True)
    ann = root / "annotations" / "person_keypoints_val.json"
    ann.write_text("{}")
    (tmp_path / "notes.txt").write_text("a file")
    js = ann if where == "dataset file" else tmp_path / "notes.txt" / "x.json"  # a file where a folder must be
    rc = main(["eval", "pose", "--model", str(tmp_path / "no_model"), "--root", str(root), "--json", str(js)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "'--json'" in err[0] and str(js) in err[0], err
    assert ann.read_text() == "{}" and (tmp_path / "notes.txt").read_text() == "a file"


@pytest.fixture(scope="module")
def coco_run(tmp_path_factory):
    """A COCO-format folder with the 5-keypoint skeleton of `CAT` (train and val) and a coco_tiny run on it."""
    from convcorr_jax.pose.export import model_folder
    from convcorr_jax.pose.training import loop
    from convcorr_train import pose

    base = tmp_path_factory.mktemp("coco")
    root = base / "data"  # the runs beside it: an --out inside the dataset folder is refused
    write_coco(root, "train", n=8, size=64)
    write_coco(root, "val", n=4, size=64)
    cfg = pose.config("coco_tiny", str(base / "runs"), [f"data_root={root}", "steps=2,1,0"])
    assert cfg.model.num_joints == 5 and cfg.augment.flip_perm == (0, 1, 3, 2, 4)  # from the file's skeleton
    loop.train(cfg, on_stage=model_folder.write_stage)
    return root, cfg.run_dir()


@pytest.mark.slow
def test_a_coco_run_scores_with_eval_pose_like_a_hand_computation(coco_run, tmp_path, capsys):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    from convcorr_cli.main import main
    from convcorr_jax.pose import predict
    from convcorr_jax.pose.training import run_folder
    from convcorr_jax.pose.person_crops import person_crops

    root, run = coco_run
    from convcorr_jax.pose import spatial as spatial_mrf

    saved, priors = spatial_mrf.load_spatial_model(run)  # the spatial model over the file's skeleton, its train split
    assert saved.edges == from_coco_category(CAT, "f").spatial_tree() and priors.shape[0] == 5
    out = tmp_path / "scores.json"  # outside the dataset folder: it is read, never written
    assert main(["eval", "pose", "--model", str(run), "--root", str(root), "--split", "val", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "normaliser: bbox (the person box's longer side)" in printed
    from convcorr_jax.pose import readout

    key = readout.load_readout(run)[0].key  # the read-out the run chose when it trained: the validated row
    assert f"validated: the model's stored read-out, {key}" in printed
    res = json.loads(out.read_text())
    lines = printed.splitlines()  # what ran, as every table: the header above, the wall time below; in the JSON too
    assert lines[0] == "== convcorr eval pose ==" and any(ln.startswith("versions: python ") for ln in lines)
    assert json.loads(next(ln[len("config: "):] for ln in lines if ln.startswith("config: "))) == res["config"]
    assert res["config"]["seed"] is None and res["config"]["split"] == "val" and res["config"]["model"] == str(run)
    assert res["versions"] == runinfo.versions() and f"wall time {res['seconds']:.1f} s" in printed
    assert res["normaliser"].startswith("bbox") and res["people"] == 4 and set(res["pck"]) == {"0.05", "0.1", "0.2",
                                                                                                 "0.5"}
    assert set(res["pck"]["0.2"]) == {"mean", *CAT["keypoints"]} and "pckh" not in res
    assert res["readout"] == key and res["pck"] == res["models"]["validated"] and res["model"] == str(run)
    # PCK by hand: the run's validated read-out on the val crops, the bbox's longer side in crop pixels
    cfg, params = run_folder.load_run(run)
    crops = person_crops("coco", root, "val", cfg.model.image_size, cfg.crop_scale)
    pred = predict.predict_crops(params, crops.arrays.images, cfg.model, peaks=True)
    obj = json.loads((root / "annotations" / "val.json").read_text())
    side = np.array([max(a["bbox"][2:]) for a in obj["annotations"]]) * crops.affine[:, 0, 0]
    gt = np.array([np.reshape(a["keypoints"], (5, 3))[:, :2] for a in obj["annotations"]])
    gt_crop = np.einsum("nij,nkj->nki", crops.affine[:, :, :2], gt) + crops.affine[:, None, :, 2]
    d = np.linalg.norm(pred[key] - gt_crop, axis=-1)
    assert res["pck"]["0.2"]["mean"] == pytest.approx(np.mean(d <= 0.2 * side[:, None]), abs=1e-5)
    # OKS AP: pycocotools itself on the same detections (points back in the image, score the mean peak)
    image_pts = predict.to_original(pred[key], crops.affine)
    dets = [{"image_id": a["image_id"], "category_id": 1, "score": float(s),
             "keypoints": np.concatenate([p, np.ones((5, 1))], 1).ravel().tolist()}
            for a, p, s in zip(obj["annotations"], image_pts, pred["peak"].mean(1))]
    coco = COCO(str(root / "annotations" / "val.json"))
    ev = COCOeval(coco, coco.loadRes(dets), "keypoints")
    ev.params.kpt_oks_sigmas = np.full(5, pose_scores.DEFAULT_SIGMA)
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    assert res["oks"]["AP"] == pytest.approx(ev.stats[0], abs=1e-6) and res["oks"]["detections"] == 4


def test_bad_datasets_are_refused_in_one_line_before_the_first_step(tmp_path, capsys):
    from convcorr_cli.main import main

    data = tmp_path / "data"  # the runs beside it: an --out inside the dataset folder is refused
    write_coco(data, "train", n=4, size=64, edit=lambda o: o["annotations"][2].pop("bbox"))
    write_coco(data, "val", n=2, size=64)
    rc = main(["train", "pose", "--config", "coco_tiny", "--set", f"data_root={data}", "--out",
               str(tmp_path / "runs"), "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and "train.json: field 'annotations[2].bbox'" in err[-1]
    assert not (tmp_path / "runs" / "pose_coco_tiny" / "checkpoints").exists()
    write_coco(data, "train", n=4, size=64)
    write_coco(data, "val", n=2, size=64, cat={**CAT, "keypoints": CAT["keypoints"][:4] + ["tip"]})
    rc = main(["train", "pose", "--config", "coco_tiny", "--set", f"data_root={data}", "--out",
               str(tmp_path / "runs"), "--no-progress"])
    assert rc == 2 and "val.json" in capsys.readouterr().err


def test_a_pipe_in_a_joint_name_keeps_the_printed_table_whole():
    """A joint of a user's COCO file named with "|" is a column written with "/", not a column more."""
    res = {"groups": {"l|eye": (0,), "nose": (1,)}, "normaliser": "bbox", "data": "coco", "split": "val",
           "scored_people": 2, "people": 2, "flip": False, "readout": "cascade",
           "models": {"validated": {"0.2": {"l|eye": 0.5, "nose": float("nan"), "mean": 0.5}}}}
    lines = [ln for ln in pose_scores.markdown(res).split("\n") if ln.startswith("|")]
    assert [ln.count("|") for ln in lines] == [5, 5, 5]
    assert "l/eye" in lines[0] and lines[2] == "| validated | 50.0 | - | 50.0 |"


@pytest.mark.slow
def test_eval_pose_parses_each_annotation_file_once(coco_run, monkeypatch):
    from convcorr_jax.data import coco_keypoints

    root, run = coco_run
    seen = []
    real = coco_keypoints._parse_json
    monkeypatch.setattr(coco_keypoints, "_parse_json", lambda path: seen.append(path.name) or real(path))
    res = pose_scores.score_run(run, root, "val")
    assert "oks" in res and sorted(seen) == ["train.json", "val.json"]  # the skeleton, crops, mean pose, OKS truth
