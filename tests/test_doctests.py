"""The examples in the library's docstrings run (`>>>` lines, doctest) and print what they say
(`convcorr_jax.core.geometry`'s: tests/test_geometry.py)."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ("convcorr_jax.core.errors", "convcorr_jax.core.tracing", "convcorr_jax.core.metrics",
           "convcorr_jax.core.registry", "convcorr_jax.core.knn", "convcorr_jax.features.sift",
           "convcorr_jax.linear.ridge", "convcorr_jax.flow.bp", "convcorr_jax.pose.person_boxes",
           "convcorr_jax.pose.readout", "convcorr_jax.pose.estimation")


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f"{name} has no example"
    assert result.failed == 0
