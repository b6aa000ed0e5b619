"""The instances every Long et al. experiment runs on: synthetic objects by default, real VOC 2011 keypoints
when the user gives a VOC folder."""

from __future__ import annotations

import os

from convcorr_jax.data.types import KeypointSample


def load_train_test(n: int = 400, seed: int = 0, image_size: int = 192, voc_root: str | os.PathLike | None = None,
                    voc_annotations: str | os.PathLike | None = None
                    ) -> tuple[list[KeypointSample], list[KeypointSample]]:
    """(train, test) instances with images loaded.

    With `voc_root` (or `voc_annotations`): the VOC 2011 keypoint train / val split
    (`convcorr_jax.data.voc_keypoints.load_voc_train_test`); otherwise `n` synthetic objects of `image_size` px,
    split by the dataset's own train/test image sets.
    """
    if voc_root is not None or voc_annotations is not None:
        from convcorr_jax.data.voc_keypoints import load_voc_train_test

        return load_voc_train_test(voc_root, voc_annotations)
    from convcorr_jax.data.synthetic import load_objects

    return load_objects(n, seed, "train", image_size), load_objects(n, seed, "test", image_size)
