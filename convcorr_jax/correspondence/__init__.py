"""Correspondence: semantic point transfer between two images (`transfer_points`, the validated default of
`PointTransferConfig`), the hyperpixel matchers (`matching`), frames and their features (`frames`), flows and
matches between frames (`frame_transfer`); Long et al. 2014's feature locality (patch databases, kNN
reconstruction), keypoint transfer, keypoint classification and keypoint prediction. Import the other modules:
`from convcorr_jax.correspondence import transfer`."""

from convcorr_jax.correspondence.point_config import PointTransferConfig
from convcorr_jax.correspondence.points import Transfer, transfer_points

__all__ = ["PointTransferConfig", "Transfer", "transfer_points"]
