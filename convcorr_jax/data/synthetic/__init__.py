"""Synthetic datasets written in the real formats and read back through the real loaders.

Three sets, deterministic by (seed, index), cached under `paths.cache_dir("synthetic", ...)`:
* objects (Long et al., Razavian et al. keypoints and segmentation): six articulated categories with PASCAL VOC
  keypoint names, VOC-style folders; `load_objects`, `load_objects_segmentation`, `OBJECT_CATEGORIES`.
* people (Tompson et al.): 16 MPII joints, MPII h5 and FLIC mat views; `load_synthetic_people`.
* faces (Razavian et al. landmarks and semantic directions): 68 iBUG points in a 300-W folder; `load_faces`.
Splits: ~75% train / 25% test, decided per sample from (seed, index).
"""

from convcorr_jax.data.synthetic.datasets import KINDS, dataset_dir, render_sample, write_dataset
from convcorr_jax.data.synthetic.loaders import (
    load_faces,
    load_objects,
    load_objects_segmentation,
    load_synthetic_people,
)
from convcorr_jax.data.synthetic.faces import ATTRIBUTE_NAMES
from convcorr_jax.data.synthetic.objects import OBJECT_CATEGORIES, OBJECT_KEYPOINTS

__all__ = [
    "OBJECT_CATEGORIES",
    "OBJECT_KEYPOINTS",
    "ATTRIBUTE_NAMES",
    "KINDS",
    "load_objects",
    "load_objects_segmentation",
    "load_synthetic_people",
    "load_faces",
    "render_sample",
    "write_dataset",
    "dataset_dir",
]
