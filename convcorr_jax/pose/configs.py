"""Named training configs. Each states its command and what it should print.

  default     `convcorr train pose --config default`: small cascade (pool 8, heat-map sigma 1 cell) on 1000 synthetic
              people (128 px), 1200 / 2000 / 500 steps, 2 CPU cores, 10.2 min; prints PCK@0.05 of coarse and cascade
              after each stage (measured: coarse 2.6, cascade 14.5, see bench/RESULTS_pose.md).
  tiny        seconds; a smoke test of every stage (numbers meaningless).
  standard    the "standard cascade" comparison (fine model on image crops, matched parameters, greedy training).
  no_dropout  SpatialDropout off.
  pool4/pool16 the coarse model at 4x / 16x pooling (Table 2, Fig. 9).
  full        the paper's widths (128-feature banks) on 256 px inputs: accelerator scale.
  flic        FLIC's 11 joints (data=flic, FLIC flip permutation); pass --set data_root=FOLDER.
"""

from __future__ import annotations

import dataclasses
import typing

from convcorr_jax.errors import InputError
from convcorr_jax.pose import augment as aug
from convcorr_jax.pose import model as M
from convcorr_jax.pose.train import TrainConfig

TINY_MODEL = M.ModelConfig(image_size=64, pool=4, levels=2, bank=(4, 6, 8, 8), head=16, fine=(4, 4, 8, 8), context=16)


def get_config(name: str = "default") -> TrainConfig:
    base = TrainConfig(name=f"pose_{name}")
    if name == "default":
        return base
    if name == "tiny":
        return dataclasses.replace(base, model=TINY_MODEL, n_samples=48, batch_size=8, steps=(8, 4, 4),
                                   checkpoint_every=8)
    if name == "standard":
        return dataclasses.replace(base, model=dataclasses.replace(base.model, variant="standard"))
    if name == "no_dropout":
        return dataclasses.replace(base, model=dataclasses.replace(base.model, spatial_dropout=0.0))
    if name in ("pool4", "pool16"):
        return dataclasses.replace(base, model=dataclasses.replace(base.model, pool=int(name[4:])))
    if name == "flic":
        return dataclasses.replace(base, data="flic", model=dataclasses.replace(base.model, num_joints=11),
                                   augment=dataclasses.replace(base.augment, flip_perm=aug.FLIC_FLIP))
    if name == "full":
        return dataclasses.replace(base, model=M.full_model(), n_samples=20000, batch_size=32,
                                   steps=(40000, 10000, 10000), lr=(1e-3, 5e-4, 2e-4), checkpoint_every=1000)
    raise InputError("config", "name", "one of " + ", ".join(NAMES), name)


NAMES = ("default", "tiny", "standard", "no_dropout", "pool4", "pool16", "full", "flic")


def _parse(value: str, like):
    if isinstance(like, bool):
        return value.lower() in ("1", "true", "yes")
    if isinstance(like, tuple):
        parts = [p for p in value.split(",") if p]
        return tuple(_parse(p, like[0]) if like else p for p in parts)
    if like is None:
        return None if value.lower() == "none" else (int(value) if value.lstrip("-").isdigit() else value)
    return type(like)(value)


def override(cfg, assignments: typing.Sequence[str]):
    """Apply "field=value" / "model.field=value" overrides to a (nested) frozen dataclass config."""
    for a in assignments:
        if "=" not in a:
            raise InputError("--set", a, "field=value")
        key, value = a.split("=", 1)
        path = key.split(".")
        objs = [cfg]
        for p in path[:-1]:
            if not hasattr(objs[-1], p):
                raise InputError("--set", key, f"a config field ({p!r} unknown)")
            objs.append(getattr(objs[-1], p))
        leaf = path[-1]
        if not dataclasses.is_dataclass(objs[-1]) or leaf not in {f.name for f in dataclasses.fields(objs[-1])}:
            raise InputError("--set", key, "a config field")
        new = dataclasses.replace(objs[-1], **{leaf: _parse(value, getattr(objs[-1], leaf))})
        for obj, p in zip(reversed(objs[:-1]), reversed(path[:-1])):
            new = dataclasses.replace(obj, **{p: new})
        cfg = new
    return cfg
