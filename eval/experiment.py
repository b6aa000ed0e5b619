"""What every experiment shares: its config fields, the run context it writes into, the result it returns.

An experiment is a module with
    get_config(size: str = "default") -> Config      # a frozen dataclass deriving from ExperimentConfig
    run(cfg: Config, ctx: Context) -> Result
and is listed in `registry.EXPERIMENTS`. It may define `identify(cfg) -> Config`, which the runner calls before
computing the run key, to fill fields that stand for inputs outside the config (the state of a scored training
run). The module's docstring states its commands and what a run prints;
measured numbers and runtimes are in bench/RESULTS*.md and the README, not in docstrings.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Mapping, Sequence, TypeVar

from convcorr_jax.backbones.registry import NAMES as BACKBONES
from convcorr_jax.backbones.registry import check_input_side, resolve_tap
from convcorr_jax.core.config import check_fields
from convcorr_jax.core.errors import InputError

SIZES = ("tiny", "default", "full")
DATASETS = ("synthetic", "voc", "flic", "mpii", "lsp", "300w", "pf_willow", "pf_pascal", "spair")

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class ExperimentConfig:
    """Fields every experiment has. `weights`: None (the real pretrained weights where they can be had),
    "random" (seeded initialisation), or a weight file; `data_root`: the dataset folder for real data.

    Range checks: a subclass checks its own fields in `__post_init__` (after `super().__post_init__()`) with
    `convcorr_jax.core.config.check_fields`, and its role names and image sizes against the backbone in `check()`
    (`check_roles`), which `convcorr_jax.core.config.override` / `validate` call once all fields are set."""

    name: str = ""  # run folder name under the output root; the experiment id when empty
    size: str = "default"  # tiny (seconds, tests) | default (minutes on 2 CPU cores) | full (paper scale)
    seed: int = 0
    backbone: str = "mobilenet_v2"
    weights: str | None = None
    data: str = "synthetic"
    data_root: str | None = None

    def __post_init__(self):
        for field, value, allowed in (("size", self.size, SIZES), ("backbone", self.backbone, BACKBONES),
                                      ("data", self.data, DATASETS)):
            if value not in allowed:
                raise InputError("config", field, f"one of {list(allowed)}", value)
        check_fields(self, nonnegative=("seed",))
        if self.name.startswith(".") or "/" in self.name or "\\" in self.name or self.name != self.name.strip():
            # a leading dot names the runner's own entries beside run folders (.<name>.partial, .<name>.lock):
            # a run named ".a.partial" was deleted as run a's partial folder
            raise InputError("config", "name", "a run folder name (no path separators, no leading dot, no spaces "
                             "around it)", repr(self.name))
        if self.data_root is not None and not str(self.data_root).strip():  # it would name the working folder
            raise InputError("config", "data_root", "a dataset folder (none: no folder)", "an empty value")

    def check(self) -> None:
        """Checks across fields (run by `convcorr_jax.core.config.validate`); none here."""

    def check_roles(self, roles: Sequence[str] = (), sizes: Sequence[str] = ()) -> None:
        """InputError naming the field unless every name in the fields `roles` (a role or tap name, or a tuple of
        them; None skipped) is a role or tap of `self.backbone`, and every size field in `sizes` (px, None
        skipped) is at least the smallest input of each of those taps (`backbones.registry.min_input_side`)."""
        taps = []
        for field in roles:
            value = getattr(self, field)
            for name in value if isinstance(value, tuple) else (value,):
                if name is not None:
                    taps.append(resolve_tap(self.backbone, name, field))
        for field in sizes:
            side = getattr(self, field)
            for tap in taps if side is not None else ():
                check_input_side(self.backbone, tap, side, "config", field)

    def check_data_root(self) -> None:
        """InputError unless real data (data other than synthetic) comes with its folder; the runner calls it
        before a run (not at construction, so that `--data-root` can be applied after `get_config`)."""
        if self.data != "synthetic":
            self.dataset_root()

    def dataset_root(self) -> str:
        """`data_root`, the folder of the real dataset a run reads; the InputError of `check_data_root` when it is
        not set (a run started without the runner, which checks it before any folder is made)."""
        if self.data_root is None:
            raise InputError("config", "data_root", f"the folder of the {self.data} dataset (--data-root DIR)")
        return self.data_root

    def check_weights(self) -> None:
        """InputError unless `weights` is None, "random" or an existing weight file or folder (`check_weights`);
        the runner calls it before a run, so that a mistyped path is refused before any folder is made."""
        check_weights(self.weights, "config", "weights")


def check_weights(weights: str | None, source: str | None, field: str) -> None:
    """InputError unless `weights` is what `weights.load.load_backbone` reads: None (the pretrained weights),
    "random", or the path of an existing weight file or folder (an empty path is refused: it would name the
    working folder).

    Args:
        weights: the value given.
        source: where it came from ("config"; None for a command-line flag).
        field: its name ("weights", "--weights").

    Returns:
        None.
    """
    if weights is None or weights == "random":
        return
    if not str(weights).strip() or not Path(weights).exists():
        raise InputError(source, field, "none (the pretrained weights), 'random', or an existing weight file or "
                         "folder", "an empty value" if not str(weights).strip() else f"{weights} (no such file)")


def nest_transfer(cfg: ExperimentConfig) -> None:
    """For a config holding a `PointTransferConfig` as `cfg.transfer` (called from its `__post_init__`): InputError
    unless it is one, and one backbone per run. Where `cfg.backbone` and `cfg.transfer.backbone` differ, the one
    that is not at its class default is set on both (`--set backbone=X` and `--set transfer.backbone=X` mean the
    same); InputError where both were set to different networks."""
    from convcorr_jax.correspondence.point_config import PointTransferConfig

    transfer = getattr(cfg, "transfer")  # the field of the subclasses that call this (not of ExperimentConfig)
    if not isinstance(transfer, PointTransferConfig):
        raise InputError("config", "transfer", "a PointTransferConfig", type(transfer).__name__)
    own, nested = cfg.backbone, transfer.backbone
    if own == nested:
        return
    own_default = type(cfg).__dataclass_fields__["backbone"].default
    nested_default = PointTransferConfig.__dataclass_fields__["backbone"].default
    if nested == nested_default:
        object.__setattr__(cfg, "transfer", dataclasses.replace(transfer, backbone=own))
    elif own == own_default:
        object.__setattr__(cfg, "backbone", nested)
    else:
        raise InputError("config", "transfer.backbone", f"the run's backbone {own!r} (one backbone per run: set "
                         "`backbone` alone)", nested)


def sized(size: str, table: Mapping[str, T]) -> T:
    """`table[size]` for a {"tiny": ..., "default": ..., "full": ...} table; InputError for another size."""
    if size not in table:
        raise InputError("config", "size", f"one of {list(table)}", size)
    return table[size]


def require_data(cfg: ExperimentConfig, supported: tuple[str, ...]) -> None:
    """InputError unless the experiment supports `cfg.data`."""
    if cfg.data not in supported:
        raise InputError("config", "data", f"one of {list(supported)} for this experiment", cfg.data)


@dataclasses.dataclass(frozen=True)
class Context:
    """Where a run writes: `run_dir/figures/*.png` for figures; `progress` shows progress bars."""

    run_dir: Path
    progress: bool = True

    @property
    def figures(self) -> Path:
        p = self.run_dir / "figures"
        p.mkdir(parents=True, exist_ok=True)
        return p


@dataclasses.dataclass
class Result:
    """summary: one line for the terminal; markdown: tables and figure links (relative to the run folder);
    metrics: JSON-ready numbers."""

    summary: str
    markdown: str = ""
    metrics: dict[str, Any] = dataclasses.field(default_factory=dict)
