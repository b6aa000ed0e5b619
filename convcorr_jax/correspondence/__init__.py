"""Correspondence, in two parts.

Semantic point transfer between two images: `transfer_points` (`points.py`) with the validated default of
`PointTransferConfig` (`point_config.py`), the matcher table (`matching.py`), frames and their features
(`frames.py`), flows and matches between frames (`frame_transfer.py`).

Long et al. 2014's protocols: keypoint transfer through retrieved neighbours (`retrieval_transfer.py`, their
Table 2), feature locality (`locality.py`), keypoint classification (`classification.py`) and sliding-window
keypoint prediction (`prediction.py`). Import those modules: `from convcorr_jax.correspondence import
retrieval_transfer`."""

from convcorr_jax.correspondence.point_config import PointTransferConfig
from convcorr_jax.correspondence.points import Transfer, transfer_points

__all__ = ["PointTransferConfig", "Transfer", "transfer_points"]
