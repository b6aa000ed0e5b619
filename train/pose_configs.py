"""Named training configs of the Tompson et al. cascade: `get_config(name) -> TrainConfig`.

Command: `convcorr train pose --config NAME [--set field=value ...]`; the names are the keys of `CONFIGS`. Every
run prints a progress bar, the headline score (PCK@0.05, torso; MPII: PCKh@0.5) of the coarse model and of the
cascade after each stage, and a final
"final PCK@0.05: coarse C  cascade F" line; it writes runs/<name>/{config,metrics}.json, checkpoints/ (the same
command resumes a killed run; metrics.json in the runner's schema, `convcorr_jax.pose.training.loop`), tb/ (TensorBoard
event files: loss per stage, learning rate, validation PCK; `--logdir DIR|off`) and, for the FLIC configs, the
spatial model (spatial.json: `convcorr_jax.pose.spatial.FLIC_VALIDATED`; spatial_priors.npy: priors learned from
the people the run trains on). `convcorr pose IMAGES... --run runs/<name>` (`convcorr_jax.pose.estimate`) applies a
trained run to one's own images.

  default     small cascade (pool 8, heat-map sigma 1 cell) on 1000 synthetic people (128 px), 1200 / 2000 / 500
              steps.
  tiny        a 64 px toy model, 8 / 4 / 4 steps on 48 people: a smoke test of every stage (numbers meaningless).
  standard    the "standard cascade" comparison (fine model on image crops, matched parameters, greedy training).
  no_dropout  default without SpatialDropout.
  pool4       the coarse model at 4x pooling (Table 2, Fig. 9).
  pool16      ... at 16x pooling.
  full        the paper's widths (128-feature banks) on 256 px inputs, 60,000 steps: accelerator scale.
  flic_tiny   FLIC's 11 joints, the tiny model at 64 px, 8 / 4 / 4 steps: `convcorr train pose --config flic_tiny`
              then `convcorr eval flic --model runs/pose_flic_tiny --root FLIC` (a smoke test of every stage and of
              the evaluation; numbers meaningless).
  flic        the best FLIC configuration within the CPU budget (45 min on 2 cores): the generic-feature
              variant (beyond the paper). The coarse model reads a pretrained MobileNetV2 trunk (ImageNet weights;
              block7..block13 fine-tuned at the stage's learning rate, stem..block6 and the batch-norm statistics
              frozen; `convcorr_jax.pose.model`), the paper's fine model crops the trunk's shared features and,
              beyond the paper, its joint's coarse heat-map (`model.fine_coarse`: the fine model alone lost to the
              refined coarse read-out on elbows, bench/RESULTS_pose.md); FLIC's
              11 joints, flip; 128 px person crops of 2.5 x the torso box's longer side; learning rates 2e-3 / 5e-3
              / 1e-3, 6400 / 2400 / 1200 steps. Trunk settings chosen on the validation movies by
              `python -m convcorr_eval.tompson2015.flic_sweep --grid trunk --root FLIC`, the schedule there too
              among schedules that train within the budget (bench/RESULTS_pose.md):
              `convcorr train pose --config flic --set data_root=FLIC`, then
              `convcorr eval flic --model runs/pose_flic --root FLIC --json flic.json` (with and without the spatial
              model, whose settings `convcorr run tompson2015.spatial_validation --data-root FLIC --set
              run_dir=runs/pose_flic_paper` chose on the validation movies). The training loop evaluates on the
              validation movies (its coarse read-out is the integer arg-max).
  flic_frame  `flic` on the paper's input protocol: whole FLIC frames letterboxed into 256 px squares (every
              person in view; the torso box only conditions the spatial model, which picks the person),
              1200 / 2000 / 400 steps (the budget): `convcorr train pose --config flic_frame --set
              data_root=FLIC`, then `convcorr eval flic --model runs/pose_flic_frame --root FLIC`.
  flic_native `flic_frame` with whole FLIC frames at their native size (360 x 240 as shipped, the paper's
              320 x 240 protocol at the shipped resolution): no downscaling letterbox, the frame centred in a
              384 px input (`pose.data` protocol "native"), heat maps at the trunk's stride 8; 300 / 450 / 90
              steps, set by the budget (31.6 min on the 2-core CPU, bench/RESULTS_pose.md); evaluated with
              test-time flip and the spatial model, both chosen on the validation movies:
              `convcorr train pose --config flic_native --set data_root=FLIC`, then
              `convcorr eval flic --model runs/pose_flic_native --root FLIC --set test_flip=true`
              (`python -m convcorr_eval.tompson2015.flic_sweep --grid frame --root FLIC`: the sweep of its
              settings, several hours on the CPU).
  flic_paper  the paper's model (multi-resolution banks trained from scratch, the small CPU widths) on FLIC's
              person crops as `flic`: sigma 1 cell, learning rates 2e-3 / 5e-3 / 1e-3, 1600 / 3600 / 800 steps,
              crop scale 2.5, all chosen on the validation movies (learning rates and crop scale by
              `python -m convcorr_eval.tompson2015.flic_sweep --root FLIC`).
  flic_full   the paper's model and input: its widths (128-feature banks, sigma 1.5) at 4x pooling (its best FLIC
              row) on whole FLIC frames at native size (protocol "native", 384 px input as `flic_native`, the
              spatial model picking the person), batch 32, 40000 / 10000 / 10000 steps: accelerator scale
              (`convcorr train pose --config flic_full --set data_root=FLIC`; `python bench/accelerator.py`
              trains it for a given number of minutes, docs/scaling.md).
  flic_gpu    the `flic` recipe scaled for one GPU, each change from `flic` for the larger device: 256 px person
              crops at the same crop scale (2.5 x the torso box: twice the pixels per person, finer heat maps at
              the trunk's stride 8, 32 x 32 cells), the fine window (`model.context` 80 px) and the heat-map
              sigma (2 cells) doubled with them, so that the fine model sees the same person-relative window and
              the targets keep their validated width relative to the person; the fine model twice as wide
              (32 / 32 / 48 / 48) for the compute the device has to spare, without `flic`'s fine_coarse
              (validated at 256 px: the product read-out of the plain fine model scored higher); batch 64
              (4 x: the device's throughput); a schedule of 12800 / 4800 / 2400 steps (`flic`'s proportions,
              twice as long, 8 x the images) that `python bench/accelerator.py` scales at run time to the
              minutes it is given from the step times it measures (docs/scaling.md). Trunk, learning rates and
              flip are `flic`'s. On the CPU at a tiny size with `--set` overrides (bench/accelerator.py's
              `TINY_SET`, which its `--tiny` applies: 64 px, batch 8, the trunk's weights random and frozen; steps
              from its budget).
  coco        the `flic` recipe (trunk, schedule, learning rates, flip) on person crops (1.25 x each annotation's
              bbox, 128 px) of a COCO-format keypoint folder with any skeleton, read from its files (joint count and
              mirror permutation set from them): `convcorr train pose --config coco --set data_root=DIR [--set
              steps=A,B,C]`, then `convcorr eval pose --model runs/pose_coco --root DIR` (docs/library.md).
  coco_tiny   `coco` with the tiny model at 64 px, 8 / 4 / 4 steps: a smoke test (numbers meaningless).
  lsp         the `flic` recipe on LSP / LSP-extended (joints.mat + images/; whole images letterboxed in 128 px),
              1600 / 900 / 600 steps (LSPET, `--set train_images=3000`: im00001-im03000 train + validation, the
              rest test, or with `--set test_images=1000` im03001-im04000; the fine and joint stages lengthened
              after the validation part showed the cascade level with the coarse model at 1600 / 600 / 300;
              bench/RESULTS_pose.md).
  mpii        the `flic` recipe on MPII's person crops (train.h5, valid.h5, images/).
  person      people of every kind from several datasets and skeletons (`pose.mixture`): FLIC and LSP-extended's
              train part (im00001-im05000) on the person skeleton (FLIC's 11 joints, legs, neck, head top), half of
              every batch each, person-box crops at 128 px, the augmentations for photos of every kind; evaluated on
              FLIC's validation movies and LSP-extended's im05001-im05500: `convcorr train pose --config person
              --set data_root=DIR` (DIR/flic, DIR/lspet; one part's share or folder: `--set datasets.1.share=0.75`,
              `--set datasets.0.root=/data/FLIC`). `person_tiny`: its smoke test (numbers meaningless).
  person_gpu  `person` at `flic_gpu`'s global batch and schedule (same 128 px crops: the CPU cost per person stays
              `flic`'s), for bench/accelerator.py --people (a `pose.mixture_pack` archive).
  person_cpu  `person` continued on a CPU, for a model that already exists (`--set init_from=FOLDER`, e.g. the
              shipped convcorr_jax/pose/models/person): a quarter of every batch from FLIC and three quarters from
              LSP-extended, 5000 / 2000 / 1200 steps at batch 16 and half `person`'s learning rates.
              `person_cpu_160`: the same at 160 px crops (sigma and fine window x 1.25), 2500 / 1000 / 600 steps.
FLIC configs train on FLIC train minus the validation movies and evaluate on those movies after each stage
(`convcorr_jax.pose.data`); the FLIC folder is given with `--set data_root=FOLDER` (examples.mat + images/).
Runtimes and measured numbers: bench/RESULTS_pose.md.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from convcorr_jax.core.errors import InputError
from convcorr_jax.pose import joints
from convcorr_jax.pose import model as pose_model
from convcorr_jax.data import lsp, skeletons
from convcorr_jax.pose.data_part import DataPart
from convcorr_jax.pose.training.config import TrainConfig

FLIC_STEPS = (1600, 3600, 800)  # schedule, learning rates and crop scale chosen on the validation movies
FLIC_LR = (2e-3, 5e-3, 1e-3)  # (bench/RESULTS_pose.md, tompson2015.flic_sweep); crop scale: TrainConfig.crop_scale
FLIC_TRUNK_STEPS = (6400, 2400, 1200)  # `flic`: chosen on the validation movies within the CPU budget
FLIC_FRAME_STEPS = (1200, 2000, 400)  # `flic_frame`: 256 px frames, the same budget
FLIC_NATIVE_STEPS = (300, 450, 90)  # `flic_native`: 384 px inputs, the budget (31.6 min on the 2-core CPU)
COCO_STEPS = FLIC_TRUNK_STEPS  # `coco`: the `flic` recipe; `--set steps=A,B,C` for a smaller dataset or budget
COCO_CROP_SCALE = 1.25  # `coco`: person-crop side / the annotation bbox's longer side
GPU_SCALE = 2  # `flic_gpu`: crop side, fine window and heat-map sigma x this, same crop scale (person-relative)
GPU_FINE = (32, 32, 48, 48)  # `flic_gpu`: the fine model's widths (`flic`'s default: 16 / 16 / 24 / 24)
GPU_BATCH = 64  # `flic_gpu`: global batch
# `flic_gpu`: the fine model without the coarse map: at 256 px the plain fine model with the product read-out beat
# the one that reads the coarse map on the validation movies (bench/RESULTS_pose.md, "Why the fine model lost")
GPU_FINE_COARSE = False
GPU_STEPS = (12800, 4800, 2400)  # `flic_gpu`: `flic`'s proportions, 2 x; bench/accelerator.py fits it to its budget
PERSON_SHARES = (0.5, 0.5)  # `person`: FLIC's and LSP-extended's parts of every batch
PERSON_STEPS = (6400, 2400, 1200)  # `person`: `flic`'s schedule
# `person_cpu`: a continuation's shares (FLIC, LSP-extended), schedule and learning-rate factor (one run, kept only
# if the validation people of both datasets score higher; bench/RESULTS_pose.md)
PERSON_CPU_SHARES = (0.25, 0.75)
PERSON_CPU_STEPS = (5000, 2000, 1200)
PERSON_CPU_LR_FACTOR = 0.5
# `person_cpu_160`: the continuation at 160 px crops (LSP-extended's people are ~150 px tall in their photos: about
# their own size), heat-map sigma and fine window x 1.25 (the same person-relative sizes), a shorter schedule (88
# minutes on a 2-core CPU; one run, kept only if the validation people score higher; bench/RESULTS_pose.md)
PERSON_160 = 160
PERSON_160_STEPS = (2500, 1000, 600)
# `person`: rotation up to 40 degrees (LSP-extended has people upside down), scale 0.65-1.35, box shift, half-body
# crops, colour, blur, low resolution and occlusion (mmpose's top-down ranges; not yet chosen on validation)
PERSON_AUGMENT: dict[str, Any] = {"rotation": 40.0, "scale": (0.65, 1.35), "shift": 0.1, "half_body": 0.3,
                                  "colour": 0.3, "blur": 0.1, "low_res": 0.1, "occlusion": 0.2}  # AugmentConfig fields
LSP_STEPS = (1600, 900, 600)  # `lsp`: chosen on LSPET's validation part (bench/RESULTS_pose.md)
NATIVE_SIZE = 384  # the smallest input side >= FLIC's 360 px frames that the trunk's strides divide
TINY_MODEL = pose_model.ModelConfig(image_size=64, pool=4, levels=2, bank=(4, 6, 8, 8), head=16, fine=(4, 4, 8, 8),
                                    context=16)


def _default() -> TrainConfig:
    return TrainConfig(name="pose_default")


def _tiny() -> TrainConfig:
    return dataclasses.replace(_default(), name="pose_tiny", model=TINY_MODEL, n_samples=48, batch_size=8,
                               steps=(8, 4, 4), checkpoint_every=8)


def _model_variant(name: str, **changes) -> Callable[[], TrainConfig]:
    """The default config with `changes` to its model."""
    return lambda: TrainConfig(name=f"pose_{name}", model=dataclasses.replace(pose_model.ModelConfig(), **changes))


def _full() -> TrainConfig:
    return TrainConfig(name="pose_full", model=pose_model.full_model(), n_samples=20000, batch_size=32,
                       steps=(40000, 10000, 10000), lr=(1e-3, 5e-4, 2e-4), checkpoint_every=1000)


def _flic_base(name: str) -> TrainConfig:
    """FLIC's 11 joints and flip; trained on FLIC train minus the validation movies, evaluated on those movies
    during training (`convcorr_jax.pose.data`); the test split only through `convcorr eval flic`."""
    return TrainConfig(name=f"pose_{name}", data="flic",
                       model=dataclasses.replace(pose_model.ModelConfig(), num_joints=11),
                       augment=dataclasses.replace(TrainConfig().augment, flip_perm=joints.FLIC.flip))


def _flic_paper() -> TrainConfig:
    return dataclasses.replace(_flic_base("flic_paper"), steps=FLIC_STEPS, lr=FLIC_LR, checkpoint_every=100)


def _flic() -> TrainConfig:
    base = _flic_base("flic")
    return dataclasses.replace(base, model=dataclasses.replace(base.model, trunk="mobilenet_v2", fine_coarse=True),
                               steps=FLIC_TRUNK_STEPS, lr=FLIC_LR, trunk_train="block7", trunk_lr=1.0,
                               checkpoint_every=200)


def _flic_frame() -> TrainConfig:
    base = _flic()
    return dataclasses.replace(base, name="pose_flic_frame", protocol="frame",
                               model=dataclasses.replace(base.model, image_size=256), steps=FLIC_FRAME_STEPS)


def _flic_native() -> TrainConfig:
    base = _flic_frame()
    return dataclasses.replace(base, name="pose_flic_native", protocol="native",
                               model=dataclasses.replace(base.model, image_size=NATIVE_SIZE), steps=FLIC_NATIVE_STEPS)


def _resized(m: pose_model.ModelConfig, size: int, **changes) -> pose_model.ModelConfig:
    """`m` at `size` px inputs with the heat-map sigma and the fine window scaled with it (the same sizes relative
    to the person; the window rounded to a multiple of 2^levels), and `changes`."""
    k = size / m.image_size
    return dataclasses.replace(m, image_size=size, sigma=k * m.sigma,
                               context=int(round(k * m.context / 2 ** m.levels)) * 2 ** m.levels, **changes)


def _flic_gpu() -> TrainConfig:
    base = _flic()
    m = base.model
    return dataclasses.replace(base, name="pose_flic_gpu", batch_size=GPU_BATCH, steps=GPU_STEPS, checkpoint_every=500,
                               model=_resized(m, GPU_SCALE * m.image_size, fine=GPU_FINE,
                                              fine_coarse=GPU_FINE_COARSE))


def _recipe(name: str, data: str, crop_scale: float, steps: tuple[int, int, int]) -> Callable[[], TrainConfig]:
    """The validated `flic` recipe (ImageNet trunk + the paper's fine model) on another dataset's person crops, with
    the joint count and mirror permutation of the data kind's skeleton (`joints.joint_set`; COCO-format folders:
    COCO-17 until `with_skeleton` reads the folder's own)."""

    def build() -> TrainConfig:
        skeleton = joints.joint_set(data)
        base = _flic()
        # fine_coarse off: these recipes were validated without it (it was chosen on FLIC's validation movies)
        return dataclasses.replace(base, name=f"pose_{name}", data=data, crop_scale=crop_scale, steps=steps,
                                   model=dataclasses.replace(base.model, num_joints=skeleton.num_joints,
                                                             fine_coarse=False),
                                   augment=dataclasses.replace(base.augment, flip_perm=skeleton.flip))

    return build


def _person() -> TrainConfig:
    """People of every kind: FLIC and LSP-extended's fixed train part (`data.lsp.LSPET_PARTS`) mapped onto the
    person skeleton, half of every batch each, cropped from person boxes drawn from the labelled joints
    (`pose.mixture`), with the augmentations for photos of every kind (ranges: mmpose's top-down defaults, to be
    chosen on the validation parts). `--set data_root=DIR`, DIR holding flic/ (examples.mat + images/) and lspet/
    (joints.mat + images/)."""
    base = _flic()
    sk = skeletons.PERSON
    upper = tuple(i for i, n in enumerate(sk.names) if not n.endswith(("hip", "knee", "ankle")))
    parts = (DataPart("flic", "flic", PERSON_SHARES[0]),
             DataPart("lsp", "lspet", PERSON_SHARES[1], options=tuple(lsp.LSPET_PARTS.items())))
    aug = dataclasses.replace(base.augment, flip_perm=sk.flip, upper=upper, **PERSON_AUGMENT)
    return dataclasses.replace(base, name="pose_person", data="person", datasets=parts, crop_scale=1.0,
                               steps=PERSON_STEPS, augment=aug,
                               model=dataclasses.replace(base.model, num_joints=sk.num_joints, fine_coarse=False))


def _person_gpu() -> TrainConfig:
    base = _person()
    return dataclasses.replace(base, name="pose_person_gpu", batch_size=GPU_BATCH, steps=GPU_STEPS,
                               checkpoint_every=500)


def _person_cpu() -> TrainConfig:
    base = _person()
    parts = tuple(dataclasses.replace(part, share=share) for part, share in zip(base.datasets, PERSON_CPU_SHARES))
    lr0, lr1, lr2 = (PERSON_CPU_LR_FACTOR * lr for lr in base.lr)  # a peak per stage, as TrainConfig.lr
    return dataclasses.replace(base, name="pose_person_cpu", datasets=parts, steps=PERSON_CPU_STEPS,
                               lr=(lr0, lr1, lr2), checkpoint_every=500)


def _person_cpu_160() -> TrainConfig:
    base = _person_cpu()
    return dataclasses.replace(base, name="pose_person_cpu_160", steps=PERSON_160_STEPS,
                               model=_resized(base.model, PERSON_160))


def _person_tiny() -> TrainConfig:
    base = _person()
    return dataclasses.replace(base, name="pose_person_tiny", batch_size=8, steps=(8, 4, 4), checkpoint_every=8,
                               eval_limit=64, model=dataclasses.replace(TINY_MODEL, num_joints=base.model.num_joints))


def _coco_tiny() -> TrainConfig:
    base = _recipe("coco_tiny", "coco", COCO_CROP_SCALE, (8, 4, 4))()
    return dataclasses.replace(base, model=dataclasses.replace(TINY_MODEL, num_joints=base.model.num_joints),
                               batch_size=8, checkpoint_every=8, eval_limit=64)


def _flic_tiny() -> TrainConfig:
    return dataclasses.replace(_flic_base("flic_tiny"), model=dataclasses.replace(TINY_MODEL, num_joints=11),
                               batch_size=8, steps=(8, 4, 4), checkpoint_every=8, eval_limit=64)


def _flic_full() -> TrainConfig:
    return dataclasses.replace(_flic_base("flic_full"), protocol="native",
                               model=pose_model.full_model(num_joints=11, pool=4, image_size=NATIVE_SIZE),
                               batch_size=32,
                               steps=(40000, 10000, 10000), lr=(1e-3, 5e-4, 2e-4), checkpoint_every=1000)


# the one registry of named configs: name -> builder (described in the module docstring)
CONFIGS: dict[str, Callable[[], TrainConfig]] = {
    "default": _default,
    "tiny": _tiny,
    "standard": _model_variant("standard", variant="standard"),
    "no_dropout": _model_variant("no_dropout", spatial_dropout=0.0),
    "pool4": _model_variant("pool4", pool=4),
    "pool16": _model_variant("pool16", pool=16),
    "full": _full,
    "flic": _flic,
    "flic_frame": _flic_frame,
    "flic_native": _flic_native,
    "flic_paper": _flic_paper,
    "flic_tiny": _flic_tiny,
    "flic_full": _flic_full,
    "flic_gpu": _flic_gpu,
    "coco": _recipe("coco", "coco", COCO_CROP_SCALE, COCO_STEPS),
    "coco_tiny": _coco_tiny,
    "lsp": _recipe("lsp", "lsp", 1.0, LSP_STEPS),
    "mpii": _recipe("mpii", "mpii", 1.0, FLIC_TRUNK_STEPS),
    "person": _person,
    "person_gpu": _person_gpu,
    "person_cpu": _person_cpu,
    "person_cpu_160": _person_cpu_160,
    "person_tiny": _person_tiny,
}
NAMES = tuple(CONFIGS)


def get_config(name: str = "default") -> TrainConfig:
    """The named TrainConfig (see the module docstring); InputError for an unknown name."""
    if name not in CONFIGS:
        raise InputError("config", "name", "one of " + ", ".join(CONFIGS), name)
    return CONFIGS[name]()
