"""Every experiment by id: "<paper>.<experiment>" -> module, and the datasets each accepts. `convcorr run ID`,
`convcorr run --list` and `convcorr demo` read this."""

from __future__ import annotations

import importlib
from types import ModuleType

from convcorr_jax.core.registry import Registry

EXPERIMENTS: Registry[str] = Registry("experiment", {
    "long2014.table1": "convcorr_eval.long2014.table1",
    "long2014.data": "convcorr_eval.long2014.data_figures",
    "long2014.locality": "convcorr_eval.long2014.locality",
    "long2014.table2": "convcorr_eval.long2014.table2",
    "long2014.table3": "convcorr_eval.long2014.table3",
    "long2014.table4": "convcorr_eval.long2014.table4",
    "long2014.pf_willow": "convcorr_eval.long2014.pf_willow",
    "long2014.pf_willow_validation": "convcorr_eval.long2014.pf_willow_validation",
    "long2014.pf_willow_warped": "convcorr_eval.long2014.pf_willow_warped",
    "long2014.pf_pascal": "convcorr_eval.long2014.pf_pascal",
    "long2014.spair": "convcorr_eval.long2014.spair",
    "razavian2015.tables": "convcorr_eval.razavian2015.tables",
    "razavian2015.landmarks": "convcorr_eval.razavian2015.landmarks",
    "razavian2015.keypoints": "convcorr_eval.razavian2015.keypoints",
    "razavian2015.rgb_segmentation": "convcorr_eval.razavian2015.rgb_segmentation",
    "razavian2015.directions": "convcorr_eval.razavian2015.directions",
    "tompson2015.tables": "convcorr_eval.tompson2015.tables",
    "tompson2015.flic": "convcorr_eval.tompson2015.flic_scores",  # a trained run on FLIC (`convcorr eval flic`)
    "tompson2015.mpii": "convcorr_eval.tompson2015.mpii",  # a trained run on MPII (`convcorr eval mpii`)
    "tompson2015.spatial_validation": "convcorr_eval.tompson2015.spatial_validation",  # spatial model on FLIC val
}, field="id")

# The values of the `data` field each experiment accepts: what its run checks with `experiment.require_data`
# (tests/test_experiments.py captures that check for every experiment and compares). Empty: it reads no dataset.
ACCEPTED_DATA: dict[str, tuple[str, ...]] = {
    "long2014.table1": (),
    "long2014.data": ("synthetic",),
    "long2014.locality": ("synthetic", "flic"),
    "long2014.table2": ("synthetic", "voc", "flic"),
    "long2014.table3": ("synthetic", "voc", "flic"),
    "long2014.table4": ("synthetic", "voc", "flic"),
    "long2014.pf_willow": ("pf_willow",),
    "long2014.pf_willow_validation": ("pf_willow",),
    "long2014.pf_willow_warped": ("pf_willow",),
    "long2014.pf_pascal": ("pf_pascal",),
    "long2014.spair": ("spair",),
    "razavian2015.tables": ("synthetic", "flic"),
    "razavian2015.landmarks": ("synthetic", "300w"),
    "razavian2015.keypoints": ("synthetic", "voc"),
    "razavian2015.rgb_segmentation": ("synthetic", "voc"),
    "razavian2015.directions": ("synthetic",),
    "tompson2015.tables": ("synthetic", "flic", "mpii"),
    "tompson2015.flic": ("flic",),
    "tompson2015.mpii": ("mpii",),
    "tompson2015.spatial_validation": ("flic",),
}


def load(exp_id: str) -> ModuleType:
    """The experiment module registered under `exp_id`."""
    return importlib.import_module(EXPERIMENTS[exp_id])
