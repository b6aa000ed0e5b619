"""Datasets: one sample schema, real-format loaders, synthetic generators, TFDS builders.

Loader modules are imported lazily by name (`from convcorr_jax.data.mpii import load_mpii_h5`); this package
re-exports the schema and the most used loaders/writers, each imported on first use (`HOMES`), so that importing one
module of it (e.g. `data.skeletons`, as pose inference does) imports no loader.
"""

from convcorr_jax.core.optional import lazy_exports

# re-exported name -> the module of this package that defines it
HOMES = {
    "KeypointSample": "types", "SegSample": "types", "load_image": "types", "Loaded": "_common",
    "KEYPOINT_NAMES": "voc_keypoints", "load_voc_keypoints": "voc_keypoints", "read_keypoint_xml": "voc_keypoints",
    "write_keypoint_xml": "voc_keypoints",
    "load_voc_segmentation": "voc_segmentation", "read_label_png": "voc_segmentation",
    "write_label_png": "voc_segmentation", "load_image_folder": "voc_segmentation",
    "read_pts": "faces300w", "write_pts": "faces300w", "load_300w": "faces300w", "interocular_distance": "faces300w",
    "load_flic": "flic", "write_flic_mat": "flic", "MPII_JOINTS": "mpii", "load_mpii_h5": "mpii",
    "write_mpii_h5": "mpii", "load_mpii_release": "mpii_release", "load_lsp": "lsp",
    "load_pf_willow": "pf_willow", "pf_willow_pairs": "pf_willow",
}
__getattr__ = lazy_exports(__name__, HOMES)

__all__ = list(HOMES)
