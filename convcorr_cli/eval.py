"""`convcorr eval`: evaluate prediction files against ground truth, and score pose models. One subcommand each:

  convcorr eval pckh --preds preds.h5 [more.mat ...] --annot annot/valid.h5 [--json out.json] [--figure f.png]
  convcorr eval pckh --reference MPII_FOLDER        # the published files in MPII_FOLDER/reference_preds/
  convcorr eval pck --preds preds.npz --gt gt.npz [--alpha 0.05] [--json out.json]
  convcorr eval mpii --model MODEL --annot annot/valid.h5 [--images DIR] [--h5 preds.h5] [--json out.json]
  convcorr eval flic --model MODEL --root FLIC_FOLDER [--json out.json] [--figure fig15.png] [--split test]
  convcorr eval pose --model MODEL --root DATASET [--split val|test] [--flip] [--json out.json]
  convcorr eval pf-willow --root PF-dataset-WILLOW [--method ot_rhm|rhm|ot|cos|bp] [--backbone B] [--taps T ...]
                          [--image-size 224] [--size tiny|default|full] [--features cnn|sift|none]
                          [--classes "car(S),duck(S)"] [--pairs 9] [--json out.json]
  convcorr eval pf-pascal --root PF-PASCAL [--split test] [the options of pf-willow]
  convcorr eval spair --root SPair-71k [--split test] [the options of pf-willow]

MODEL (`--model`; `--run` is the same flag): a shipped model's name (`flic`, `flic_256`, `person`), a model folder (an
export of `python -m convcorr_train.ship_model`) or a `convcorr train pose` run folder, read by `convcorr_jax.pose.load`
and scored with its stored read-out (readout.json, chosen on its validation split); scoring never writes into it
(`python -m convcorr_train.choose_readout` chooses a FLIC model's read-out again).

`pckh` and `pck` score prediction files. `flic`, `mpii` and `pf-willow` are the experiments `tompson2015.flic`,
`tompson2015.mpii` and `long2014.pf_willow` of `convcorr run` with their config built from the options: each
writes a run folder OUT/NAME (`--out`, default runs; `--out-dir` is an old name for it; `--name`, default the
experiment's readable name for its inputs, e.g. `long2014.pf_willow_none_vgg16`, then `_` and 6 hex digits of a digest
of every setting, each path it reads by where it leads, and of the scored model's identity (its model.json's sha256,
`tompson2015.trained.model_state`): `run_name`), so runs with other settings or of other models never share a
folder and the same settings find their finished run.
It holds config.json, metrics.json, report.md/html and figures/; an identical finished run is kept, one on
changed data (a file added, removed or changed under `--root`) or older code runs again, and a named folder
holding a run with other settings is refused unless `--force` (as `convcorr run`). Then it prints its tables and
copies the JSON, figure or prediction file to `--json`, `--figure`, `--h5` where given.

Every subcommand's `--json` says what ran beside the scores: "config" (the settings; "seed" among them, null where
scoring draws no random numbers), "versions" (`runinfo.versions`), "devices" (the JAX devices, `runinfo.devices`)
and "seconds" (wall time); an alias's versions, devices and wall time are its run folder's metrics.json's, also for
a kept run (its wall time unless its scores hold their own).

`pf-willow`: keypoint transfer on the PF-WILLOW sub-classes under `--root` (Proposal Flow protocol, PCK per
sub-class); default: the validated row, SCOT's optimal transport + Hough matching (`ot_rhm`) on VGG-16
hyperpixels (`convcorr_eval.long2014.pf_willow`). `--size` is the experiment's size as in `convcorr run`
(tiny: 2 pairs per sub-class, 160 px); `--image-size` the frame side in pixels. `--features sift` and
`--features none` run BP flow (SIFT flow, zero flow) unless `--method` names another method; the printed row
says which features and method it ran.

`pf-pascal`, `spair`: the same transfer and options on PF-PASCAL and SPair-71k (`long2014.pf_pascal`,
`long2014.spair`; layouts in docs/data.md), on `--split` (default test); `--classes` and `--pairs` select
categories and the first N pairs of each. PCK as HPF and SCOT: alpha x max(h, w) of the target image (PF-PASCAL)
or of the target's object box (SPair-71k), mean over pairs, with each category's mean.

`pckh`: MPII PCKh (official toolkit definition) at 0.5 and 0.1, and the AUC. `pck` reads `preds` [N, K, 2] from
an .npz/.npy/.h5 file and ground truth from an .npz with `points` [N, K, 2], `visible` [N, K] and `norm` [N]
(e.g. torso size for FLIC); it prints PCK per joint at alpha and the curve (`convcorr_eval.pck`). Both match by
row order: row i of a prediction file is scored against person (instance) i of the ground truth, and a file of
another number of rows is refused; they print and write to the JSON what was scored (pckh: "people", "joints", the
annotated joints its Total pools; pck: "instances", "keypoints", the visible ones). Points are (x, y) compared as
stored, in the ground truth's frame: for pckh MPII's 1-based pixels, as annot/valid.h5 and the published MATLAB
files hold them (`convcorr eval mpii` writes its 0-based predictions + 1), for pck the ground truth's own. Both
print the run header (`runinfo.header`: config, versions, devices) above their tables and the wall time below; a NaN or
infinite prediction is a miss, counted in a warning line on stderr; a NaN ground-truth point marked visible is
refused (its file, field and index); `--reference` names on stderr each published file it does not find; in the
JSON a score with nothing to average is null. `flic`: a
FLIC pose model (`flic`, or `convcorr train pose --config flic`) on the FLIC test split: PCK per joint group at
0.05/0.1/0.2 of the model's validated read-out, the coarse model and the cascade
(`convcorr_eval.tompson2015.flic_scores`). `mpii`: a pose model trained on MPII: its predictions written back in the
MPII frame (1-based h5 `preds`) and scored by PCKh (`convcorr_eval.tompson2015.mpii`). `pose`: any trained pose model
(any skeleton: COCO-format folders, LSP/LSPET, FLIC, MPII) on `--split` of the dataset `--root`: PCK per joint group
at the skeleton's normaliser (named) of its validated read-out, the cascade, the coarse model and the mean pose,
PCKh where a head segment exists, COCO's OKS AP (pycocotools) for COCO-format data
(`convcorr_eval.tompson2015.pose_scores`). A new protocol is a pair of functions (add its arguments, run it) in
`SUBCOMMANDS`.

This module registers the subcommands (`SUBCOMMANDS`, their `--help` in `HELP`); they live in `eval_files` (pckh,
pck: prediction files), `eval_models` (flic, mpii, pose: pose models) and `eval_transfer` (pf-willow, pf-pascal,
spair: keypoint transfer), on `eval_output` (what each checks, prints and writes) and `eval_runs` (the run folders of
the subcommands that are experiments of `convcorr run`).
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable

from convcorr_jax.core.errors import InputError
from convcorr_cli.eval_files import pck_arguments, pckh_arguments, score_pck, score_pckh
from convcorr_cli.eval_models import flic_arguments, mpii_arguments, pose_arguments, score_flic, score_mpii, score_pose
from convcorr_cli.eval_transfer import pf_benchmark_arguments, pf_willow_arguments, score_pf_benchmark, score_pf_willow
from convcorr_cli.options import document, group_examples


# subcommand -> (one-line help, add its arguments, run it)
SUBCOMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]] = {
    "pckh": ("PCKh (MPII toolkit definition) of prediction files against annot/valid.h5", pckh_arguments, score_pckh),
    "pck": ("PCK normalised per instance (FLIC: torso size)", pck_arguments, score_pck),
    "mpii": ("a trained MPII pose model: predictions as an MPII h5, scored by PCKh", mpii_arguments, score_mpii),
    "flic": ("a pose model on FLIC: PCK per joint group (torso), its validated read-out, coarse and cascade",
             flic_arguments, score_flic),
    "pose": ("any trained pose model on any skeleton: PCK per joint group at the skeleton's normaliser, PCKh, COCO "
             "OKS AP", pose_arguments, score_pose),
    "pf-willow": ("keypoint transfer on PF-WILLOW (Proposal Flow protocol), by default SCOT's optimal transport + "
                  "Hough matching on VGG-16 + MobileNetV2 + EfficientNet-Lite2 hyperpixels", pf_willow_arguments,
                  score_pf_willow),
    "pf-pascal": ("keypoint transfer on PF-PASCAL (HPF/SCOT split, PCK at alpha x the target image's max side), "
                  "PF-WILLOW's settings", pf_benchmark_arguments("pf_pascal"), score_pf_benchmark("pf_pascal")),
    "spair": ("keypoint transfer on SPair-71k (its split, PCK at alpha x the target box's max side), PF-WILLOW's "
              "settings", pf_benchmark_arguments("spair"), score_pf_benchmark("spair")),
}


_RUN_FOLDER = ("Writes the run folder OUT/NAME (--out, default runs; NAME: --name, or the experiment's readable name "
               "and a digest of every setting): config.json, metrics.json, report.md/html, figures/; an identical "
               "finished run is kept (--force runs it again). Then prints its tables")
# subcommand -> (its --help paragraph: what it reads, what it writes and where; example command lines)
HELP: dict[str, tuple[str, ...]] = {
    "pckh": ("Read MPII prediction files (`preds`, .mat or .h5) and the ground truth annot/valid.h5, or with "
             "--reference the published files in MPII_FOLDER/reference_preds/, and print PCKh at 0.5 and 0.1 per "
             "joint group and the AUC (the official toolkit's definition). Row i of a file is scored against person i "
             "of --annot (another number of rows refused), (x, y) in its 1-based MPII pixels. Writes only --json "
             "(percent; with the people and joints scored) and --figure (PNG of the PCKh-total curves).",
             "convcorr eval pckh --preds preds.h5 --annot annot/valid.h5 --json pckh.json --figure pckh.png",
             "convcorr eval pckh --reference MPII_FOLDER"),
    "pck": ("Read predictions `preds` [N, K, 2] (.npz, .npy or .h5) and ground truth (.npz: points [N, K, 2], "
            "visible [N, K], norm [N], e.g. FLIC's torso size) and print PCK per joint at --alpha and the curve. Row i "
            "of --preds is scored against row i of --gt, (x, y) in its frame. Writes only --json (with the "
            "instances and keypoints scored).",
            "convcorr eval pck --preds P.npz --gt G.npz --alpha 0.05 --json pck.json",
            "convcorr eval pck --preds P.npz --gt G.npz --json - | jq .mean"),
    "mpii": ("Run a pose model trained on MPII (--model) on the people of --annot (images from --images), write its "
             "predictions in the MPII frame (1-based h5 `preds`, preds.h5 in the run folder) and score them by "
             f"PCKh. {_RUN_FOLDER}, and copies the JSON to --json and the predictions to --h5 where given.",
             "convcorr eval mpii --model runs/pose_mpii --annot annot/valid.h5 --h5 preds.h5 --json mpii.json"),
    "flic": ("Score a pose model (--model: a shipped model's name, a model folder or a training run folder; read "
             "only) on the FLIC folder --root: PCK per joint group at 0.05, 0.1 and 0.2 of the torso size for its "
             f"stored read-out, the coarse model and the cascade. {_RUN_FOLDER}, and copies the JSON to --json and "
             "Figure 15 to --figure where given.",
             "convcorr eval flic --model flic --root FLIC --split val",
             "convcorr eval flic --model runs/pose_flic --root FLIC --json flic.json --figure fig15.png"),
    "pose": ("Score any trained pose model (--model, read only) on --split of the dataset --root (COCO-format "
             "folders, LSP/LSPET, FLIC, MPII): PCK per joint group at the skeleton's normaliser for its stored "
             "read-out, the cascade, the coarse model and the mean pose, PCKh where a head segment exists, COCO's OKS "
             "AP on COCO-format data (pycocotools: pip install 'convcorr-jax[coco]'). Prints the tables; writes only "
             "--json.",
             "convcorr eval pose --model runs/pose_coco --root COCO --split val --json pose.json",
             "convcorr eval pose --model person --root LSP --split test --flip"),
    "pf-willow": ("Transfer the keypoints of each PF-WILLOW pair under --root from one image to the other (default: "
                  "SCOT's optimal transport + Hough matching on VGG-16, MobileNetV2 and EfficientNet-Lite2 "
                  "hyperpixels with MobileNetV2's CAM prior, as `convcorr match`; --method, --backbone, --taps, "
                  "--features change it) and score PCK per sub-class (Proposal Flow protocol). "
                  f"{_RUN_FOLDER}, and copies the JSON (fractions) to --json where given.",
                  "convcorr eval pf-willow --root PF-dataset-WILLOW --json willow.json",
                  "convcorr eval pf-willow --root PF-dataset-WILLOW --size tiny --features sift",
                  "convcorr eval pf-willow --root PF-dataset-WILLOW --backbone torchvision_alexnet --method bp "
                  "--taps conv4 --set transfer.grid=conv4"),
    "pf-pascal": ("The keypoint transfer of pf-willow, with its options, on --split of the PF-PASCAL folder --root "
                  "(HPF's and SCOT's split): PCK at alpha x the target image's max side, mean over pairs and per "
                  f"category. {_RUN_FOLDER}, and copies the JSON to --json where given.",
                  "convcorr eval pf-pascal --root PF-PASCAL --split test --json pf_pascal.json",
                  "convcorr eval pf-pascal --root PF-PASCAL --size tiny --pairs 2"),
    "spair": ("The keypoint transfer of pf-willow, with its options, on --split of the SPair-71k folder --root: PCK "
              "at alpha x the target's object box max side, mean over pairs and per category. "
              f"{_RUN_FOLDER}, and copies the JSON to --json where given.",
              "convcorr eval spair --root SPair-71k --split test --json spair.json",
              "convcorr eval spair --root SPair-71k --classes cat,dog --pairs 10"),
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="metric", required=True)
    for name, (help_, add, _) in SUBCOMMANDS.items():
        add(document(sub.add_parser(name, help=help_), *HELP[name]))
    group_examples(p)


def run(args: argparse.Namespace) -> int:
    try:
        return int(SUBCOMMANDS[args.metric][2](args) or 0)
    except InputError as e:
        print(f"convcorr eval {args.metric}: error: {e}", file=sys.stderr)
        return 2
