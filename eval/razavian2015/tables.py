"""Razavian et al. 2015 on the synthetic data, every table and figure (the demo stage): Table 1 with the
look-back (Fig. 2a, 3), Fig. 6 semantic direction, Table 2 keypoints (Fig. 2b), Fig. 4 RGB and Table 3
segmentation (Fig. 5), with one descriptor whose forward passes are shared by all of them.

    convcorr run razavian2015.tables                     # MobileNetV2 ImageNet weights, flattened pool5-role map
    convcorr run razavian2015.tables --size tiny --backbone caffenet --set weights=random

Sizes (synthetic data, ~75% train / 25% test): tiny 36 faces at 64 px and 36 objects (plumbing); default 500
faces at 128 px (look-back crops 64 px) and 300 objects (crops 128 px); full 2000 faces, 1500 objects, look-back
crops 128 px. Prints "landmarks E1 -> look-back E2 (bias E0); PCK@0.1 P%; RGB MAE M; seg mIoU I% (pixel AP A%)"
for the headline descriptor (`common.Config.descriptor`: the flattened pool5-role map). Real data: the
per-table experiments razavian2015.landmarks (300w), .keypoints (voc), .rgb_segmentation (voc); FLIC (joints,
RGB, direction from the whole frame) here with `--set data=flic --data-root FLIC` (protocol and sizes in
`convcorr_eval.razavian2015.flic_joints`).
"""

from __future__ import annotations

import dataclasses

from convcorr_eval.experiment import Context, Result, require_data
from convcorr_eval.razavian2015 import common, data, directions, flic_joints, keypoints, landmarks, rgb_segmentation


@dataclasses.dataclass(frozen=True)
class Config(common.Config):
    """All Razavian et al. experiments on the synthetic faces and objects."""


def get_config(size: str = "default") -> Config:
    return common.config_at(Config, size)


def run(cfg: Config, ctx: Context) -> Result:
    require_data(cfg, ("synthetic", "flic"))
    desc = common.make_descriptors(cfg)
    if cfg.data == "flic":
        md, m = flic_joints.section(cfg, desc, ctx.figures)
        return Result(flic_joints.summary(m), f"Descriptor: {desc.text}.\n\n{md}", {"flic": m})
    figdir = ctx.figures
    faces = data.synthetic_faces(cfg)
    parts, metrics = [f"Descriptor: {desc.text}.", ""], {}
    for key, (md, m) in (("faces", landmarks.section(cfg, desc, figdir, *faces)),
                         ("directions", directions.section(cfg, desc, figdir, *faces)),
                         ("keypoints", keypoints.section(cfg, desc, figdir, *data.synthetic_objects(cfg))),
                         ("rgb_seg", rgb_segmentation.section(cfg, desc, figdir, data.synthetic_segmentation(cfg)))):
        parts.append(md)
        metrics[key] = m
    summary = "; ".join([landmarks.summary(metrics["faces"]["table1"]), keypoints.summary(metrics["keypoints"]),
                         rgb_segmentation.summary(metrics["rgb_seg"])])
    return Result(summary, "\n".join(parts), metrics)
