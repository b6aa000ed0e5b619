"""Leave-one-sub-class-out selection of PF-WILLOW settings (`long2014.pf_willow_selection.leave_one_out`)
against splits computed by hand (the tiny validation run on the real sub-classes: tests/test_pf_willow_transfer.py)."""

from __future__ import annotations

import numpy as np
import pytest

from convcorr_jax.core.errors import InputError
from convcorr_eval.long2014 import pf_willow_selection

# Three rows over three sub-classes. Row 0 wins on average by a large margin on "a" alone; row 1 is even.
ROWS = [{"per_class": {"a": 1.0, "b": 0.5, "c": 0.5}},
        {"per_class": {"a": 0.6, "b": 0.7, "c": 0.7}},
        {"per_class": {"a": 0.2, "b": 0.7, "c": 0.9}}]


def test_leave_one_out_equals_a_hand_split():
    folds = pf_willow_selection.leave_one_out(ROWS)
    # a left out: means over (b, c) = 0.5, 0.7, 0.8 -> row 2, scored 0.2 on a
    # b left out: means over (a, c) = 0.75, 0.65, 0.55 -> row 0, scored 0.5 on b
    # c left out: means over (a, b) = 0.75, 0.65, 0.45 -> row 0, scored 0.5 on c
    assert [(f["left_out"], f["row"]) for f in folds] == [("a", 2), ("b", 0), ("c", 0)]
    np.testing.assert_allclose([f["train"] for f in folds], [0.8, 0.75, 0.75])
    np.testing.assert_allclose([f["score"] for f in folds], [0.2, 0.5, 0.5])
    assert pf_willow_selection.worst(ROWS[0]) == ("b", 0.5) and pf_willow_selection.worst(ROWS[2]) == ("a", 0.2)


def test_ties_take_the_first_row_and_bad_rows_are_refused():
    tied = [{"per_class": {"a": 0.5, "b": 0.5}}, {"per_class": {"a": 0.5, "b": 0.5}}]
    assert [f["row"] for f in pf_willow_selection.leave_one_out(tied)] == [0, 0]
    with pytest.raises(InputError, match="per_class"):
        pf_willow_selection.leave_one_out([{"per_class": {"a": 0.5}}])
    with pytest.raises(InputError, match="per_class"):
        pf_willow_selection.leave_one_out([{"per_class": {"a": 0.5, "b": 0.1}}, {"per_class": {"a": 0.5, "c": 0.1}}])


def test_a_mixed_view_set_is_a_fold_chosen_on_the_sub_classes_it_is_not_made_of():
    rows = [{"per_class": {**r["per_class"], "a+b": m}} for r, m in zip(ROWS, (0.3, 0.6, 0.1))]
    folds = pf_willow_selection.leave_one_out(rows)
    # a, b, c as without the mixed set (it is never chosen on); "a+b" chooses on c alone: 0.5, 0.7, 0.9 -> row 2
    assert [(f["left_out"], f["row"]) for f in folds] == [("a", 2), ("b", 0), ("c", 0), ("a+b", 2)]
    np.testing.assert_allclose([f["train"] for f in folds], [0.8, 0.75, 0.75, 0.9])
    np.testing.assert_allclose([f["score"] for f in folds], [0.2, 0.5, 0.5, 0.1])
    assert pf_willow_selection.worst(rows[2]) == ("a", 0.2)  # the mixed set's 0.1 is not a sub-class
    with pytest.raises(InputError, match="mixed"):
        pf_willow_selection.leave_one_out([{"per_class": {"a": 0.5, "b": 0.5, "a+z": 0.1}}])
