"""`convcorr data`: generate synthetic datasets (`synth`), fetch real ones (`fetch`) and `inspect`
what a loader reads from a real-format file or folder.

  convcorr data synth objects --n 200 --seed 0 --out DIR
  convcorr data inspect PATH [--show 3] [--skip-bad] [--with-images] [--voc-root DIR]
  convcorr data fetch pf-willow|flic --out DIR [--sha256 H] [--url URL] [--archive-dir DIR]
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

import numpy as np

from convcorr_jax.errors import InputError

# sub-command -> (module, add-arguments function, run function)
_DELEGATES = {
    "synth": ("convcorr_jax.data.synthetic.cli", "add_synth_arguments", "run_synth",
              "generate a synthetic dataset in the real formats"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="data_command", required=True)
    for name, (mod, add, _run, help_) in _DELEGATES.items():
        p = sub.add_parser(name, help=help_, description=help_)
        try:
            getattr(importlib.import_module(mod), add)(p)
        except (ImportError, AttributeError) as e:  # the generator package is optional at parse time
            p.set_defaults(_unavailable=f"{mod}.{add}: {e}")
            p.add_argument("rest", nargs=argparse.REMAINDER)
    p = sub.add_parser("inspect", help="print what a loader reads from PATH",
                       description="Detect the format of PATH (FLIC examples.mat, MPII .h5 / RELEASE .mat, LSP "
                                   "joints.mat, Bourdev XML or folder, .pts or 300-W folder, COCO landmark json, "
                                   "VOC label PNG or folder, joints CSV, image folder), load it and summarise.")
    p.add_argument("path", type=Path)
    p.add_argument("--show", type=int, default=2, help="samples to print in full (default 2)")
    p.add_argument("--skip-bad", action="store_true", help="skip malformed records and report them")
    p.add_argument("--with-images", action="store_true", help="also read (and check) every image")
    p.add_argument("--voc-root", type=Path, default=None, help="VOC2011 devkit folder for keypoint XML folders")
    p.add_argument("--coordinate-base", type=int, default=0, help="for COCO json: 0 (COCO) or 1 (copied .pts)")
    p.add_argument("--format", choices=FORMATS, default=None, help="skip detection and read PATH as this format")
    from convcorr_jax.data.fetch import DATASETS

    p = sub.add_parser("fetch", help="download, verify (size, sha256) and unpack a dataset",
                       description="Download a dataset archive from its official address, check its size and "
                                   "sha256, and unpack it atomically into --out, the folder the loader reads "
                                   "(load_pf_willow(OUT), load_flic(OUT)). PF-WILLOW publishes no checksum: "
                                   "pass --sha256.")
    p.add_argument("dataset", choices=sorted(DATASETS))
    p.add_argument("--out", type=Path, required=True, help="new or empty folder to unpack into")
    p.add_argument("--sha256", default=None, help="expected sha256 of the archive (required where none is known)")
    p.add_argument("--size", type=int, default=None, help="expected archive size in bytes")
    p.add_argument("--url", default=None, help="download from this address instead (a mirror)")
    p.add_argument("--archive-dir", type=Path, default=None, help="where the archive is kept (default: the cache)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    if args.data_command == "fetch":
        from convcorr_jax.data.fetch import DATASETS, fetch_dataset

        out = fetch_dataset(args.dataset, args.out, url=args.url, sha256=args.sha256, size=args.size,
                            archive_dir=args.archive_dir, progress=not args.no_progress)
        print(f"{args.dataset}: unpacked into {out} ({DATASETS[args.dataset].check(out)})")
        return 0
    if args.data_command in _DELEGATES:
        if getattr(args, "_unavailable", None):
            print(f"convcorr data {args.data_command}: not available ({args._unavailable})", file=sys.stderr)
            return 2
        mod, _add, fn, _ = _DELEGATES[args.data_command]
        return int(getattr(importlib.import_module(mod), fn)(args) or 0)
    return inspect_path(args)


FORMATS = ("flic", "flic_plus", "lsp", "mpii_h5", "mpii_release", "voc_keypoints", "voc_keypoints_parent",
           "keypoint_xml", "300w", "pts", "coco_json", "voc_segmentation", "label_png", "joints_csv",
           "image_folder", "image", "pf_willow", "pf_willow_mat")


def _detect(path: Path) -> str:
    """Format name of `path` (see `inspect_path`)."""
    if not path.exists():
        raise InputError(path, "path", "an existing file or folder", "missing")
    if path.is_dir():
        if (path / "examples.mat").is_file():
            return "flic"
        if (path / "joints.mat").is_file():
            return "lsp"
        from convcorr_jax.data.voc_keypoints import VOC_CLASSES

        if any((path / c).is_dir() and any((path / c).glob("*.xml")) for c in VOC_CLASSES):
            return "voc_keypoints"
        if (path / "annotations").is_dir():
            return "voc_keypoints_parent"
        if (path / "SegmentationClass").is_dir():
            return "voc_segmentation"
        if any(d.is_dir() and any(d.glob("*.png")) and any(d.glob("*.mat")) for d in path.iterdir()):
            return "pf_willow"
        if any(path.rglob("*.pts")):
            return "300w"
        return "image_folder"
    suf = path.suffix.lower()
    if suf == ".h5":
        return "mpii_h5"
    if suf == ".mat":
        import scipy.io as sio

        try:
            names = {n for n, _shape, _cls in sio.whosmat(path)}
        except Exception as e:
            raise InputError(path, "mat", "a readable MATLAB v5 .mat file", f"{type(e).__name__}: {e}") from None
        for var, fmt in (("examples", "flic"), ("RELEASE", "mpii_release"), ("joints", "lsp"),
                         ("tr_plus_indices", "flic_plus"), ("ts_plus_indices", "flic_plus"),
                         ("pts_coord", "pf_willow_mat")):
            if var in names:
                return fmt
        raise InputError(path, "variables", "examples, RELEASE, joints, *_plus_indices or pts_coord", sorted(names))
    return {".pts": "pts", ".xml": "keypoint_xml", ".png": "label_png", ".json": "coco_json",
            ".csv": "joints_csv"}.get(suf, "image")


def _load(fmt: str, path: Path, args) -> tuple[object, str]:
    kw = {"skip_bad": args.skip_bad}
    img = {"with_images": args.with_images}
    if fmt == "flic":
        from convcorr_jax.data.flic import load_flic

        return load_flic(path, **kw, **img), "FLIC examples.mat"
    if fmt == "flic_plus":
        from convcorr_jax.data.flic import read_plus_indices

        return read_plus_indices(path), "FLIC-plus index file (printed 0-based)"
    if fmt == "pf_willow":
        from convcorr_jax.data.pf_willow import load_pf_willow

        return load_pf_willow(path, **kw, **img), "PF-WILLOW folder of sub-classes"
    if fmt == "pf_willow_mat":
        from convcorr_jax.data.pf_willow import read_pts_coord

        return read_pts_coord(path), "PF-WILLOW pts_coord (printed 0-based, K x 2)"
    if fmt == "lsp":
        from convcorr_jax.data.lsp import load_lsp

        return load_lsp(path, **kw, **img), "LSP/LSPET joints.mat"
    if fmt == "mpii_h5":
        from convcorr_jax.data.mpii import load_mpii_h5

        return load_mpii_h5(path, **kw, **img), "MPII hourglass h5"
    if fmt == "mpii_release":
        from convcorr_jax.data.mpii import load_mpii_release

        return load_mpii_release(path, **kw, **img), "MPII RELEASE .mat"
    if fmt in ("voc_keypoints", "voc_keypoints_parent"):
        from convcorr_jax.data.voc_keypoints import load_voc_keypoints

        root = path if fmt == "voc_keypoints" else path / "annotations"
        voc = args.voc_root
        if voc is None and fmt == "voc_keypoints_parent" and any((path / d).is_dir() for d in ("JPEGImages", "VOC2011")):
            voc = path  # a VOC-style tree with annotations/ beside JPEGImages/ (e.g. the synthetic objects)
        return load_voc_keypoints(root, voc_root=voc, **kw, **img), "PASCAL VOC 2011 keypoint XML folder"
    if fmt == "keypoint_xml":
        from convcorr_jax.data.voc_keypoints import read_keypoint_xml

        return [read_keypoint_xml(path)], "PASCAL keypoint XML"
    if fmt == "300w":
        from convcorr_jax.data.faces300w import load_300w

        return load_300w(path, **kw, **img), "300-W style folder of .pts files"
    if fmt == "pts":
        from convcorr_jax.data.faces300w import read_pts

        return read_pts(path), "iBUG .pts (printed 0-based)"
    if fmt == "coco_json":
        from convcorr_jax.data.faces300w import load_coco_landmarks_json

        return load_coco_landmarks_json(path, coordinate_base=args.coordinate_base, **kw), "COCO-style keypoint json"
    if fmt == "voc_segmentation":
        from convcorr_jax.data.voc_segmentation import load_voc_segmentation

        return load_voc_segmentation(path, **kw, **img), "VOC segmentation folder"
    if fmt == "label_png":
        from convcorr_jax.data.voc_segmentation import read_label_png

        return read_label_png(path), "VOC label PNG"
    if fmt == "joints_csv":
        from convcorr_jax.data.mpii import read_joints_csv

        first = next((ln for ln in path.read_text().splitlines() if ln.strip()), "")
        k = (len(first.split(",")) - 1) // 2
        names, joints = read_joints_csv(path, k)
        return joints, f"joints CSV ({len(names)} rows, {len(set(names))} images, {k} joints, as stored)"
    if fmt == "image_folder":
        from convcorr_jax.data.voc_segmentation import load_image_folder

        return load_image_folder(path, skip_bad=args.skip_bad), "image folder"
    from convcorr_jax.data.types import load_image

    return load_image(path), "image"


def _fmt_sample(s) -> str:
    from convcorr_jax.data.types import KeypointSample

    if isinstance(s, KeypointSample):
        k = len(s.names)
        lab = np.all(np.isfinite(s.points), axis=1)
        lines = [f"  id={s.id} category={s.category} K={k} labelled={int(lab.sum())} visible={int(s.visible.sum())}",
                 f"    bbox (0-based x0,y0,x1,y1) = {np.round(s.bbox.astype(float), 2).tolist()}",
                 f"    image_path = {s.image_path}" + (f"  image {s.image.shape}" if s.image is not None else "")]
        for i in range(min(k, 4)):
            lines.append(f"    {s.names[i]:<14} {np.round(s.points[i].astype(float), 2).tolist()} visible={bool(s.visible[i])}")
        if k > 4:
            lines.append(f"    ... {k - 4} more")
        ex = {key: (v if np.ndim(v) == 0 and not isinstance(v, (list, dict)) else f"<{type(v).__name__}>")
              for key, v in s.extras.items()}
        lines.append(f"    extras: {ex}")
        return "\n".join(lines)
    if isinstance(s, tuple):
        return f"  {s[0]}  {s[1].shape} {s[1].dtype}"
    lab = s.label
    return f"  id={s.id} label {lab.shape} classes={sorted(set(np.unique(lab).tolist()))} image_path={s.image_path}"


def inspect_path(args: argparse.Namespace) -> int:
    fmt = args.format or _detect(args.path)
    data, what = _load(fmt, args.path, args)
    print(f"{args.path}: {what}")
    if isinstance(data, np.ndarray):
        print(f"  array {data.shape} {data.dtype}; min {np.nanmin(data):.3f} max {np.nanmax(data):.3f}")
        print("  " + np.array2string(np.asarray(data).reshape(-1)[:12], precision=3))
        return 0
    for s in list(data)[: max(args.show, 0)]:
        print(_fmt_sample(s))
    skipped = getattr(data, "skipped", [])
    print(f"{len(data)} samples read, {len(skipped)} skipped")
    for e in skipped:
        print(f"  skipped: {e}")
    return 0
