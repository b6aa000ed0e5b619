"""Keypoint transfer on PF-WILLOW (eval/long2014/pf_willow.py): hand-checkable flows and the tiny experiment."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from convcorr_jax.data.types import KeypointSample
from convcorr_jax.paths import real_data_root
from convcorr_eval.experiment import Context
from convcorr_eval.long2014 import pf_willow as P


def _root():
    base = real_data_root()
    root = base / "pf_willow" / "PF-dataset-WILLOW" if base is not None else None
    if root is None or not root.is_dir():
        pytest.skip("PF-WILLOW not present (real data root missing or without pf_willow/PF-dataset-WILLOW)")
    return str(root)


def _sample(image, points):
    pts = np.asarray(points, np.float32)
    return KeypointSample(points=pts, visible=np.ones(len(pts), bool), names=tuple(map(str, range(len(pts)))),
                          bbox=np.r_[pts.min(0), pts.max(0)], category="x", id="x", image=image)


def test_zero_flow_moves_points_by_the_image_scaling():
    """features=none: a point goes to the same relative position of a differently sized image (pixel edges map to
    pixel edges: x' = (x + 0.5) W' / W - 0.5), exactly."""
    pa = np.array([[0, 0], [199, 99], [50.5, 20]], np.float32)
    pb = (pa + 0.5) * np.array([300 / 200, 50 / 100], np.float32) - 0.5
    a = _sample(np.zeros((100, 200, 3), np.uint8), pa)
    b = _sample(np.zeros((50, 300, 3), np.uint8), pb)
    cfg = dataclasses.replace(P.get_config("tiny"), features="none", image_size=64)
    from convcorr_jax.backbones import get

    r = P.evaluate_set([a, b], P.frame_boxes([a, b]), np.array(["x", "x"]), cfg, get("caffenet"), None,
                       np.array([[0, 1], [1, 0]]))
    np.testing.assert_allclose(r["pred"][0], b.points, atol=1e-4)
    np.testing.assert_allclose(r["pred"][1], a.points, atol=1e-4)
    assert r["pck"]["0.05"]["mean"] == 1.0


def test_flow_is_read_bilinearly_between_grid_nodes():
    grid = np.stack(np.meshgrid(np.array([10.0, 20.0, 30.0]), np.array([5.0, 15.0]), indexing="xy"), -1)
    flow = np.zeros((2, 3, 2), np.float32)
    flow[..., 0] = [[0, 2, 4], [0, 2, 4]]  # dx grows 2 per node along x
    flow[..., 1] = [[1, 1, 1], [3, 3, 3]]  # dy grows 2 per node along y
    got = P.flow_at_points(flow, grid, np.array([[15.0, 10.0], [0.0, 0.0], [40.0, 20.0]]))
    np.testing.assert_allclose(got, [[1, 2], [0, 1], [4, 3]], atol=1e-6)  # outside the grid: edge values


def test_image_with_itself_transfers_exactly():
    """An image aligned to itself: the data cost is zero at zero displacement, so the flow is zero and PCK 1."""
    root = _root()
    from convcorr_jax.data.pf_willow import load_pf_willow

    s = load_pf_willow(root, classes=["car(S)"], with_images=True)[:1]
    cfg = dataclasses.replace(P.get_config("tiny"), backbone="caffenet", weights="random", features="sift",
                              data_root=root)
    from convcorr_jax.backbones import get

    r = P.evaluate_set([s[0], s[0]], P.frame_boxes([s[0], s[0]]), np.array(["car(S)"]), cfg, get("caffenet"), None,
                       np.array([[0, 1]]))
    assert np.all(r["flows"] == 0)
    np.testing.assert_allclose(r["pred"][0], s[0].points, atol=1e-3)
    assert all(r["pck"][a]["mean"] == 1.0 for a in r["pck"])


@pytest.mark.parametrize("features", ["conv4", "none"])
def test_tiny_experiment_on_pf_willow(tmp_path, features):
    root = _root()
    cfg = dataclasses.replace(P.get_config("tiny"), backbone="caffenet", weights="random", features=features,
                              data_root=root)
    res = P.run(cfg, Context(tmp_path, progress=False))
    pck = res.metrics["pck"]
    assert res.metrics["pairs"] == 8  # 2 pairs x 4 sub-classes
    assert set(pck) == {"0.05", "0.1", "0.2"}
    assert {"car(S)", "duck(S)", "motorbike(S)", "winebottle(woC)", "mean"} <= set(pck["0.1"])
    assert all(0 <= pck["0.05"][c] <= pck["0.1"][c] <= pck["0.2"][c] <= 1 for c in pck["0.1"])
    assert "SIFT Flow C++" in res.markdown and "figures/pf_willow_transfer.png" in res.markdown
    assert (tmp_path / "figures" / "pf_willow_transfer.png").is_file()


def test_command_writes_json(tmp_path, monkeypatch):
    root = _root()
    tiny = P.get_config("tiny")
    monkeypatch.setattr(P, "get_config", lambda size="default": tiny)
    out = tmp_path / "pck.json"
    res = P.pf_willow_command(root, "none", "caffenet", "random", out, progress=False)
    saved = json.loads(out.read_text())
    assert saved["pairs"] == res["pairs"] == 8
    assert set(saved["pck"]) == {"0.05", "0.1", "0.2"} and 0 <= saved["pck"]["0.1"]["mean"] <= 1
    assert saved["seconds"] >= 0
