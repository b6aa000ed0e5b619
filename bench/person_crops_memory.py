"""Peak memory of building the person-crop cache, as the number of people grows (synthetic COCO-format folders).

    python bench/person_crops_memory.py [--people 1000,4000,16000] [--size 128]

For each N: a COCO-format folder of N tiny images (8 x 8 px PNGs, one person each, 17 keypoints) is written to a
temporary folder, then a fresh process with an empty cache (`CONVCORR_CACHE`) reads its people
(`pose.person_crops.person_set`) and builds their crops (`person_crops`, `--size` px). The table gives that
process's peak RSS (`resource.getrusage`) after reading the people and after the crops, the seconds of each, and
the crops' bytes on disk: a build that holds every crop in memory peaks near the crops' bytes plus the baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from convcorr_jax.core import runinfo
from convcorr_jax.data.skeletons import COCO17

CHILD = """
import json, resource, sys, time
from convcorr_jax.pose import person_crops
root, size = sys.argv[1], int(sys.argv[2])
rss = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
t0 = time.perf_counter(); people = person_crops.person_set("coco", root, "train"); t1 = time.perf_counter()
r1 = rss()
crops = person_crops.person_crops("coco", root, "train", size, 1.25, people=people)
print(json.dumps({"people_s": t1 - t0, "crops_s": time.perf_counter() - t1, "rss_people": r1, "rss_crops": rss(),
                  "crops_mb": crops.arrays.images.nbytes / 2 ** 20}))
"""


def write_folder(root: Path, n: int, side: int = 8) -> None:
    """A COCO-format folder: annotations/train.json and images/ of n side x side PNGs, one person each."""
    rng = np.random.default_rng(0)
    (root / "annotations").mkdir(parents=True)
    (root / "images").mkdir()
    pixels = Image.fromarray(rng.integers(0, 255, (side, side, 3), dtype=np.uint8))
    images, anns = [], []
    for i in range(n):
        pixels.save(root / "images" / f"{i:07d}.png")
        images.append({"id": i, "file_name": f"{i:07d}.png", "width": side, "height": side})
        kp = np.column_stack([rng.uniform(0, side - 1, (17, 2)), np.full(17, 2)]).ravel().tolist()
        anns.append({"id": i, "image_id": i, "category_id": 1, "keypoints": kp, "num_keypoints": 17,
                     "bbox": [0, 0, side - 1, side - 1], "area": float(side * side), "iscrowd": 0})
    cat = {"id": 1, "name": "person", "keypoints": list(COCO17.names), "skeleton": []}
    (root / "annotations" / "train.json").write_text(json.dumps({"images": images, "annotations": anns,
                                                                 "categories": [cat]}))


def main() -> None:
    a = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    a.add_argument("--people", default="1000,4000,16000", help="numbers of people, comma-separated")
    a.add_argument("--size", type=int, default=128, help="crop side (px)")
    args = a.parse_args()
    print(runinfo.header("bench: person-crop cache build, peak memory", vars(args)))
    print(f"machine: {runinfo.machine()}\n")
    print("| people | crops on disk (MiB) | peak RSS after the people (MiB) | peak RSS after the crops (MiB) "
          "| people (s) | crops (s) |\n|---:|---:|---:|---:|---:|---:|")
    with runinfo.timed() as total:
        for n in (int(v) for v in args.people.split(",")):
            with tempfile.TemporaryDirectory() as tmp:
                write_folder(Path(tmp) / "coco", n)
                env = {**os.environ, "CONVCORR_CACHE": str(Path(tmp) / "cache")}
                out = subprocess.run([sys.executable, "-c", CHILD, str(Path(tmp) / "coco"), str(args.size)],
                                     env=env, capture_output=True, text=True, check=True).stdout
                r = json.loads(out.strip().splitlines()[-1])
            print(f"| {n} | {r['crops_mb']:.0f} | {r['rss_people']:.0f} | {r['rss_crops']:.0f} | "
                  f"{r['people_s']:.1f} | {r['crops_s']:.1f} |")
    print(f"\nwall time {total['seconds']:.1f} s")


if __name__ == "__main__":
    main()
