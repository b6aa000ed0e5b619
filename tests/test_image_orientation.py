"""The one image reader applies a JPEG's EXIF orientation tag: a photo stored sideways is read as it is displayed."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from convcorr_jax.data.types import load_image
from convcorr_jax.core.errors import InputError
from convcorr_jax.features.image import read_image

ORIENTATION = 0x0112  # the EXIF tag


def _stored(tmp_path, orientation: int | None):
    """A 40 x 80 (w x h) JPEG stored with a red top half and a blue bottom half, tagged with `orientation`."""
    a = np.zeros((80, 40, 3), np.uint8)
    a[:40, :, 0] = 255
    a[40:, :, 2] = 255
    path = tmp_path / f"photo_{orientation}.jpg"
    exif = Image.Exif()
    if orientation is not None:
        exif[ORIENTATION] = orientation
    Image.fromarray(a).save(path, quality=95, exif=exif)
    return path


def test_orientation_6_is_turned_to_its_display(tmp_path):
    """Orientation 6: the stored image is shown rotated 90 degrees clockwise, so the 40 x 80 file is displayed as
    80 x 40 with the stored top (red) on the right and the bottom (blue) on the left."""
    img = load_image(_stored(tmp_path, 6))
    assert img.shape == (40, 80, 3)
    assert img[20, 70, 0] > 200 and img[20, 70, 2] < 60  # right: red
    assert img[20, 10, 2] > 200 and img[20, 10, 0] < 60  # left: blue


@pytest.mark.parametrize("orientation,shape,red_at", [(None, (80, 40, 3), (10, 20)), (1, (80, 40, 3), (10, 20)),
                                                      (3, (80, 40, 3), (70, 20)), (8, (40, 80, 3), (20, 10))])
def test_other_orientations(tmp_path, orientation, shape, red_at):
    """No tag or 1: as stored; 3: turned 180 degrees (red at the bottom); 8: 90 degrees counter-clockwise (red left)."""
    img = read_image(_stored(tmp_path, orientation))
    assert img.shape == shape and img[red_at][0] > 200 and img[red_at][2] < 60


def test_expected_size_is_checked_after_the_orientation(tmp_path):
    path = _stored(tmp_path, 6)
    assert load_image(path, expected_size=(80, 40)).shape == (40, 80, 3)
    with pytest.raises(InputError, match="image size"):
        load_image(path, expected_size=(40, 80))
