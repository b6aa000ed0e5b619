"""A synthetic keypoint dataset written in COCO format with a skeleton of its own (no registry entry): the path a
user's exported dataset takes through `convcorr train pose --config coco` and `convcorr eval pose`.

    python -m convcorr_eval.tompson2015.coco_synthetic DIR [--train 1200] [--val 300] [--seed 0]

writes DIR/annotations/{train,val}.json and DIR/images/*.png: one rendered person per image (the project's
synthetic people, `data.synthetic.people.render_person`, with clutter, distractor people and occluders), annotated
with the 11 keypoints of `SKELETON` ("crown", "throat", "hand_left", ...; flip pairs from the names' side words, no
torso ends and no head segment, so PCK's normaliser is the longer side of the annotation's bbox). A seeded
`UPSIDE_DOWN` share of the images is turned by 180 degrees (people upside down, as in gymnastics): inside a box
around an upright person the mean pose alone is already close to every keypoint, so this is what makes the pose
worth predicting. A keypoint the render marks occluded is v = 1, a visible one v = 2. bbox: the keypoints' tight
box grown by `BOX_MARGIN` of its longer side on each side.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image

from convcorr_jax.data.mpii import MPII_JOINTS
from convcorr_jax.data.synthetic.people import render_person

# keypoint name -> the MPII joint it is read from
SKELETON = {
    "crown": "head top", "throat": "upper neck", "hip_centre": "pelvis",
    "elbow_left": "l elbow", "hand_left": "l wrist", "elbow_right": "r elbow", "hand_right": "r wrist",
    "knee_left": "l knee", "foot_left": "l ankle", "knee_right": "r knee", "foot_right": "r ankle",
}
LINKS = (("crown", "throat"), ("throat", "elbow_left"), ("elbow_left", "hand_left"), ("throat", "elbow_right"),
         ("elbow_right", "hand_right"), ("throat", "hip_centre"), ("hip_centre", "knee_left"),
         ("knee_left", "foot_left"), ("hip_centre", "knee_right"), ("knee_right", "foot_right"))
BOX_MARGIN = 0.08
UPSIDE_DOWN = 0.5  # the share of images turned by 180 degrees
IMAGE_SIZE = 192
SEED_OFFSET = {"train": 0, "val": 500_000}  # render indices of the two splits never overlap


def category() -> dict:
    """The COCO category of the skeleton: id 1, name "stick_figure", keypoints, skeleton (1-based links).

    Returns:
        the category dict.
    """
    names = list(SKELETON)
    return {"id": 1, "name": "stick_figure", "supercategory": "person", "keypoints": names,
            "skeleton": [[names.index(a) + 1, names.index(b) + 1] for a, b in LINKS]}


def write_split(root: Path, split: str, n: int, seed: int = 0, image_size: int = IMAGE_SIZE) -> Path:
    """Render n people and write DIR/images/<split>_NNNNNN.png and DIR/annotations/<split>.json.

    Args:
        root: the dataset folder.
        split: "train" or "val".
        n: people (one per image).
        seed: the renderer's seed.
        image_size: the images' side (pixels).

    Returns:
        the annotation file.
    """
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    ids = [MPII_JOINTS.index(j) for j in SKELETON.values()]
    images, anns = [], []
    for i in range(n):
        s = render_person(SEED_OFFSET[split] + i, seed=seed, image_size=image_size)
        name = f"{split}_{i:06d}.png"
        image, pts, vis = s.loaded_image(), np.asarray(s.points, np.float64)[ids], np.asarray(s.visible, bool)[ids]
        if np.random.default_rng([seed, SEED_OFFSET[split] + i]).random() < UPSIDE_DOWN:
            image, pts = image[::-1, ::-1], (image_size - 1) - pts  # 180 degrees: (x, y) -> (W-1-x, H-1-y)
        Image.fromarray(np.ascontiguousarray(image)).save(root / "images" / name)
        lo, hi = pts.min(0), pts.max(0)
        m = BOX_MARGIN * float(np.max(hi - lo))
        x0, y0 = lo - m
        w, h = hi - lo + 2 * m
        kp = [v for p, ok in zip(pts, vis) for v in (round(float(p[0]), 2), round(float(p[1]), 2), 2 if ok else 1)]
        images.append({"id": i + 1, "file_name": name, "width": image_size, "height": image_size})
        anns.append({"id": i + 1, "image_id": i + 1, "category_id": 1, "keypoints": kp, "num_keypoints": len(ids),
                     "bbox": [round(float(v), 2) for v in (x0, y0, w, h)], "area": round(float(w * h), 2),
                     "iscrowd": 0})
    path = root / "annotations" / f"{split}.json"
    path.write_text(json.dumps({"images": images, "annotations": anns, "categories": [category()]}))
    return path


def main(argv=None) -> int:
    """Write the dataset (module docstring).

    Args:
        argv: the command line (default sys.argv[1:]).

    Returns:
        the exit code.
    """
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("root", help="the dataset folder to write")
    p.add_argument("--train", type=int, default=1200, help="training people")
    p.add_argument("--val", type=int, default=300, help="validation people")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    for split, n in (("train", a.train), ("val", a.val)):
        print(f"wrote {write_split(Path(a.root), split, n, a.seed)} ({n} people)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
