"""A pose mixture's training images in one archive that travels (to a machine with an accelerator and a small
transfer): the people of each part's train and held-out splits, their folders in the loaders' own layouts.

    info = pack_mixture(cfg.part_roots(), "person.zip", quality=40, max_side=144)   # + person.zip.sha256
    unpack_mixture("person.zip", "DATA")          # DATA/flic, DATA/lspet: `--set data_root=DATA`

What a model trained on the mixture sees is kept, and only that: a training crop is a square about a person box
(`pose.mixture`: side crop_scale x the box's longer side), so each image keeps the squares of side `keep` x its
people's box sides (the labelled joints' box, `person_boxes.boxes_from_joints`) and is grey (128) elsewhere, which
costs JPEG almost nothing. Kinds whose annotation file is rewritten here (`lsp`: joints.mat) are also downscaled so
that no person box is longer than `max_side` pixels, their coordinates scaled with them (pixel centres kept:
x' = (x + 0.5) s - 0.5); FLIC keeps its image size (its loader reads only FLIC's own image scales) and its
examples.mat as is. Test splits are never packed: the folders hold the train and held-out people's images alone
(an LSP folder's first train + val images, which its loader accepts for those splits).

Archive: an uncompressed zip (JPEGs do not compress; a tar's 512-byte blocks would add a tenth) whose members are
each part's folder (its `root` relative to the common data root) with fixed times; `<archive>.sha256` beside it
(the `sha256sum` format). Unpacking checks it first.
"""

from __future__ import annotations

import io as _io
import os
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from convcorr_jax.core import io
from convcorr_jax.data import pose_sets, skeletons
from convcorr_jax.data.fetch import check_empty_out, install_archive
from convcorr_jax.data.flic_pack import check_archive_out, checksum_path, verify_archive
from convcorr_jax.core.errors import InputError
from convcorr_jax.pose.data_part import DataPart
from convcorr_jax.pose.mixture import mapped_people
from convcorr_jax.core.progress import bar

GREY = 128  # the value outside the kept squares
KEEP = 1.25  # kept square side / the person box's longer side (crop_scale 1 plus room for resampling)
MAX_SIDE = 192  # rewritable kinds: the longest person box side kept (pixels)
QUALITY = 50
KINDS = ("flic", "lsp")  # the kinds packed (their annotation files are copied or rewritten here)


def _image_boxes(part: DataPart) -> dict[str, np.ndarray]:
    """Image path -> person boxes float64 [P, 4] (x0, y0, x1, y1) of a part's train and held-out people.

    Args:
        part: the dataset (root resolved).

    Returns:
        {image path: its people's boxes}, in the order first met.
    """
    out: dict[str, list] = {}
    for split in ("train", pose_sets.dataset(part.kind).held_out):
        people = mapped_people(part, skeletons.PERSON, split)
        for s, b in zip(people.samples, people.boxes):
            out.setdefault(str(s.image_path), []).append(b)
    return {k: np.stack(v) for k, v in out.items()}


def masked(image: np.ndarray, boxes: np.ndarray, keep: float = KEEP) -> np.ndarray:
    """`image` grey (`GREY`) outside the squares about `boxes` (side keep x each box's longer side).

    Args:
        image: uint8 [H, W, 3].
        boxes: [P, 4] (x0, y0, x1, y1) pixels.
        keep: square side / box longer side.

    Returns:
        uint8 [H, W, 3], a copy.
    """
    h, w = image.shape[:2]
    yy, xx = np.mgrid[:h, :w]
    inside = np.zeros((h, w), bool)
    for x0, y0, x1, y1 in boxes:
        half = keep * max(x1 - x0, y1 - y0) / 2
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        inside |= (np.abs(xx - cx) <= half) & (np.abs(yy - cy) <= half)
    out = np.full_like(image, GREY)
    out[inside] = image[inside]
    return out


def _packed_image(path: str | os.PathLike, boxes: np.ndarray, quality: int, max_side: float | None,
                 keep: float = KEEP) -> tuple[bytes, np.ndarray]:
    """One image masked (`masked`), downscaled so no box is longer than max_side (None: kept), as JPEG.

    Args:
        path: the image file.
        boxes: [P, 4] its people's boxes (pixels).
        quality: JPEG quality 1..95.
        max_side: the longest box side kept (pixels), or None.
        keep: square side / box longer side.

    Returns:
        (JPEG bytes, scale float64 [2]: new size / old size in x and y).
    """
    with Image.open(path) as im:
        a = np.asarray(im.convert("RGB"))
    img = Image.fromarray(masked(a, boxes, keep))
    longest = float(np.max(boxes[:, 2:] - boxes[:, :2]))
    s = 1.0 if max_side is None or longest <= max_side else max_side / longest
    w, h = img.size
    size = (max(1, round(w * s)), max(1, round(h * s)))
    if size != (w, h):
        img = img.resize(size, Image.Resampling.LANCZOS)
    buf = _io.BytesIO()
    img.save(buf, format="JPEG", quality=int(quality), optimize=True)
    return buf.getvalue(), np.array([size[0] / w, size[1] / h])


def _add(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.external_attr = 0o644 << 16
    archive.writestr(info, data, compress_type=zipfile.ZIP_STORED)


def _lsp_joints(mat: Path, scales: dict[int, np.ndarray]) -> bytes:
    """An LSP / LSPET joints.mat with the coordinates of image i (0-based) scaled by scales[i] (pixel centres kept),
    as MATLAB v5 bytes in the file's own layout."""
    import scipy.io as sio

    j = np.array(sio.loadmat(mat)["joints"], np.float64)
    lspet = j.shape[:2] == (14, 3)
    for i, s in scales.items():
        xy = j[:, :2, i] if lspet else j[:2, :, i].T  # [14, 2] 1-based
        new = (xy - 0.5) * s + 0.5
        if lspet:
            j[:, :2, i] = new
        else:
            j[:2, :, i] = new.T
    buf = _io.BytesIO()
    sio.savemat(buf, {"joints": j}, do_compression=True)
    return buf.getvalue()


def _part_members(part: DataPart, top: str, quality: int, max_side: float | None, keep: float):
    """Yield (member name, bytes) of one part's folder."""
    assert part.root is not None  # `pack_mixture` refuses a part without its folder
    root = Path(part.root)
    boxes = _image_boxes(part)
    rescale = part.kind == "lsp"
    scales = {}
    for path, b in sorted(boxes.items()):
        data, s = _packed_image(path, b, quality, max_side if rescale else None, keep)
        if rescale:
            scales[int(Path(path).stem[2:]) - 1] = s
        yield f"{top}/images/{Path(path).name}", data
    if part.kind == "flic":
        yield f"{top}/examples.mat", (root / "examples.mat").read_bytes()
    else:
        yield f"{top}/joints.mat", _lsp_joints(root / "joints.mat", scales)


def pack_mixture(parts: Sequence[DataPart], out: str | os.PathLike, quality: int = QUALITY,
                 max_side: float | None = MAX_SIDE, keep: float = KEEP, progress: bool = False) -> dict:
    """Pack the train and held-out images of `parts` into the zip `out` and write `<out>.sha256` (module
    docstring).

    Args:
        parts: the mixture, roots resolved (`TrainConfig.part_roots()`; a root of None is refused), kinds among `KINDS`.
        out: the zip to write.
        quality: JPEG quality 1..95.
        max_side: rewritable kinds: the longest person box side kept (pixels; None: no downscaling).
        keep: kept square side / the person box's longer side (>= the crop_scale trained with).
        progress: a progress bar per part (`progress.bar`).

    Returns:
        {"archive", "bytes", "sha256", "images": {folder: count}, "quality", "max_side", "keep"}.

    Raises:
        InputError: a kind not among `KINDS`, a part without its root, a bad quality, a part whose people cannot be
            read, or an `out` (or `<out>.sha256`) that exists and is not a mixture archive with its checksum file
            (`flic_pack.check_archive_out`: a user's file is never replaced).
    """
    roots = []
    for p in parts:
        if p.kind not in KINDS:
            raise InputError("pack_mixture", "datasets.kind", f"one of {KINDS}", p.kind)
        if p.root is None:
            raise InputError("pack_mixture", "datasets.root", "each part's folder (`TrainConfig.part_roots()`)", None)
        roots.append(Path(p.root).resolve())
    if not 1 <= int(quality) <= 95:
        raise InputError("pack_mixture", "quality", "a JPEG quality in 1..95", quality)
    base = Path(os.path.commonpath([str(r) for r in roots]))
    base = base.parent if len(parts) == 1 else base
    counts: dict[str, int] = {}
    out = check_archive_out(out, "a mixture archive", _is_mixture_pack)
    with io.atomic_path(out) as tmp:
        with zipfile.ZipFile(tmp, "w") as zf:
            for p, root in zip(parts, roots):
                top = root.relative_to(base).as_posix()
                members = bar(_part_members(p, top, quality, max_side, keep), desc=f"pack {top}",
                              disable=not progress)
                for name, data in members:
                    _add(zf, name, data)
                    counts[top] = counts.get(top, 0) + name.endswith(".jpg")
        size = tmp.stat().st_size
        digest = io.sha256_file(tmp)
    io.write_text(checksum_path(out), f"{digest}  {out.name}\n")
    return {"archive": str(out), "bytes": size, "sha256": digest, "images": counts, "quality": quality,
            "max_side": max_side, "keep": keep}


def _is_mixture_pack(path: Path) -> bool:
    """Whether the zip `path` holds a mixture's members alone (<folder>/images/*.jpg, examples.mat, joints.mat)."""
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
    return bool(names) and all("/images/" in n or n.endswith(("/examples.mat", "/joints.mat")) for n in names)


def unpack_mixture(archive: str | os.PathLike, out: str | os.PathLike, sha256: str | None = None) -> str:
    """Verify `archive` (`pack_mixture`) and unpack it into `out` (absent or empty), the mixture's data root, in one
    step (`fetch.install_archive`: nothing half-unpacked is left behind).

    Args:
        archive: the zip.
        out: the folder to unpack into, absent or empty.
        sha256: the expected hex digest (None: the checksum file beside the archive).

    Returns:
        A one-line summary: each folder and its images.

    Raises:
        InputError: a missing archive, a non-empty `out`, a wrong checksum, or an archive without images.
    """
    out = check_empty_out(out)
    archive = verify_archive(archive, "an existing mixture archive (pose.mixture_pack.pack_mixture)", sha256)
    return install_archive(archive, out, "mixture", "", _layout)


def _layout(root: Path) -> str:
    """"<folder>: N images, ..." of an unpacked mixture; InputError when no folder holds images/."""
    counts = {p.parent.name: sum(1 for _ in p.glob("*.jpg")) for p in sorted(root.glob("*/images"))}
    if not counts:
        raise InputError(root, "images", "one folder per dataset, each with images/", "none")
    return ", ".join(f"{k}: {v} images" for k, v in counts.items())


__all__ = ["GREY", "KEEP", "KINDS", "MAX_SIDE", "QUALITY", "masked", "pack_mixture",
           "unpack_mixture"]
