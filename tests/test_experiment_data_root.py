"""An experiment's `run` called without the runner (which checks `data_root` first) on real data without its folder:
the one-line InputError naming `data_root`, not a TypeError from a loader given None, nor a search of a folder
named "None"."""

import dataclasses
import sys
import types

import pytest

from convcorr_jax.core.errors import InputError
from convcorr_eval import experiment, registry

CASES = [("long2014.locality", "flic"), ("long2014.table2", "flic"), ("long2014.table3", "flic"),
         ("long2014.table4", "flic"), ("long2014.pf_willow_validation", "pf_willow"),
         ("long2014.pf_willow_warped", "pf_willow"), ("long2014.pf_pascal", "pf_pascal"), ("long2014.spair", "spair"),
         ("tompson2015.spatial_validation", "flic")]


class _WorkBegan(Exception):
    """Raised by the stand-in `load_backbone`: the experiment loaded a network before reading its data."""


@pytest.mark.parametrize("exp_id,data", CASES)
def test_run_without_data_root_names_it(exp_id, data, tmp_path, monkeypatch):
    mod = registry.load(exp_id)

    def began(*args, **kwargs):
        raise _WorkBegan()

    for name, m in list(sys.modules.items()):
        if name.startswith("convcorr_eval") and callable(getattr(m, "load_backbone", None)):
            monkeypatch.setattr(m, "load_backbone", began)
    cfg = dataclasses.replace(mod.get_config("tiny"), data=data, data_root=None)
    with pytest.raises(InputError) as e:
        mod.run(cfg, experiment.Context(tmp_path, progress=False))
    assert e.value.field == "data_root" and f"the folder of the {data} dataset" in str(e.value)
    assert e.value.source == "config"
    assert not (tmp_path / "None").exists()


def test_mpii_run_without_annotation_file_names_it(tmp_path):
    """tompson2015.mpii's annotation file stands for its dataset folder: without it, the InputError naming `annot`
    (was a TypeError once the model had been read)."""
    mod = registry.load("tompson2015.mpii")
    cfg = dataclasses.replace(mod.get_config("tiny"), model="flic")
    with pytest.raises(InputError) as e:
        mod.run(cfg, experiment.Context(tmp_path, progress=False))
    assert e.value.field == "annot" and e.value.source == "config"


CASES_AFTER_DESCRIPTORS = [("razavian2015.landmarks", "300w"), ("razavian2015.keypoints", "voc"),
                  ("razavian2015.rgb_segmentation", "voc"), ("razavian2015.tables", "flic"),
                  ("long2014.table2", "voc")]


@pytest.mark.parametrize("exp_id,data", CASES_AFTER_DESCRIPTORS)
def test_run_on_300w_voc_or_flic_without_data_root_names_it(exp_id, data, tmp_path, monkeypatch):
    """Razavian's experiments make their descriptors (a network) before reading data: with those stood in for, the
    data read is the InputError naming `data_root`, not a loader's TypeError on None (long2014's VOC split too)."""
    mod = registry.load(exp_id)
    from convcorr_eval.razavian2015 import common

    monkeypatch.setattr(common, "make_descriptors", lambda cfg: types.SimpleNamespace(text="stand-in"))
    cfg = dataclasses.replace(mod.get_config("tiny"), data=data, data_root=None)
    if hasattr(cfg, "annotations"):
        cfg = dataclasses.replace(cfg, annotations=str(tmp_path))
    with pytest.raises(InputError) as e:
        mod.run(cfg, experiment.Context(tmp_path, progress=False))
    assert e.value.field == "data_root" and e.value.source == "config"
