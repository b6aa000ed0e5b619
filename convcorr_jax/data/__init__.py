"""Datasets: one sample schema, real-format loaders, synthetic generators, TFDS builders.

Loader modules are imported lazily by name (`from convcorr_jax.data.mpii import load_mpii_h5`); this package
re-exports the schema and the most used loaders/writers.
"""

from convcorr_jax.data._common import Loaded
from convcorr_jax.data.faces300w import interocular_distance, load_300w, read_pts, write_pts
from convcorr_jax.data.flic import load_flic, write_flic_mat
from convcorr_jax.data.lsp import load_lsp
from convcorr_jax.data.mpii import MPII_JOINTS, load_mpii_h5, load_mpii_release, write_mpii_h5
from convcorr_jax.data.pf_willow import load_pf_willow, pf_willow_pairs
from convcorr_jax.data.types import KeypointSample, SegSample, load_image
from convcorr_jax.data.voc_keypoints import KEYPOINT_NAMES, load_voc_keypoints, read_keypoint_xml, write_keypoint_xml
from convcorr_jax.data.voc_segmentation import load_image_folder, load_voc_segmentation, read_label_png, write_label_png

__all__ = [
    "KeypointSample", "SegSample", "load_image", "Loaded",
    "KEYPOINT_NAMES", "load_voc_keypoints", "read_keypoint_xml", "write_keypoint_xml",
    "load_voc_segmentation", "read_label_png", "write_label_png", "load_image_folder",
    "read_pts", "write_pts", "load_300w", "interocular_distance",
    "load_flic", "write_flic_mat", "MPII_JOINTS", "load_mpii_h5", "write_mpii_h5", "load_mpii_release", "load_lsp",
    "load_pf_willow", "pf_willow_pairs",
]
