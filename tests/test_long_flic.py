"""Long et al. Tables 3 and 4 and Figures 1-2 on real FLIC people (data=flic), tiny runs on CaffeNet with seeded
random weights; skipped where the real data folder (or its FLIC part) is absent."""

import numpy as np
import pytest

from convcorr_jax.data.flic import FLIC_LABELLED_NAMES, load_flic
from convcorr_eval.long2014.common import flic_person_box, load_train_test
from convcorr_eval.runner import make_config, run_experiment


@pytest.fixture(scope="module")
def flic_root(flic_subset):
    """Real FLIC people, a few per movie (`conftest.flic_subset`): this module's runs need no more."""
    return flic_subset[0]


def _run(exp_id, flic_root, tmp_path, sets=()):
    cfg = make_config(exp_id, "tiny", ["weights=random", "data=flic", *sets], backbone="caffenet",
                      data_root=str(flic_root))
    res, _, reused = run_experiment(exp_id, cfg, tmp_path, progress=False)
    assert not reused and "|" in res.markdown
    return res


def test_flic_person_box_holds_the_joints_and_is_square(flic_root):
    people = list(load_flic(flic_root, split="train"))[:200]
    boxes = flic_person_box(np.stack([s.extras["torso_box"] for s in people]))
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    np.testing.assert_allclose(w, h)
    pts = np.stack([s.points for s in people])
    inside = ((pts[..., 0] >= boxes[:, None, 0]) & (pts[..., 0] <= boxes[:, None, 2])
              & (pts[..., 1] >= boxes[:, None, 1]) & (pts[..., 1] <= boxes[:, None, 3]))
    assert inside.mean() > 0.95


def test_load_train_test_flic_subsamples_each_split(flic_root):
    cfg = make_config("long2014.table3", "tiny", ["data=flic"], data_root=str(flic_root))
    train, test = load_train_test(cfg, 0, 0, covered_only=True, n_train=5, n_test=3)
    assert len(train) == 5 and len(test) == 3
    assert all(s.extras["istrain"] for s in train) and all(s.extras["istest"] for s in test)
    assert all(s.names == FLIC_LABELLED_NAMES and s.category == "person" and s.image is not None for s in train)
    again, _ = load_train_test(cfg, 0, 0, n_train=5, n_test=3)
    assert [s.id for s in again] == [s.id for s in train]  # seeded draw


@pytest.mark.slow
def test_table3_on_flic_tiny(flic_root, tmp_path):
    res = _run("long2014.table3", flic_root, tmp_path)
    for feat in ("conv5", "SIFT 20"):
        assert set(res.metrics[feat]) == {"mean", "person"}
        assert 0.0 <= res.metrics[feat]["person"] <= 1.0
    assert "flic, 12 training / 6 test" in res.markdown


@pytest.mark.slow
def test_table4_on_flic_tiny_with_validation_C(flic_root, tmp_path):
    res = _run("long2014.table4", flic_root, tmp_path, ["n_train=10", "n_test=4", "val_Cs=1e-4,1e-3",
                                                        "val_sift_Cs=0.1,1"])
    rows = res.metrics["rows"]
    assert set(rows) == {"SIFT", "SIFT+prior", "conv5", "conv5+prior"}
    assert all(0.0 <= r["person"] <= 1.0 for r in rows.values())
    sel = res.metrics["selection"]
    assert res.metrics["C"] in (1e-4, 1e-3) and res.metrics["sift_C"] in (0.1, 1.0)
    assert sel["n_fit"] + sel["n_val"] == 10 and sel["n_val"] > 0


@pytest.mark.slow  # tests/test_docs_commands.py runs long2014.locality on FLIC at tiny size in the fast tier
def test_locality_on_flic_tiny(flic_root, tmp_path):
    res = _run("long2014.locality", flic_root, tmp_path, ["n_train=6", "queries=chelsea", "ks2=5"])
    m = res.metrics
    assert m["flic_queries"] == 1 and len(m["uniform_rf_k1_abs_err_per_query"]) == 2
    assert all(v > 0 and v % 6 == 0 for v in m["database_sizes"].values())  # 6 frames x the layer's grid
    assert all(0 < m[f"{r}_k1_abs_err"] < 255 for r in m["database_sizes"])
