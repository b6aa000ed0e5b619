"""The training config of the Tompson et al. cascade (`TrainConfig`), its digests, and the rules for runs that older
code wrote (`fix_old_record`, the one place for them).

A checkpoint carries the config's `fingerprint` (settings that decide the trajectory + the code version of `CODE`):
training resumes only from a checkpoint with the same fingerprint; loading a run's parameters for evaluation needs
only the same settings (`settings_digest`).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from convcorr_jax.core import cache
from convcorr_jax.core.config import check_fields, check_types, from_dict
from convcorr_jax.core.crop_geometry import PERSON_BOX_SCALE
from convcorr_jax.core.errors import InputError
from convcorr_jax.pose import augment, model
from convcorr_jax.pose.data_part import DataPart

OPTIMIZERS = ("adam", "sgd")  # TrainConfig.optimizer (`stages._make_optimizer`)

# the code a training trajectory depends on: its version is part of the checkpoint fingerprint
CODE = ("convcorr_jax.pose", "convcorr_jax.data", "convcorr_jax.core.geometry", "convcorr_jax.core.parallel",
        "convcorr_jax.core.metrics", "convcorr_jax.backbones")
# settings added after training runs existed, with their defaults: left out of `settings_digest` at these values
LATER_FIELDS = {"protocol": "person", "trunk_train": "block7", "trunk_lr": 0.1, "model.trunk": "",
                "model.trunk_weights": "imagenet", "model.trunk_head": 128, "train_images": 0,
                "model.fine_coarse": False, "augment.shift": 0.0, "augment.half_body": 0.0, "augment.upper": (),
                "augment.colour": 0.0, "augment.blur": 0.0, "augment.low_res": 0.0, "augment.occlusion": 0.0,
                "datasets": ()}
# fields that do not decide the parameters or the trajectory: not part of `settings_digest` (data_root: a path; the
# data itself is identified by its content, `checkpoints.data_fingerprint`; init_from: a path, its parameters' sha256 is
# in metrics.json, `checkpoints.start_params`)
NOT_SETTINGS = ("name", "out", "checkpoint_every", "num_devices", "eval_limit", "logdir", "data_root", "init_from",
                "test_images")
LEGACY_SETTINGS = ("data_root",)  # in the settings digest of runs written before it was path-free


def code_version() -> str:
    """Version (16 hex) of the source of `CODE`, the modules training depends on (`cache.code_version`).

    The raw bytes of every .py file are hashed, docstrings and comments included; memoised per process.

    Returns:
        16 lowercase hex digits.
    """
    return cache.code_version(*CODE)


def fix_old_record(kind: str, record: Any, step: int | None = None) -> Any:
    """`record` as today's code reads it, whatever code version wrote it: every compatibility rule of training runs.

    Args:
        kind: "settings": the dict of `TrainConfig.settings_digest`; fields added after runs existed (`LATER_FIELDS`)
            are removed (in place) where they hold their defaults, so that a run trained before them keeps its digest.
            "metrics": a run's metrics.json as parsed; the layout before the runner's schema (the list of evaluations
            itself) comes back as {"metrics": {"evals": list}}.
            "meta": a checkpoint's "meta" at `step`; without "settings_digest" (its "fingerprint" was the settings'
            digest) it gets the fingerprint, without "data_iterator" the input iterator's state at `step`.
        record: the parsed JSON value of that kind.
        step: the checkpoint's step (kind "meta" only).

    Returns:
        The record in today's layout (kind "settings": the same dict; "meta": a new dict
        {..., "settings_digest", "data_iterator": {"next_index": step}}).

    Raises:
        ValueError: another kind.
    """
    if kind == "settings":
        for path, default in LATER_FIELDS.items():
            *parents, leaf = path.split(".")
            node = record
            for name in parents:
                node = node.get(name, {})
            if leaf in node and node[leaf] == default:
                node.pop(leaf)
        return record
    if kind == "metrics":
        return {"metrics": {"evals": record}} if isinstance(record, list) else record
    if kind == "meta":
        return {**record, "settings_digest": record.get("settings_digest", record.get("fingerprint")),
                "data_iterator": record.get("data_iterator", {"next_index": step})}
    raise ValueError(f"fix_old_record: kind {kind!r}, expected 'settings', 'metrics' or 'meta'")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Pose cascade training. Command: `convcorr train pose --config default`; prints a progress bar per run,
    PCK@0.05 of the coarse model and of the cascade after each stage, and writes runs/<name>/{config,metrics}.json +
    checkpoints/ and the TensorBoard event files of `logdir` (`pose.training.loop.train`'s docstring)."""

    name: str = "pose_default"
    model: model.ModelConfig = dataclasses.field(default_factory=model.ModelConfig)
    augment: augment.AugmentConfig = dataclasses.field(default_factory=augment.AugmentConfig)
    data: str = "synthetic"  # "synthetic" (people), "mpii" (annot h5 + images), "flic" (examples.mat + images),
    # "coco" (a COCO-format keypoint folder, any skeleton), "lsp" (LSP / LSPET joints.mat + images): `pose.data`
    data_root: str | None = None  # real data: a folder holding the annotation file(s) and images
    crop_scale: float = PERSON_BOX_SCALE  # FLIC: person-crop side / the torso box's longer side
    protocol: str = "person"  # FLIC input: "person" crops or whole "frame"s (`pose.data`)
    n_samples: int = 1000  # synthetic: samples generated (about 75% train, 25% test)
    batch_size: int = 16  # global batch (split over devices)
    steps: tuple[int, int, int] = (1200, 2000, 500)  # steps of stage 1, 2, 3
    lr: tuple[float, float, float] = (2e-3, 5e-3, 1e-3)  # peak learning rate per stage (warm-up, cosine decay)
    optimizer: str = "adam"  # one of OPTIMIZERS: "adam" or "sgd" (momentum 0.9)
    warmup: int = 50  # linear learning-rate warm-up steps at the start of each stage
    lambda_fine: float = 0.1
    seed: int = 0
    checkpoint_every: int = 100
    num_devices: int | None = None  # default: all devices (of all processes)
    out: str = "runs"
    eval_limit: int | None = None  # evaluate on at most this many test samples
    logdir: str | None = None  # TensorBoard event files: None -> <run folder>/tb, "off" -> none
    trunk_train: str = "block7"  # with a trunk: first trained layer (stem, block1..block13) or "none" (frozen)
    trunk_lr: float = 0.1  # with a trunk: its learning rate / the stage's
    train_images: int = 0  # data=lsp: the leading images that are train + val (0: the standard split; `data.lsp`)
    test_images: int = 0  # data=lsp: the images after them that are test (0: all the rest; not a training setting)
    # data=person: the datasets mixed in every batch (`pose.mixture.DataPart`: kind, folder relative to data_root,
    # share, joint names, loader options)
    datasets: tuple[DataPart, ...] = ()
    # a model folder (a shipped model's, e.g. convcorr_jax/pose/models/person, an export, a run that is a model) whose
    # params.npz starts the run in place of `model.init`'s draw, to continue training it; checked against its sha256,
    # its skeleton's joints (those of the data, in order) and the model's parameter shapes; recorded in metrics.json
    # ("start"); a run resuming its own checkpoint ignores it
    init_from: str | None = None

    def __post_init__(self):
        check_types(self)  # a config built in Python: batch_size=2.5, steps=(inf, 1, 1), model={...}
        check_fields(self, positive=("lr", "batch_size", "n_samples", "checkpoint_every", "crop_scale",
                                     "num_devices", "trunk_lr"),
                     nonnegative=("steps", "warmup", "lambda_fine", "eval_limit", "train_images", "test_images",
                                  "seed"),
                     finite=("lr", "trunk_lr", "crop_scale", "lambda_fine"))
        if sum(self.steps) < 1:
            raise InputError("config", "steps", "steps of the three stages adding up to at least 1", self.steps)
        if self.optimizer not in OPTIMIZERS:
            raise InputError("config", "optimizer", " or ".join(repr(o) for o in OPTIMIZERS), self.optimizer)
        if not self.name or self.name in (".", "..") or any(c in self.name for c in "/\\"):
            raise InputError("config", "name", "a run folder name (not empty, no / or \\, not . or ..)", self.name)

    def check(self) -> None:
        """Checks across fields (`config.validate`): the pyramid depth, the protocol against the data's entry
        (`data.pose_sets`: its protocols; datasets exactly for a mixture), the half-body crop's upper-body joints (given
        when augment.half_body > 0, each below model.num_joints), the trained trunk layer, then the model's
        own (`ModelConfig.validate`, which holds the input-size rule)."""
        if self.model.levels < 1:
            raise InputError("config", "model.levels", ">= 1", self.model.levels)
        entry = self.dataset()
        if self.protocol not in entry.protocols:
            raise InputError("config", "protocol", f"one of {entry.protocols} (the protocols of data={self.data})",
                             self.protocol)
        if entry.mixture != bool(self.datasets):
            raise InputError("config", "datasets", "datasets exactly when data=person (a model of several datasets)",
                             f"data={self.data}, {len(self.datasets)} dataset(s)")
        for i, part in enumerate(self.datasets):
            part.check(f"datasets[{i}]")
        if self.augment.half_body and not self.augment.upper:  # the half-body crop needs the halves
            raise InputError("config", "augment.upper", "the upper body's joint ids when augment.half_body > 0 "
                             f"(augment.half_body={self.augment.half_body:g} crops about one half)", "none")
        if any(j >= self.model.num_joints for j in self.augment.upper):
            raise InputError("config", "augment.upper", f"joint ids below model.num_joints={self.model.num_joints}",
                             self.augment.upper)
        if self.trunk_train not in ("none",) + model.TRUNK_LAYERS:
            raise InputError("config", "trunk_train", "'none' or a trunk layer (stem, block1..block13)",
                             self.trunk_train)
        self.model.validate(prefix="model.")

    def part_roots(self) -> tuple[DataPart, ...]:
        """`datasets` with each folder resolved against data_root (a relative folder is data_root's sub-folder),
        checked before any data is read.

        Returns:
            the parts, each root resolved.

        Raises:
            InputError: one line naming the part's field (`datasets[i].root`): a kind that reads a folder without
                one, a folder that is not there, or a folder another part already reads (its people twice, a
                held-out person of one part possibly a training person of the other).
        """
        from convcorr_jax.data import pose_sets

        base = Path(self.data_root or ".")
        parts = tuple(dataclasses.replace(p, root=None if p.root is None else str(base / p.root))
                      for p in self.datasets)
        seen: dict[tuple[str, Path], int] = {}
        for i, (given, part) in enumerate(zip(self.datasets, parts)):
            about = pose_sets.dataset(part.kind).root_about
            if about and (part.root is None or not Path(part.root).is_dir()):
                relative = given.root and not Path(given.root).is_absolute()
                under = "" if not relative else f" (under data_root={self.data_root})" if self.data_root else \
                    " (under data_root, which is not set: --set data_root=DIR)"
                raise InputError("config", f"datasets[{i}].root", f"{about} for {part.kind}{under}",
                                 part.root if part.root is None else f"{part.root} (no such folder)")
            if part.root is not None:
                key = (part.kind, Path(part.root).resolve())
                if key in seen:
                    raise InputError("config", f"datasets[{i}].root", f"a dataset no other part reads (datasets"
                                     f"[{seen[key]}] reads {part.kind} in {part.root}; change its share instead)",
                                     part.root)
                seen[key] = i
        return parts

    def dataset(self):
        """The entry of the data's kind (`data.pose_sets.dataset`: InputError naming the registered kinds for
        another), imported here, so that reading a config (loading a model) imports no dataset reader.

        Returns:
            the `data.pose_dataset.PoseDataset`.
        """
        from convcorr_jax.data import pose_sets

        return pose_sets.dataset(self.data)

    def data_options(self) -> dict:
        """The options of the data's loader (`data.pose_sets`): {"train_images": N} for a kind whose loader takes
        it (LSP), else {}."""
        return {"train_images": self.train_images} if "train_images" in self.dataset().options else {}

    @property
    def total_steps(self) -> int:
        """Steps of the three stages together."""
        return int(sum(self.steps))

    def stage_of(self, step: int) -> int:
        """Stage (1..3) of the 0-based step index."""
        b1, b2 = self.steps[0], self.steps[0] + self.steps[1]
        return 1 if step < b1 else 2 if step < b2 else 3

    def stage_starts(self) -> dict[int, int]:
        """The 0-based index of each stage's first step."""
        return {1: 0, 2: self.steps[0], 3: self.steps[0] + self.steps[1]}

    def run_dir(self) -> Path:
        """The run folder: out / name."""
        return Path(self.out) / self.name

    def event_dir(self) -> Path | None:
        """Folder of the TensorBoard event files: `logdir`, `<run folder>/tb` when None, None when "off"."""
        if self.logdir == "off":
            return None
        return self.run_dir() / "tb" if self.logdir is None else Path(self.logdir)

    def settings_digest(self, legacy: bool = False) -> str:
        """`cache.digest` of everything that decides the parameter shapes and trajectory (not the `NOT_SETTINGS`:
        name, out, checkpointing, device count, evaluation size, event files, the data's path); older runs' rules:
        `fix_old_record`. legacy: the digest of runs written before it was path-free (data_root included). The
        settings are digested as config.json reads them back (`from_dict`: an int given for a float field, e.g.
        spatial_dropout=0, is 0.0), so that a run's own config.json has its digest."""
        settings = dataclasses.asdict(from_dict(TrainConfig, dataclasses.asdict(self)))
        for part in settings["datasets"]:  # path-free, as data_root
            part.pop("root")
        for field in NOT_SETTINGS:
            if not (legacy and field in LEGACY_SETTINGS):
                settings.pop(field)
        return cache.digest(fix_old_record("settings", settings))

    def fingerprint(self) -> str:
        """`cache.digest` of the settings (`settings_digest`) and the training code's version (`code_version`):
        a checkpoint resumes only under the same fingerprint."""
        return cache.digest({"settings": self.settings_digest(), "code": code_version()})
