"""`convcorr train pose`'s entry point: a named config with its overrides, one training run, its read-out.

The command line parses and calls `main` once; the loop itself is `convcorr_jax.pose.training.loop.train`, which writes
checkpoints; the export step at each stage's end (`convcorr_jax.pose.export.model_folder.write_stage`, passed as its
`on_stage`) makes the run folder a model after each stage.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Collection, Sequence
from pathlib import Path

import numpy as np

from convcorr_jax.core import metrics, parallel, runinfo
from convcorr_jax.core.config import override
from convcorr_jax.core.errors import InputError, plain
from convcorr_jax.core.paths import refuse_inside
from convcorr_jax.data import pose_sets
from convcorr_jax.pose import joints
from convcorr_jax.pose.export import model_folder
from convcorr_jax.pose.training import loop, run_folder
from convcorr_jax.pose.person_crops import loader_options
from convcorr_jax.pose.training.config import TrainConfig
from convcorr_train.pose_configs import get_config


def config(name: str, out: str | None = None, sets: Sequence[str] = (), logdir: str | None = None) -> TrainConfig:
    """The named config with `--out`, then every `--set field=value`, then `--logdir` applied (later wins); the
    data's skeleton then sets the joint count and the mirror permutation (`with_skeleton`), except where a `--set`
    gave them: there they must agree with it. A `--set data_root=DIR` for data that reads no folder (generated
    people) is refused: it was ignored, the run trained on generated people."""
    cfg = override(get_config(name), [*([f"out={out}"] if out is not None else []), *sets])
    cfg = override(cfg, [f"logdir={logdir}"]) if logdir is not None else cfg
    given = {s.split("=", 1)[0] for s in sets}
    if "data_root" in given and cfg.data_root and not (cfg.dataset().root_about or cfg.datasets):
        kinds = "|".join(k for k, d in pose_sets.DATASETS.items() if d.root_about)
        raise InputError("--set", "data_root", f"unset for data={cfg.data}, which reads no folder (a dataset's "
                         f"folder goes with its data kind: --set data={kinds}, or a config of it)", cfg.data_root)
    cfg = with_skeleton(cfg, given=given)
    check_outside_data(cfg)
    return cfg


def check_outside_data(cfg: TrainConfig) -> None:
    """Refuse a run folder (`--out`/<name>) or event folder (`--logdir`) that is, or lies inside, a dataset folder
    the run reads (data_root; a mixture's parts' folders, data_root being their base; wherever they lead:
    `paths.lies_inside`), as `convcorr run` and `convcorr eval` refuse theirs: a run never writes among the data it
    trains on.

    Args:
        cfg: the run's config.

    Returns:
        None.

    Raises:
        InputError: one line naming --out (or --logdir) and the folder it lies in.
    """
    base = Path(cfg.data_root or ".")  # a mixture's data_root: only the base of its parts' folders
    reads = {f"datasets[{i}].root": str(base / part.root) for i, part in enumerate(cfg.datasets) if part.root} \
        if cfg.datasets else {"data_root": cfg.data_root} if cfg.data_root else {}
    for flag, path, written in (("--out", cfg.out, cfg.run_dir()), ("--logdir", cfg.logdir, cfg.event_dir())):
        for field, folder in reads.items():
            refuse_inside(written, folder, path, flag, f"{field} {folder} (read, never written)", "folder")


_SKELETON_FIELDS = ("model.num_joints", "augment.flip_perm")
"""The fields `with_skeleton` sets from the data's skeleton."""


def with_skeleton(cfg: TrainConfig, given: Collection[str] = ()) -> TrainConfig:
    """cfg with model.num_joints and augment.flip_perm of its data's skeleton (`joints.joint_set`: any registered
    pose dataset kind; one whose files declare the skeleton, as COCO-format folders, read from data_root when
    given). The built-in configs already hold their data's, so they come back unchanged. A field the user gave
    (`given`, e.g. by `--set model.num_joints=17`) is never replaced: it must equal the skeleton's.

    Args:
        cfg: the config.
        given: the dotted names of the fields the user set ("model.num_joints", "augment.flip_perm"; others are
            ignored): the config's value is kept, and must agree with the skeleton's.

    Returns:
        the config for the data's skeleton.

    Raises:
        InputError: a given field that differs from the skeleton's value, naming the field, the skeleton's value
            and the given one.
    """
    sk = joints.joint_set(cfg.data, root=cfg.data_root, **loader_options(cfg.data, cfg))
    have = (cfg.model.num_joints, cfg.augment.flip_perm)
    for field, mine, theirs in zip(_SKELETON_FIELDS, have, (sk.num_joints, sk.flip)):
        if field in given and mine != theirs:
            where = f" in {cfg.data_root}" if cfg.data_root else ""
            raise InputError("--set", field, f"{plain(theirs)} (the {sk.dataset} skeleton of data={cfg.data}{where}) "
                             "or leave it unset", mine)
    if have == (sk.num_joints, sk.flip):
        return cfg
    return dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, num_joints=sk.num_joints),
                               augment=dataclasses.replace(cfg.augment, flip_perm=sk.flip))


def group_table(cfg: TrainConfig, ev: dict) -> str:
    """The headline score (PCK@0.05, MPII PCKh@0.5, PCK@0.2 for COCO-format and LSP data) per joint group (mean of
    the group's joints) of the coarse model and the cascade at the last evaluation (the data's held-out split:
    FLIC's validation movies, the val split, synthetic people's held-out set); "-" for a group none of whose joints
    was scored (none labelled among the held-out people evaluated)."""
    js = joints.joint_set(cfg.data, cfg.model.num_joints, cfg.data_root, **loader_options(cfg.data, cfg))
    groups = js.groups
    entry = pose_sets.dataset(cfg.data)
    score, alpha = entry.headline
    labels = [joints.column_label(g, j, js.names) for g, j in groups.items()]  # MPII's "Head (head top)"
    widths = [max(8, len(c)) for c in labels]
    lines = [f"{score}@{alpha:g} (%) per joint group, each the mean of its joints' {score} "
             f"({entry.held_out_about}, step {ev['step']}):",
             f"{'model':<8} " + " ".join(f"{c:>{w}}" for c, w in zip(labels, widths))]
    for m in ("coarse", "cascade"):
        per = np.asarray(ev[f"{m}_per_joint@{alpha:g}"])
        means = [metrics.mean_scored(per[list(j)]) for j in groups.values()]  # NaN: no joint of the group scored
        lines.append(f"{m:<8} " + " ".join(f"{v:{w}.1f}" if np.isfinite(v) else f"{'-':>{w}}"
                                           for v, w in zip(means, widths)))
    return "\n".join(lines)


def flip_warning(cfg: TrainConfig) -> str | None:
    """The warning for flip augmentation with a skeleton that swaps no point (a COCO-format file whose point names
    carry no side and that gives no flip_pairs): mirrored images keep every label where it was, which is right only
    for points without a side. None when flip is off, the skeleton swaps a pair, or it has one point."""
    perm = tuple(cfg.augment.flip_perm)
    if not cfg.augment.flip or len(perm) < 2 or perm != tuple(range(len(perm))):
        return None
    return (f"warning: the {cfg.data} skeleton swaps no left/right points, so flip augmentation mirrors images without "
            "swapping any label; give the file's flip_pairs if its points have sides, or --set augment.flip=false")


def main(name: str, cfg: TrainConfig, progress: bool = True) -> int:
    """Train `cfg` (named `name` in the header) and print its read-out; the exit code (3: training diverged)."""
    parallel.initialize_distributed()
    run_folder.check_run_folder(cfg)  # a folder of someone's files, or of another run: one line, before the header
    is_main = parallel.is_main_process()  # every process trains; only process 0 reports
    if is_main:
        print(runinfo.header(f"train pose ({name})", cfg, cfg.seed), flush=True)
        if (warning := flip_warning(cfg)) is not None:
            print(warning, flush=True)
        if cfg.event_dir() is not None:
            print(f"event files: {cfg.event_dir()} (tensorboard --logdir {cfg.event_dir()})", flush=True)
    with runinfo.timed() as wall:
        try:
            res = loop.train(cfg, progress=progress, on_stage=model_folder.write_stage)
        except loop.TrainingDiverged as e:
            print(f"convcorr train pose: {e}", file=sys.stderr)
            return 3
    if res.evals and is_main:
        last = res.evals[-1]
        print(group_table(cfg, last))
        score, alpha = pose_sets.dataset(cfg.data).headline
        pooled = run_folder.pooled_joints(cfg)[1]  # MPII PCKh: the toolkit's 14 joints
        print(f"final {score}@{alpha:g} (%){f' over {pooled}' if pooled else ''}: coarse "
              f"{last[f'coarse_pck@{alpha:g}']:.1f}  cascade {last[f'cascade_pck@{alpha:g}']:.1f}  "
              f"-> {res.run_dir}/metrics.json; wall time {wall['seconds']:.1f} s")
    return 0
