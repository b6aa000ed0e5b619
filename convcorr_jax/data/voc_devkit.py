"""The PASCAL VOC 2011 devkit's own files: `Annotations/<id>.xml` (the objects' boxes), `ImageSets/.../<set>.txt`
(image ids), and finding the devkit folder (`VOC2011/`) under a root; with the XML reading helpers these and the
keypoint files (`voc_keypoints.py`) share.

Boxes in `Annotations/` are 1-based inclusive pixels (VOC convention); this module converts them to 0-based on
reading and back on writing.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Iterable, Literal, overload

import numpy as np

from convcorr_jax.data._common import as_float
from convcorr_jax.core.errors import InputError
from convcorr_jax.core.io import write_text


@overload
def _text(root: ET.Element, tag: str, path, required: Literal[True] = True) -> str: ...


@overload
def _text(root: ET.Element, tag: str, path, required: bool) -> str | None: ...


def _text(root: ET.Element, tag: str, path, required: bool = True) -> str | None:
    el = root.find(tag)
    if el is None or el.text is None or not el.text.strip():
        if required:
            raise InputError(path, tag, f"a non-empty <{tag}> element", "missing")
        return None
    return el.text.strip()


def _parse_xml(path) -> ET.Element:
    try:
        return ET.parse(path).getroot()
    except ET.ParseError as e:
        raise InputError(path, "xml", "well-formed XML", str(e)) from None
    except OSError as e:
        raise InputError(path, "file", "a readable XML file", str(e)) from None


def write_voc_annotation(path: str | os.PathLike, image_id: str, size_wh: tuple[int, int],
                         objects: Iterable[dict]) -> None:
    """Write a VOC `Annotations/<id>.xml` (boxes written 1-based).

    Args:
        path, image_id, size_wh: the file to write, the image's id (filename `<id>.jpg`) and (width, height) pixels.
        objects: dicts: name, bbox (0-based inclusive x0,y0,x1,y1), optional pose, truncated, occluded, difficult (0/1).

    Returns:
        None; writes the file.
    """
    root = ET.Element("annotation")
    ET.SubElement(root, "folder").text = "VOC2011"
    ET.SubElement(root, "filename").text = f"{image_id}.jpg"
    size = ET.SubElement(root, "size")
    ET.SubElement(size, "width").text = str(int(size_wh[0]))
    ET.SubElement(size, "height").text = str(int(size_wh[1]))
    ET.SubElement(size, "depth").text = "3"
    ET.SubElement(root, "segmented").text = "0"
    for o in objects:
        ob = ET.SubElement(root, "object")
        ET.SubElement(ob, "name").text = o["name"]
        ET.SubElement(ob, "pose").text = o.get("pose", "Unspecified")
        for flag in ("truncated", "occluded", "difficult"):
            ET.SubElement(ob, flag).text = str(int(o.get(flag, 0)))
        bb = ET.SubElement(ob, "bndbox")
        for tag, v in zip(("xmin", "ymin", "xmax", "ymax"), o["bbox"]):
            ET.SubElement(bb, tag).text = str(int(round(float(v) + 1)))
    ET.indent(root, space="\t")
    write_text(path, ET.tostring(root, encoding="unicode") + "\n")


def _read_voc_annotation(path: str | os.PathLike) -> list[dict]:
    """Objects of a VOC `Annotations/<id>.xml`: name, bbox (0-based float32 [4]), truncated, occluded, difficult.

    Args:
        path: the XML file.

    Returns:
        list of those dicts, in file order; bbox (x0, y0, x1, y1); the flags int, 0 where absent.
    """
    root = _parse_xml(path)
    out = []
    for i, ob in enumerate(root.findall("object")):
        name = _text(ob, "name", path)
        bb = ob.find("bndbox")
        if bb is None:
            raise InputError(path, f"object {i + 1} bndbox", "a <bndbox> element", "missing")
        box = [as_float(_text(bb, t, path), path, f"object {i + 1} bndbox {t}") - 1.0
               for t in ("xmin", "ymin", "xmax", "ymax")]
        flags = {f: int(as_float(_text(ob, f, path, required=False) or 0, path, f"object {i + 1} {f}"))
                 for f in ("truncated", "occluded", "difficult")}
        out.append({"name": name, "bbox": np.array(box, np.float32), **flags})
    return out


def write_image_set(path: str | os.PathLike, ids: Iterable[str]) -> None:
    """Write an `ImageSets/.../<set>.txt` (one id a line).

    Args:
        path, ids: the file to write and the image ids, in order.

    Returns:
        None; writes the file.
    """
    write_text(path, "".join(f"{i}\n" for i in ids))


def read_image_set(path: str | os.PathLike) -> list[str]:
    """Ids of an ImageSets file (first column; per-class files' flags are ignored).

    Args:
        path: an `ImageSets/.../<set>.txt` file (InputError when missing).

    Returns:
        list of image ids (str), in file order, blank lines skipped.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(p, "image set", "an existing ImageSets/.../<set>.txt file", "missing file")
    return [ln.split()[0] for ln in p.read_text(encoding="utf-8-sig").splitlines() if ln.strip()]


def _voc_dir(voc_root) -> Path:
    r = Path(voc_root)
    if r.is_file():
        raise InputError(r, "voc_root", "the VOC2011 devkit folder (with JPEGImages/ and Annotations/) or a folder "
                         "above it", "a file")
    if (r / "JPEGImages").is_dir() or (r / "Annotations").is_dir():
        return r
    for sub in ("VOC2011", "VOCdevkit/VOC2011", "TrainVal/VOCdevkit/VOC2011"):
        if (r / sub / "JPEGImages").is_dir():
            return r / sub
    raise InputError(r, "voc_root", "a VOC2011 folder with JPEGImages/ and Annotations/", "not found")
