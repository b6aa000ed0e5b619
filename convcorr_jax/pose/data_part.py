"""One dataset of a pose model trained on several (`DataPart`, an entry of `TrainConfig.datasets`): its kind, folder,
share of every batch, joint names and loader options. Read by `pose.mixture`; light, so that a training config
can be read where no training module is imported (loading a model): the dataset registry is imported only to check
a part."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from convcorr_jax.core.config import check_types
from convcorr_jax.core.errors import InputError


@dataclasses.dataclass(frozen=True)
class DataPart:
    """One dataset of a mixture.

    kind: a registered pose dataset kind (`data.pose_sets.DATASETS`).
    root: its folder (None for a kind that reads none; relative: under the config's data_root).
    share: its part of every training batch (the shares of a mixture are normalised to sum to one).
    joints: (dataset joint, model joint) name pairs, the whole mapping: only the joints listed are carried over
      (list the ones whose names match too); () maps every joint by name (`data.joint_map.joint_index`).
    options: (name, value) pairs of the kind's loader options (e.g. LSP's train_images).
    """

    kind: str
    root: str | None = None
    share: float = 1.0
    joints: tuple[tuple[str, str], ...] = ()
    options: tuple[tuple[str, Any], ...] = ()

    def check(self, where: str = "datasets") -> None:
        """Raise InputError for an unregistered kind, a share that is not a positive finite number, an option
        the kind's loader does not take, or a dataset joint or an option named twice (one pair would be dropped).

        Args:
            where: the config field, for the message.

        Returns:
            None.
        """
        from convcorr_jax.data import pose_sets  # the dataset readers: when a training config is checked

        check_types(self, "config", f"{where}.")
        entry = pose_sets.dataset(self.kind)
        if not (isinstance(self.share, (int, float)) and np.isfinite(self.share) and self.share > 0):
            raise InputError("config", f"{where}.share", "a positive number (its part of every batch)", self.share)
        for name, _ in self.options:
            if name not in entry.options:
                raise InputError("config", f"{where}.options", f"options of {self.kind}: {list(entry.options)}",
                                 name)
        for field, what in (("joints", "each dataset joint in one pair (dataset joint, model joint)"),
                            ("options", "each option once")):
            names = [pair[0] for pair in getattr(self, field)]
            twice = [n for i, n in enumerate(names) if n in names[:i]]
            if twice:
                raise InputError("config", f"{where}.{field}", what, f"{twice[0]} twice")


__all__ = ["DataPart"]
