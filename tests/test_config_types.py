"""Configs built in Python check their fields' types at construction (`config.check_types`), as the command line's
`--set` parses by annotation: a float for an integer (batch_size=2.5), inf in an integer tuple (steps), a string, a
list for a tuple or a dict for a nested config is one InputError naming the field, where it used to pass and fail
(or loop) later. A huge Python int is finite (`check_fields` used to raise OverflowError on it). Construction only."""

from __future__ import annotations

import math
import re

import pytest

from convcorr_jax.core import config
from convcorr_jax.core.errors import InputError
from convcorr_jax.correspondence.warp_projection import ProjectionTrainConfig
from convcorr_jax.data.warped_pairs import WarpConfig
from convcorr_jax.flow.align import GridConfig
from convcorr_jax.flow.bp import BPConfig
from convcorr_jax.flow.dense import DenseConfig
from convcorr_jax.long2014.prediction_config import PredictionConfig
from convcorr_jax.long2014.retrieval_transfer import RetrievalTransferConfig
from convcorr_jax.pose.augment import AugmentConfig
from convcorr_jax.pose.data_part import DataPart
from convcorr_jax.pose.training.config import TrainConfig

# (config class, field, a value of another type than the field's annotation)
BAD = [
    (TrainConfig, "batch_size", math.inf), (TrainConfig, "batch_size", 2.5), (TrainConfig, "steps", (math.inf, 1, 1)),
    (TrainConfig, "steps", (1.5, 1, 1)), (TrainConfig, "steps", [1, 2, 3]), (TrainConfig, "name", 3),
    (TrainConfig, "n_samples", "1000"), (TrainConfig, "model", {"levels": 2}), (TrainConfig, "datasets", ("flic",)),
    (TrainConfig, "seed", True),
    (AugmentConfig, "flip", "false"), (AugmentConfig, "upper", (0.5,)),
    (ProjectionTrainConfig, "steps", math.inf), (ProjectionTrainConfig, "dim", 2.5),
    (ProjectionTrainConfig, "lr", 10**400),
    (WarpConfig, "background", "no"), (GridConfig, "iters", 2.5), (BPConfig, "levels", 1.5),
    (DenseConfig, "radius", 1.5), (PredictionConfig, "batch_size", 2.5), (RetrievalTransferConfig, "neighbours", 2.5),
]


@pytest.mark.parametrize("cls, field, value", BAD, ids=[f"{c.__name__}.{f}={v!r:.20}" for c, f, v in BAD])
def test_a_value_of_another_type_is_one_input_error(cls, field, value):
    with pytest.raises(InputError, match=f"field '{field}': expected "):
        cls(**{field: value})


def test_defaults_and_numpy_numbers_pass():
    import numpy as np

    for cls in (TrainConfig, AugmentConfig, ProjectionTrainConfig, WarpConfig, GridConfig, BPConfig, DenseConfig,
                PredictionConfig, RetrievalTransferConfig):
        cls()
    cfg = TrainConfig(batch_size=np.int64(8), lr=(np.float32(1e-3), 2e-3, 1), steps=(1, 0, 0))
    assert cfg.batch_size == 8


def test_a_data_part_of_another_type_is_named_by_its_index():
    cfg = TrainConfig(data="person", datasets=(DataPart("synthetic", share="0.5"),))
    with pytest.raises(InputError, match=r"field 'datasets\[0\]\.share': expected a number"):
        cfg.check()


def test_a_huge_int_is_finite():
    cfg = ProjectionTrainConfig(steps=10**400)  # raised OverflowError from math.isfinite
    assert cfg.steps == 10**400
    with pytest.raises(InputError, match="field 'steps': expected an integer >= 1"):
        ProjectionTrainConfig(steps=-10**400)
    with pytest.raises(InputError, match="field 'batch_size': expected > 0"):
        TrainConfig(batch_size=-10**400)


def test_from_dict_refuses_an_integer_beyond_float_range():
    with pytest.raises(InputError, match="field 'lr': expected a number"):  # was OverflowError
        config.from_dict(ProjectionTrainConfig, {"lr": 10**400})


@pytest.mark.parametrize("field, value, expected", [
    ("joints", "lsho", "a tuple of tuples of 2 strings"),  # was "a tuple of tuple of stringss"
    ("options", [("n", 1)], "a tuple of tuples (a string, anything)"),
])
def test_a_tuple_of_pairs_is_named_as_one(field, value, expected):
    """The error for a tuple field reads its annotation's items, pairs included."""
    cfg = TrainConfig(data="person", datasets=(DataPart("flic", **{field: value}),))
    with pytest.raises(InputError, match=rf"'datasets\[0\]\.{field}': expected {re.escape(expected)}, got"):
        cfg.check()


@pytest.mark.parametrize("record, field", [({"model": {"kernal": 3}}, "model.kernal"),
                                           ({"model": {"kernel": "abc"}}, "model.kernel"),
                                           ({"augment": {"nosuch": 1}}, "augment.nosuch")])
def test_a_nested_config_field_is_named_by_its_dotted_path(record, field):
    """A field of a nested config (a model.json's or config.json's "model": {...}) is named as `--set` names it."""
    with pytest.raises(InputError) as e:
        config.from_dict(TrainConfig, record)
    assert e.value.field == field
