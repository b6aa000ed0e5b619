"""Semantic point transfer between two images: `transfer_points` (`points.py`) with the validated default of
`PointTransferConfig` (`point_config.py`), the matcher table (`matching.py`), points moved by the matches of
nodes around them (`carry.py`), frames and their features (`frames.py`), flows and matches between frames
(`frame_transfer.py`). Long et al. 2014's keypoint protocols on
part-annotated instances (their Tables 2-4): `convcorr_jax.long2014`."""

from convcorr_jax.correspondence.point_config import PointTransferConfig
from convcorr_jax.correspondence.points import Transfer, transfer_points

__all__ = ["PointTransferConfig", "Transfer", "transfer_points"]
