"""The flags of `convcorr pose` read before any work: the boxes and torso points given once per image (boxes: or
several for one image, one per person; each checked against its image), the crop scales, the drawings' file names,
and what the command runs (`make_plan`: two passes or crops, from which box, with which test-time settings),
decided from the flags and the model.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from convcorr_jax.core import geometry
from convcorr_jax.core.errors import InputError
from convcorr_jax.pose.two_pass import FRAME_TEST_TIME, frame_settings


def _numbers(text: str) -> np.ndarray:
    """Comma-separated numbers -> float64 [k] (empty when one is not a number)."""
    try:
        return np.array([float(x) for x in text.split(",")])
    except ValueError:
        return np.zeros(0)


def _count(texts: list[str], n: int, flag: str, people: str = "") -> None:
    if texts and len(texts) != n:
        raise InputError(None, flag, f"one per image ({n}), or none{people}", f"{len(texts)} given")


def parse_boxes(texts: list[str], paths: list[str], sizes: list[tuple[int, int]],
                flag: str) -> list[np.ndarray] | None:
    """One box per image from a repeated box flag (None when not given), or, for one image, one box per person in
    it (any number), each checked against its image by `geometry.check_box` (finite, X0 <= X1, Y0 <= Y1,
    overlapping the image; partly outside is fine): one InputError naming the flag, the image, what was expected
    and the text given otherwise."""
    if not texts:
        return None
    if len(paths) == 1:  # several people in one photo: one box each
        paths, sizes = paths * len(texts), sizes * len(texts)
    _count(texts, len(paths), flag, "; several people in one photo: that image alone, the flag once per person"
           if len(texts) > len(paths) else "")
    return [geometry.check_box(_numbers(t), size, None, flag, str(path), got=t)
            for t, path, size in zip(texts, paths, sizes)]


def parse_torso(texts: list[str], paths: list[str], sizes: list[tuple[int, int]]) -> np.ndarray | None:
    """One torso point per image from --torso (None when not given), each finite and inside its image
    (`geometry.check_point`); one InputError naming --torso, the image and the text otherwise."""
    if not texts:
        return None
    _count(texts, len(paths), "--torso")
    return np.stack([geometry.check_point(_numbers(t), size, None, "--torso", str(path), got=t)
                     for t, path, size in zip(texts, paths, sizes)])


def parse_scales(text: str) -> tuple[float, ...]:
    v = tuple(float(x) for x in _numbers(text))
    if not v or not all(np.isfinite(x) and x > 0 for x in v):
        raise InputError(None, "--scales", "crop scales > 0 separated by commas, e.g. 0.8,0.9,1", text)
    return v


def png_paths(out: Path, images: list[str]) -> list[Path]:
    """<out>/<image name>_pose.png, one distinct file per image: a repeated name gets the first free _2, _3 ...
    suffix (never another image's own name: a.jpg, b/a.jpg and a_2.jpg give a, a_3 and a_2)."""
    stems = [Path(name).stem for name in images]
    used = set(stems)  # every image's own name is reserved before any suffix is handed out
    taken: set[str] = set()
    paths = []
    for stem in stems:
        name, n = stem, 1
        while name in taken or (n > 1 and name in used):
            n += 1
            name = f"{stem}_{n}"
        taken.add(name)
        paths.append(out / f"{name}_pose.png")
    return paths


def _passes(r) -> str:
    """How many passes `estimate(..., two_pass=True)` makes over whole frames with model r, in words: the two of the
    paper's protocol, plus the model's own refining passes (`two_pass.frame_settings`: `flic_256` refines once)."""
    refine = int(frame_settings(r.frames.settings if r.frames is not None else None)["refine"])
    words = {2: "two", 3: "three", 4: "four"}
    return f"{words.get(2 + refine, 2 + refine)} passes"


def make_plan(args: argparse.Namespace, r, video: bool = False) -> dict:
    """What the command runs, decided from the flags and the model before any work: {"two_pass", "input" (the
    line the output and the JSON give), "no_box" (what was done without a box, or None), "flip", "scales",
    "merge", "spatial" (None: the model's)}. Flags that cannot apply are one InputError (for a `video`, which
    takes no box, one that does not offer a box)."""
    if args.box and args.person_box:
        raise InputError(None, "--person-box", "--person-box or --torso-box, not both", "both")
    crop_model = r.torso_crops
    if args.two_pass and not crop_model:  # before any image or frame is read
        raise InputError(None, "--two-pass", "a FLIC model trained on person crops (flic, flic_256, or a `convcorr "
                         "train pose --config flic` run)", f"the model {r.name or r.path} (data={r.config.data}, "
                         f"protocol={r.config.protocol})")
    no_box = not (args.box or args.person_box or args.two_pass)
    two_pass = args.two_pass or (no_box and crop_model and r.frames is not None)
    if two_pass:
        fixed = [f for f, on in (("--torso-box", args.box), ("--person-box", args.person_box), ("--flip", args.flip),
                                 ("--readout", args.readout is not None), ("--spatial off", args.spatial == "off"))
                 if on]
        if fixed and args.two_pass:
            raise InputError(None, "--two-pass", "whole frames with --torso points only (no --torso-box, --person-"
                             "box, --flip, --readout or --spatial off: the two passes' settings are FRAME_TEST_TIME's)",
                             "other flags too")
        if fixed and video:
            raise InputError(None, fixed[0].split()[0], f"a video without {fixed[0]}: the model {r.name or r.path} "
                             "reads each frame whole in two passes (FRAME_TEST_TIME's settings: flip on, the model's "
                             "read-out, spatial model on); a video takes no box", fixed[0])
        if fixed:
            raise InputError(None, fixed[0].split()[0], f"{fixed[0]} with a box (--person-box or --torso-box): with "
                             f"no box the model {r.name or r.path} runs whole frames in two passes (FRAME_TEST_TIME's "
                             "settings: flip on, the model's read-out, spatial model on)", fixed[0])
    elif args.torso:
        raise InputError(None, "--torso", "only in two passes (--two-pass, or no box with a FLIC model trained on "
                         "person crops); --torso-box gives the person's torso", "--torso")
    passes = _passes(r) if two_pass else ""
    if two_pass:
        source = "the torso points given" if args.torso else "each frame's centre"
        text = f"whole frames in {passes} from {source}" + ("" if args.two_pass else " (no box given)")
    elif args.person_box:
        text = "the person boxes given" + ("; the torso found inside each by a first pass" if crop_model else "")
    elif args.box:
        text = "the torso boxes given" if crop_model else "the boxes given (--torso-box: this run's person box)"
    else:
        text = "the whole image letterboxed (no box given)" + (
            "; the model has no frame statistics for two passes" if crop_model else "")
    own_flip, own_scales = r.test_time  # the model's own test-time flip and scales
    default_scales = FRAME_TEST_TIME["scales"] if two_pass else own_scales
    return {"two_pass": two_pass, "input": text,
            "no_box": ((f"{passes} from each frame's centre" if two_pass else "the whole image letterboxed")
                       if no_box else None),
            "flip": bool(args.flip or (FRAME_TEST_TIME["flip"] if two_pass else own_flip)),
            "scales": default_scales if args.scales is None else parse_scales(args.scales),
            "merge": args.merge or (FRAME_TEST_TIME["merge"] if two_pass else "mean"),
            "spatial": None if args.spatial is None else args.spatial == "on"}
