"""Non-finite numbers in the configs and numeric flags: inf, -inf and NaN are refused at construction (or at the
flag's check) with one InputError naming the field, where they used to pass and give NaN, garbage or a traceback
later. Fields where inf means "no limit" (point transfer's radius / trim / carry_sigma / cycle / flip_margin, dense
flow's truncation / edge_sigma, pack-flic's --max-mib) keep taking it. Construction only: nothing is trained."""

from __future__ import annotations

import dataclasses
import math

import pytest

import convcorr_cli.main as cli
from convcorr_eval.long2014 import table3, table4
from convcorr_eval.tompson2015 import flic_scores
from convcorr_jax.core.errors import InputError
from convcorr_jax.correspondence.matching import MatchConfig
from convcorr_jax.correspondence.point_config import PointTransferConfig
from convcorr_jax.correspondence.warp_projection import ProjectionTrainConfig
from convcorr_jax.data.flic_pack import pack_flic
from convcorr_jax.data.warped_pairs import WarpConfig
from convcorr_jax.flow.align import GridConfig
from convcorr_jax.flow.bp import BPConfig
from convcorr_jax.flow.dense import DenseConfig
from convcorr_jax.long2014.prediction_config import PredictionConfig
from convcorr_jax.long2014.retrieval_transfer import RetrievalTransferConfig
from convcorr_jax.pose.augment import AugmentConfig
from convcorr_jax.pose.model_config import ModelConfig
from convcorr_jax.pose.spatial.config import SpatialConfig
from convcorr_jax.pose.training.config import TrainConfig

INF = math.inf


def _checked(cls, **kw):
    """`cls(**kw)` with its own `validate` run (ModelConfig, SpatialConfig check there, not at construction)."""
    cfg = cls(**kw)
    return cfg.validate() if hasattr(cfg, "validate") else cfg


# (config class, field, how a bad number x is given: the field's value)
FIELDS = [
    (MatchConfig, "eps", lambda x: x), (MatchConfig, "power", lambda x: x), (MatchConfig, "exp2", lambda x: x),
    (PointTransferConfig, "beta", lambda x: x), (PointTransferConfig, "feature_norm", lambda x: x),
    (PointTransferConfig, "scales", lambda x: (1.0, x)), (PointTransferConfig, "ot_eps", lambda x: x),
    (PointTransferConfig, "prior_floor", lambda x: x),
    (ProjectionTrainConfig, "tau", lambda x: x), (ProjectionTrainConfig, "lr", lambda x: x),
    (ProjectionTrainConfig, "decay", lambda x: x), (ProjectionTrainConfig, "dim", lambda x: x),
    (WarpConfig, "scale_max", lambda x: x), (WarpConfig, "rotation", lambda x: x), (WarpConfig, "shift", lambda x: x),
    (WarpConfig, "margin", lambda x: x),
    (GridConfig, "beta", lambda x: x), (GridConfig, "sift_radius", lambda x: x),
    (GridConfig, "feature_norm", lambda x: x),
    (BPConfig, "beta", lambda x: x),
    (DenseConfig, "beta", lambda x: x), (DenseConfig, "beta_fine", lambda x: x),
    (DenseConfig, "grad_sigma", lambda x: x),
    (PredictionConfig, "neg_half", lambda x: x), (PredictionConfig, "C", lambda x: x),
    (PredictionConfig, "sigma", lambda x: x), (PredictionConfig, "sift_C", lambda x: x),
    (RetrievalTransferConfig, "beta", lambda x: x), (RetrievalTransferConfig, "sift_radius", lambda x: x),
    (RetrievalTransferConfig, "feature_norm", lambda x: x), (RetrievalTransferConfig, "val_betas", lambda x: (x,)),
    (AugmentConfig, "rotation", lambda x: x), (AugmentConfig, "shift", lambda x: x),
    (AugmentConfig, "scale", lambda x: (0.5, x)),
    (ModelConfig, "sigma", lambda x: x), (ModelConfig, "lcn_sigma", lambda x: x),
    (ModelConfig, "out_init_std", lambda x: x),
    (SpatialConfig, "unary_floor", lambda x: x), (SpatialConfig, "unary_power", lambda x: x),
    (SpatialConfig, "torso_sigma", lambda x: x), (SpatialConfig, "prior_sigma", lambda x: x),
    (SpatialConfig, "prior_floor", lambda x: x),
    (TrainConfig, "crop_scale", lambda x: x), (TrainConfig, "lambda_fine", lambda x: x),
    (table3.Config, "conv_C", lambda x: x), (table3.Config, "sift_C", lambda x: x),
    (table3.Config, "cv_Cs", lambda x: (1e-3, x)),
    (table4.Config, "val_Cs", lambda x: (x,)), (table4.Config, "val_sift_Cs", lambda x: (x,)),
    (flic_scores.Config, "spatial_unary_power", lambda x: x), (flic_scores.Config, "spatial_prior_sigma", lambda x: x),
    (flic_scores.Config, "spatial_prior_floor", lambda x: x), (flic_scores.Config, "spatial_torso_sigma", lambda x: x),
]


@pytest.mark.parametrize("value", [INF, -INF, math.nan], ids=["inf", "-inf", "nan"])
@pytest.mark.parametrize("cls, field, given", FIELDS, ids=[f"{c.__module__.split('.')[-1]}.{c.__name__}.{f}"
                                                          for c, f, _ in FIELDS])
def test_non_finite_field_refused(cls, field, given, value):
    with pytest.raises(InputError) as e:
        _checked(cls, **{field: given(value)})
    msg = str(e.value)
    assert f"field '{field}'" in msg and "\n" not in msg


@pytest.mark.parametrize("cls, field, value", [
    (MatchConfig, "power", 0.0), (MatchConfig, "power", -1.0), (MatchConfig, "exp2", -0.5),
    (ModelConfig, "out_init_std", -1e-3),
])
def test_out_of_range_field_refused(cls, field, value):
    with pytest.raises(InputError, match=f"field .{field}."):
        _checked(cls, **{field: value})


@pytest.mark.parametrize("cls, field", [
    (PointTransferConfig, "radius"), (PointTransferConfig, "trim"), (PointTransferConfig, "carry_sigma"),
    (PointTransferConfig, "cycle"), (PointTransferConfig, "flip_margin"), (DenseConfig, "truncation"),
    (DenseConfig, "edge_sigma"),
])
def test_inf_means_no_limit(cls, field):
    assert getattr(cls(**{field: INF}), field) == INF


def test_defaults_unchanged():
    for cls in {c for c, _, _ in FIELDS}:
        cfg = _checked(cls)
        assert dataclasses.replace(cfg) == cfg


@pytest.mark.parametrize("value", ["inf", "nan"])
def test_synth_noise_sigma_non_finite(value, tmp_path, capsys):
    code = cli.main(["data", "synth", "people", "--n", "2", "--noise-sigma", value, "--out", str(tmp_path / "s")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "--noise-sigma" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("value", [math.nan, 0.0, -1.0])
def test_pack_flic_max_mib_refused_before_packing(value, tmp_path):
    with pytest.raises(InputError, match="field 'max_mib'"):  # no FLIC folder needed: refused before it is read
        pack_flic(tmp_path / "no_flic", tmp_path / "flic.tar", max_mib=value)
    assert not (tmp_path / "flic.tar").exists()


@pytest.mark.parametrize("value", ["nan", "0"])
def test_pack_flic_max_mib_flag(value, tmp_path, capsys):
    code = cli.main(["data", "pack-flic", "--root", str(tmp_path), "--out", str(tmp_path / "flic.tar"),
                     "--max-mib", value])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "--max-mib" in err and len(err.splitlines()) == 1
