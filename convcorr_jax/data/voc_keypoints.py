"""PASCAL VOC 2011 keypoints (Bourdev, Maji & Malik): one XML file per object, `annotations/<class>/<img>_<k>.xml`.

Coordinate convention: the XML keypoints and `visible_bounds` are 1-based (VOC pixel convention, as the segkps
reader treats them); this module converts them to 0-based once, on reading, and back on writing.
`visible_bounds` (xmin, ymin, width, height) spans 1-based pixels xmin..xmin+width, e.g. the aeroplane of
2007_000032 has visible_bounds (104, 78, 271, 105) and VOC `<bndbox>` (104, 78, 375, 183): the same box.

Person files differ: the root carries `id="..."`, there is no `<voc_id>`, keypoints carry `zorder` and non-zero
`z`, and a `<polylinesegments>` foreground polygon may follow. Their file-name suffix does not index the VOC
objects, so with a devkit the person objects are matched to VOC boxes by IoU with `visible_bounds`. The devkit's
own files (Annotations/, ImageSets/) are read and written by `voc_devkit.py`.
"""

from __future__ import annotations

import dataclasses
import os
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Sequence

import numpy as np

from convcorr_jax.data._common import Loaded, as_float, as_int, collect, folder_listing, points_bbox
from convcorr_jax.data.types import KeypointSample
from convcorr_jax.data.voc_devkit import _parse_xml, _read_voc_annotation, _text, _voc_dir, read_image_set
from convcorr_jax.core.errors import InputError
from convcorr_jax.core.io import write_text

VOC_CLASSES: tuple[str, ...] = (
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow", "diningtable", "dog",
    "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
)

_ANIMAL = ("L_B_Elbow", "L_B_Paw", "L_EarBase", "L_Eye", "L_F_Elbow", "L_F_Paw", "Nose", "R_B_Elbow", "R_B_Paw",
           "R_EarBase", "R_Eye", "R_F_Elbow", "R_F_Paw", "TailBase", "Throat", "Withers")

# Per-class keypoint names: the ASCII-sorted set of names occurring in the annotation files.
KEYPOINT_NAMES: dict[str, tuple[str, ...]] = {
    "aeroplane": ("Bot_Rudder", "Bot_Rudder_Front", "L_Stabilizer", "L_WingTip", "Left_Engine_Back",
                  "Left_Engine_Front", "Left_Wing_Base", "NoseTip", "Nose_Bottom", "Nose_Top", "R_Stabilizer",
                  "R_WingTip", "Right_Engine_Back", "Right_Engine_Front", "Right_Wing_Base", "Top_Rudder"),
    "bicycle": ("B_WheelCenter", "B_WheelEnd", "B_WheelIntersection", "CranksetCenter", "F_WheelCenter",
                "F_WheelEnd", "F_WheelIntersection", "HandleCenter", "L_HandleTip", "R_HandleTip", "SeatBase"),
    "bird": ("Beak_Base", "Beak_Tip", "Left_Eye", "Left_Wing_Base", "Left_Wing_Tip", "Leg_Center",
             "Lower_Neck_Base", "Right_Eye", "Right_Wing_Base", "Right_Wing_Tip", "Tail_Tip", "Upper_Neck_Base"),
    "boat": ("Hull_Back_Bot", "Hull_Back_Top", "Hull_Front_Bot", "Hull_Front_Top", "Hull_Mid_Left_Bot",
             "Hull_Mid_Left_Top", "Hull_Mid_Right_Bot", "Hull_Mid_Right_Top", "Mast_Top", "Sail_Left", "Sail_Right"),
    "bottle": ("L_Base", "L_Neck", "L_Shoulder", "L_Top", "R_Base", "R_Neck", "R_Shoulder", "R_Top"),
    "bus": ("L_B_Base", "L_B_RoofTop", "L_F_Base", "L_F_RoofTop", "R_B_Base", "R_B_RoofTop", "R_F_Base",
            "R_F_RoofTop"),
    "car": ("L_B_RoofTop", "L_B_WheelCenter", "L_F_RoofTop", "L_F_WheelCenter", "L_HeadLight", "L_SideviewMirror",
            "L_TailLight", "R_B_RoofTop", "R_B_WheelCenter", "R_F_RoofTop", "R_F_WheelCenter", "R_HeadLight",
            "R_SideviewMirror", "R_TailLight"),
    "cat": _ANIMAL,
    "chair": ("BackRest_Top_Left", "BackRest_Top_Right", "Leg_Left_Back", "Leg_Left_Front", "Leg_Right_Back",
              "Leg_Right_Front", "Seat_Left_Back", "Seat_Left_Front", "Seat_Right_Back", "Seat_Right_Front"),
    "cow": _ANIMAL,
    "diningtable": ("Bot_Left_Back", "Bot_Left_Front", "Bot_Right_Back", "Bot_Right_Front", "Top_Left_Back",
                    "Top_Left_Front", "Top_Right_Back", "Top_Right_Front"),
    "dog": _ANIMAL,
    "horse": _ANIMAL,
    "motorbike": ("B_WheelCenter", "B_WheelEnd", "ExhaustPipeEnd", "F_WheelCenter", "F_WheelEnd", "HandleCenter",
                  "L_HandleTip", "R_HandleTip", "SeatBase", "TailLight"),
    "person": ("B_Head", "HeadBack", "L_Ankle", "L_Ear", "L_Elbow", "L_Eye", "L_Foot", "L_Hip", "L_Knee",
               "L_Shoulder", "L_Toes", "L_Wrist", "Nose", "R_Ankle", "R_Ear", "R_Elbow", "R_Eye", "R_Foot", "R_Hip",
               "R_Knee", "R_Shoulder", "R_Toes", "R_Wrist"),
    "pottedplant": ("Bottom_Left", "Bottom_Right", "Top_Back_Middle", "Top_Front_Middle", "Top_Left", "Top_Right"),
    "sheep": _ANIMAL,
    "sofa": ("Back_Base_Left", "Back_Base_Right", "Back_Top_Left", "Back_Top_Right", "Front_Base_Left",
             "Front_Base_Right", "Handle_Front_Left", "Handle_Front_Right", "Handle_Left_Junction",
             "Handle_Right_Junction", "Left_Junction", "Right_Junction"),
    "train": ("Base_Back_Left", "Base_Back_Right", "Base_Front_Left", "Base_Front_Right", "Roof_Back_Left",
              "Roof_Back_Right", "Roof_Front_Middle"),
    "tvmonitor": ("B_Bottom_Left", "B_Bottom_Right", "B_Top_Left", "B_Top_Right", "F_Bottom_Left",
                  "F_Bottom_Right", "F_Top_Left", "F_Top_Right"),
}


def read_keypoint_xml(path: str | os.PathLike, names: Sequence[str] | None = None) -> KeypointSample:
    """Read one Bourdev keypoint XML file into a `KeypointSample` (0-based coordinates).

    Args:
        path: the XML file; names: the point order (default `KEYPOINT_NAMES[category]`).

    Returns:
        `KeypointSample`: points float32 [K, 2], NaN with visible False for keypoints absent from the file; `bbox` the
        0-based `visible_bounds` box (see `load_voc_keypoints` for the VOC box). extras: image_id, voc_id (int or None),
        annotation_id (person root id or None), subcategory, visible_bounds [4], labelled [K] (listed in the file),
        z [K], zorder [K] (-1 where absent), foreground_polygons (list of [M, 2] 0-based arrays), xml_path, bbox_source.
    """
    root = _parse_xml(path)
    if root.tag != "annotation":
        raise InputError(path, "root", "<annotation>", f"<{root.tag}>")
    image_id = _text(root, "image", path)
    category = _text(root, "category", path)
    if names is None:
        if category not in KEYPOINT_NAMES:
            raise InputError(path, "category", "one of the 20 VOC classes", category)
        names = KEYPOINT_NAMES[category]
    index = {n: i for i, n in enumerate(names)}
    k = len(names)
    pts = np.full((k, 2), np.nan, np.float32)
    vis = np.zeros(k, bool)
    lab = np.zeros(k, bool)
    z = np.full(k, np.nan, np.float32)
    zorder = np.full(k, -1, np.int32)
    kps = root.find("keypoints")
    for kp in ([] if kps is None else kps.findall("keypoint")):
        a = kp.attrib
        name = a.get("name")
        if name not in index:
            raise InputError(path, "keypoint name", f"one of the {category} keypoint names", name)
        i = index[name]
        if lab[i]:
            raise InputError(path, f"keypoint {name}", "each keypoint listed once", "duplicate")
        x = as_float(a.get("x"), path, f"keypoint {name} x")
        y = as_float(a.get("y"), path, f"keypoint {name} y")
        if not (np.isfinite(x) and np.isfinite(y)):
            raise InputError(path, f"keypoint {name} x/y", "finite coordinates", (x, y))
        v = a.get("visible", "1").strip()
        if v not in ("0", "1"):
            raise InputError(path, f"keypoint {name} visible", "0 or 1", v)
        pts[i] = (x - 1.0, y - 1.0)
        vis[i] = v == "1"
        lab[i] = True
        z[i] = as_float(a.get("z", "0"), path, f"keypoint {name} z")
        if "zorder" in a:
            zorder[i] = as_int(a["zorder"], path, f"keypoint {name} zorder")
    vb = root.find("visible_bounds")
    if vb is not None and {"xmin", "ymin", "width", "height"} <= set(vb.attrib):
        x0 = as_float(vb.attrib["xmin"], path, "visible_bounds xmin") - 1.0
        y0 = as_float(vb.attrib["ymin"], path, "visible_bounds ymin") - 1.0
        w = as_float(vb.attrib["width"], path, "visible_bounds width")
        h = as_float(vb.attrib["height"], path, "visible_bounds height")
        if not (w >= 0 and h >= 0 and np.isfinite(x0 + y0)):
            raise InputError(path, "visible_bounds", "finite xmin/ymin and width, height >= 0", (x0 + 1, y0 + 1, w, h))
        bounds = np.array([x0, y0, x0 + w, y0 + h], np.float32)
    else:  # empty or absent visible_bounds (some files): fall back to the keypoints' extent
        bounds = points_bbox(pts)
    voc_id = _text(root, "voc_id", path, required=False)
    polys = []
    for seg in root.iter("segment"):
        xs, ys = (np.array([as_float(v, path, f"polylinesegments segment {c}") for v in seg.attrib.get(c, "").split()],
                            np.float64) for c in ("x", "y"))
        if xs.shape != ys.shape:
            raise InputError(path, "polylinesegments segment", "as many x as y values", (xs.size, ys.size))
        polys.append(np.stack([xs - 1.0, ys - 1.0], axis=1).astype(np.float32))
    stem = Path(path).stem
    extras = {
        "image_id": image_id,
        "voc_id": None if voc_id is None else as_int(voc_id, path, "voc_id"),
        "annotation_id": root.attrib.get("id"),
        "subcategory": _text(root, "subcategory", path, required=False),
        "visible_bounds": bounds,
        "labelled": lab,
        "z": z,
        "zorder": zorder,
        "foreground_polygons": polys,
        "xml_path": os.fspath(path),
        "bbox_source": "visible_bounds",
    }
    return KeypointSample(points=pts, visible=vis, names=tuple(names), bbox=bounds.copy(), category=category,
                          id=f"{category}/{stem}", extras=extras)


def write_keypoint_xml(path: str | os.PathLike, sample: KeypointSample, image_id: str | None = None,
                       voc_id: int | None = None, subcategory: str | None = None, person_style: bool | None = None,
                       annotation_id: int | None = None) -> None:
    """Write `sample` as a Bourdev keypoint XML file (1-based coordinates, `%.2f`), atomically.

    NaN points are left out (absent keypoints); `visible` gives the `visible` attribute. `visible_bounds` is
    `sample.extras["visible_bounds"]` if present, else `sample.bbox`. A real file read with `read_keypoint_xml` is
    written back with the same lines (keypoints in `names` order).

    Args:
        path, sample: the file to write and the object, points [K, 2] 0-based (x, y) pixels.
        image_id, voc_id, subcategory, annotation_id: override the sample's extras (image_id default: its id).
        person_style: write the person flavour (default: category is person): root `id` (when known), no
            `<voc_id>`, `zorder` attributes, standalone="no".

    Returns:
        None; writes the file.
    """
    image_id = image_id or sample.extras.get("image_id") or sample.id
    person = sample.category == "person" if person_style is None else person_style
    voc_id = voc_id if voc_id is not None else sample.extras.get("voc_id")
    root = ET.Element("annotation")
    ann_id = annotation_id if annotation_id is not None else sample.extras.get("annotation_id")
    if person and ann_id is not None:
        root.set("id", str(ann_id))
    ET.SubElement(root, "image").text = str(image_id)
    if not person:
        ET.SubElement(root, "voc_id").text = str(1 if voc_id is None else int(voc_id))
    ET.SubElement(root, "category").text = sample.category
    sub = subcategory or sample.extras.get("subcategory")
    if sub:
        ET.SubElement(root, "subcategory").text = str(sub)
    b = np.asarray(sample.extras.get("visible_bounds", sample.bbox), np.float64)
    if np.all(np.isfinite(b)):
        ET.SubElement(root, "visible_bounds", {"height": f"{b[3] - b[1]:.2f}", "width": f"{b[2] - b[0]:.2f}",
                                               "xmin": f"{b[0] + 1:.2f}", "ymin": f"{b[1] + 1:.2f}"})
    kps = ET.SubElement(root, "keypoints")
    z = sample.extras.get("z")
    zorder = sample.extras.get("zorder")
    for i, name in enumerate(sample.names):
        x, y = (float(v) for v in sample.points[i])
        if not (np.isfinite(x) and np.isfinite(y)):
            continue
        zi = 0.0 if z is None or not np.isfinite(z[i]) else float(z[i])
        attrs = {"name": name, "visible": "1" if sample.visible[i] else "0", "x": f"{x + 1:.2f}",
                 "y": f"{y + 1:.2f}", "z": f"{zi:.2f}"}
        if person:
            attrs["zorder"] = str(0 if zorder is None or zorder[i] < 0 else int(zorder[i]))
        ET.SubElement(kps, "keypoint", attrs)
    polys = sample.extras.get("foreground_polygons") or []
    if polys:
        segs = ET.SubElement(root, "polylinesegments")
        for poly in polys:
            p = np.asarray(poly, np.float64) + 1.0
            ET.SubElement(segs, "segment", {"name": "foreground", "x": " ".join(f"{v:.2f}" for v in p[:, 0]),
                                            "y": " ".join(f"{v:.2f}" for v in p[:, 1])})
    ET.indent(root, space="    " if person else "\t")
    decl = ('<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n' if person
            else '<?xml version="1.0" encoding="utf-8"?>\n')
    write_text(path, decl + ET.tostring(root, encoding="unicode").replace(" />", "/>") + "\n")


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]) + 1)
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]) + 1)
    inter = ix * iy
    area = lambda r: (r[2] - r[0] + 1) * (r[3] - r[1] + 1)
    return float(inter / (area(a) + area(b) - inter)) if inter > 0 else 0.0


def load_voc_keypoints(annotations_root: str | os.PathLike, voc_root: str | os.PathLike | None = None,
                       categories: Sequence[str] | None = None, image_set: str | None = None,
                       skip_bad: bool = False, with_images: bool = False, progress: bool = False) -> Loaded:
    """All keypoint objects under `annotations_root/<class>/*.xml`, sorted by class then file name.

    Args:
        annotations_root: the folder of class folders (`<class>/<image>_<k>.xml`).
        categories: the classes to read (default: every VOC class with a folder there).
        voc_root: the VOC2011 folder or a parent of it. Each sample then gets `image_path` (JPEGImages/<id>.jpg),
            and `bbox` becomes the VOC ground-truth box (extras bbox_source="voc", voc_object_index, plus
            truncated/occluded/difficult), found by `voc_id` or, for person files, by best IoU with `visible_bounds`.
        image_set: "train", "val", "trainval", or a path: keep only the ids of ImageSets/Main/<set>.txt.
        skip_bad, with_images: record bad files in `.skipped` instead of raising; load each image into `image`.
        progress: a progress bar of the records read (`core.progress`: plain log lines off a terminal).

    Returns:
        A `Loaded` list of `KeypointSample`s (`read_keypoint_xml`).

    Raises:
        InputError: for a missing `annotations_root`, or one without a folder of the classes read (a wrong folder),
            an unknown category, or (without `skip_bad`) a bad file.
    """
    root = Path(annotations_root)
    if not root.is_dir():
        raise InputError(root, "annotations_root", "a folder with <class>/<image>_<k>.xml files", "missing")
    cats = list(categories) if categories is not None else [c for c in VOC_CLASSES if (root / c).is_dir()]
    for c in cats:
        if c not in KEYPOINT_NAMES:
            raise InputError(root, "categories", "VOC class names", c)
    if not any((root / c).is_dir() for c in cats):  # a wrong folder: never an empty dataset without a word
        raise InputError(root, "class folders", f"a folder <class>/ of keypoint XML files for "
                         f"{'a VOC class' if categories is None else 'one of ' + ', '.join(cats)}",
                         folder_listing(root))
    voc = _voc_dir(voc_root) if voc_root is not None else None
    keep: set[str] | None = None
    if image_set is not None:
        p = Path(image_set)
        if not p.is_file():
            if voc is None:
                raise InputError(root, "image_set", "voc_root given (ImageSets/Main/<set>.txt) or a file path",
                                 image_set)
            p = voc / "ImageSets" / "Main" / f"{image_set}.txt"
        keep = set(read_image_set(p))
    files = [f for c in cats for f in sorted((root / c).glob("*.xml"))]
    if keep is not None:  # file names are <image id>_<k>.xml: skip other images without parsing them
        files = [f for f in files if f.stem.rsplit("_", 1)[0] in keep]
    voc_cache: dict[str, list[dict]] = {}

    def parse(f: Path):
        s = read_keypoint_xml(f)
        img = s.extras["image_id"]
        if keep is not None and img not in keep:
            return None
        if voc is None:
            return s.with_image() if with_images else s
        extras = dict(s.extras)
        ann = voc / "Annotations" / f"{img}.xml"
        bbox = s.bbox
        if ann.is_file():
            if img not in voc_cache:
                voc_cache[img] = _read_voc_annotation(ann)
            objs = voc_cache[img]
            match = None
            if extras["voc_id"] is not None:
                j = extras["voc_id"] - 1
                if not 0 <= j < len(objs):
                    raise InputError(f, "voc_id", f"1..{len(objs)} (objects in {ann.name})", extras["voc_id"])
                if objs[j]["name"] != s.category:
                    raise InputError(f, "voc_id", f"an index of a {s.category} object in {ann.name}",
                                     f"object {j + 1} is a {objs[j]['name']}")
                match = j
            else:
                cands = [(_iou(o["bbox"], s.extras["visible_bounds"]), j) for j, o in enumerate(objs)
                         if o["name"] == s.category]
                if cands and max(cands)[0] > 0:
                    match = max(cands)[1]
            if match is not None:
                o = objs[match]
                bbox = o["bbox"].copy()
                extras.update(bbox_source="voc", voc_object_index=match, truncated=o["truncated"],
                              occluded=o["occluded"], difficult=o["difficult"])
        path = voc / "JPEGImages" / f"{img}.jpg"
        s = dataclasses.replace(s, bbox=bbox, image_path=os.fspath(path), extras=extras)
        return s.with_image() if with_images else s

    return collect(files, parse, skip_bad, what="load_voc_keypoints", progress=progress)


def load_voc_train_test(voc_root: str | os.PathLike | None, annotations: str | os.PathLike | None = None,
                        train_set: str = "train", test_set: str = "val"
                        ) -> tuple[list[KeypointSample], list[KeypointSample]]:
    """The protocol split of Long et al.: keypoint instances of the VOC 2011 `train` image set (training) and of the
    `val` image set (testing), images loaded.

    Args:
        voc_root: the VOC2011 folder (JPEGImages/, ImageSets/Main/); None is an InputError.
        annotations: the keypoint XML folder (`<class>/<image>_<k>.xml`), default `voc_root/annotations`.
        train_set, test_set: the image sets of the two sides.

    Returns:
        (train, test): lists of `KeypointSample`s (`load_voc_keypoints`) with `image` uint8 RGB [H, W, 3].
    """
    if voc_root is None:
        raise InputError(annotations, "voc_root", "the VOC2011 folder holding JPEGImages/ and ImageSets/", None)
    root = Path(voc_root)
    ann = Path(annotations) if annotations is not None else root / "annotations"
    if not ann.is_dir():
        raise InputError(ann, "annotations", "a folder of keypoint annotation XML files (<class>/<image>_<k>.xml)",
                         "missing folder")
    train = [s.with_image() for s in load_voc_keypoints(ann, voc_root=root, image_set=train_set)]
    test = [s.with_image() for s in load_voc_keypoints(ann, voc_root=root, image_set=test_set)]
    return train, test
