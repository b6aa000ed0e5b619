"""Protocol glue shared by the Long et al. experiments: the object instances by the `data` config field."""

from __future__ import annotations

from convcorr_jax.data.synthetic import load_objects
from convcorr_jax.data.types import KeypointSample
from convcorr_jax.data.voc_keypoints import load_voc_train_test
from convcorr_eval.experiment import ExperimentConfig, require_data

DATA = ("synthetic", "voc")


def load_train_test(cfg: ExperimentConfig, n: int, image_size: int, covered_only: bool = False
                    ) -> tuple[list[KeypointSample], list[KeypointSample]]:
    """(train, test) object instances with images: `n` synthetic objects of `image_size` px split by the dataset's
    own image sets (data=synthetic), or the VOC 2011 keypoint train / val split under `cfg.data_root` (data=voc).
    `covered_only`: keep the test instances whose category has training instances (a tiny split may miss one)."""
    require_data(cfg, DATA)
    if cfg.data == "voc":
        train, test = load_voc_train_test(cfg.data_root)
    else:
        train, test = load_objects(n, cfg.seed, "train", image_size), load_objects(n, cfg.seed, "test", image_size)
    if covered_only:
        cats = {s.category for s in train}
        test = [s for s in test if s.category in cats]
    return train, test
