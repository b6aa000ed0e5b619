"""Generate the synthetic sets into real-format folders and read them back through the real loaders.

Folder layouts (each also carries `synthetic.json`: kind, n, seed, image_size, counts):
* objects: VOC style: `JPEGImages/<id>.jpg`, `Annotations/<id>.xml`, Bourdev keypoint XML
  `annotations/<class>/<id>_1.xml`, `SegmentationClass/<id>.png`, `ImageSets/{Main,Segmentation}/{train,test}.txt`.
* people: MPII/FLIC style: `images/<id>.jpg`, hourglass h5 `annot/train.h5` and `annot/valid.h5` (the test
  split), FLIC `examples.mat` (istrain/istest) over the same images.
* faces: 300-W style: `trainset/<id>.png` + `.pts`, `testset/<id>.png` + `.pts`, `attributes.json`.
Samples depend only on (seed, index): the first m samples of a set of n equal those of a set of m.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Literal, overload

import numpy as np
from PIL import Image

from convcorr_jax.core import cache, interrupt
from convcorr_jax.data.synthetic import faces, objects, people
from convcorr_jax.data.types import KeypointSample
from convcorr_jax.core.errors import InputError, is_int
from convcorr_jax.core.io import atomic_path, write_json

KINDS = ("objects", "people", "faces")
DEFAULT_SIZE = {"objects": 192, "people": 128, "faces": 128}
FORMAT_VERSION = 1
log = logging.getLogger(__name__)


def check_set(kind: str, n: int, seed: int, image_size: int, split: str | None) -> None:
    """InputError naming the first setting of a requested set out of range.

    Args:
      kind: one of `KINDS`; n: samples (>= 1); seed: the set's seed (>= 0); image_size: side in px (32..2048).
      split: None, "train" or "test".

    Returns:
      None (raises InputError otherwise).
    """
    if kind not in KINDS:
        raise InputError("synthetic", "kind", f"one of {KINDS}", kind)
    if not (isinstance(n, (int, np.integer)) and n >= 1):
        raise InputError("synthetic", "n", "an integer >= 1", n)
    if not is_int(seed, 0):
        raise InputError("synthetic", "seed", "an integer >= 0", seed)
    if not (isinstance(image_size, (int, np.integer)) and 32 <= image_size <= 2048):
        raise InputError("synthetic", "image_size", "an integer in 32..2048", image_size)
    if split not in (None, "train", "test"):
        raise InputError("synthetic", "split", "None, 'train' or 'test'", split)


# --------------------------------------------------------------------------------------- rendering


@overload
def render_sample(kind: Literal["objects"], index: int, seed: int = ..., image_size: int | None = ...,
                  noise_sigma: float = ...) -> tuple[KeypointSample, np.ndarray]: ...
@overload
def render_sample(kind: Literal["people", "faces"], index: int, seed: int = ..., image_size: int | None = ...,
                  noise_sigma: float = ...) -> KeypointSample: ...
@overload
def render_sample(kind: str, index: int, seed: int = ..., image_size: int | None = ...,
                  noise_sigma: float = ...) -> KeypointSample | tuple[KeypointSample, np.ndarray]: ...
def render_sample(kind: str, index: int, seed: int = 0, image_size: int | None = None,
                  noise_sigma: float = 0.0) -> KeypointSample | tuple[KeypointSample, np.ndarray]:
    """In-memory sample `index` of a set, with its image (objects: (sample, label map)). Ids equal the loaded ones.

    Args:
        kind, index, seed: one of `KINDS`, the sample's index and the set's seed.
        image_size, noise_sigma: image side in px (None: `DEFAULT_SIZE[kind]`); people's annotation noise (px).

    Returns:
        A `KeypointSample` with image uint8 RGB [S, S, 3] (`render_person`, `render_face`: id "<split>set/..."), or
        for objects (sample, label uint8 [S, S]) (`render_object`).
    """
    size = DEFAULT_SIZE[kind] if image_size is None else int(image_size)
    if kind == "objects":
        return objects.render_object(index, seed, size)
    if kind == "people":
        return people.render_person(index, seed, size, noise_sigma=noise_sigma)
    if kind == "faces":
        s = faces.render_face(index, seed, size)
        return dataclasses.replace(s, id=f"{s.extras['split']}set/{s.id}")
    raise InputError("synthetic", "kind", f"one of {KINDS}", kind)


def _write_one(args) -> KeypointSample:
    """Render sample `index` and write its per-sample files under root; returns the annotation (no image)."""
    kind, index, seed, size, root, noise = args
    root = Path(root)
    if kind == "objects":
        from convcorr_jax.data.voc_devkit import write_voc_annotation
        from convcorr_jax.data.voc_keypoints import write_keypoint_xml
        from convcorr_jax.data.voc_segmentation import write_label_png

        s, label = render_sample(kind, index, seed, size)
        iid = s.extras["image_id"]
        _save_image(root / "JPEGImages" / f"{iid}.jpg", s.loaded_image())
        write_label_png(root / "SegmentationClass" / f"{iid}.png", label)
        write_voc_annotation(
            root / "Annotations" / f"{iid}.xml",
            iid,
            (size, size),
            [
                {
                    "name": s.category,
                    "bbox": s.bbox,
                    "occluded": int(s.extras["occluders"] > 0),
                    "truncated": int(_truncated(s, size)),
                }
            ],
        )
        write_keypoint_xml(root / "annotations" / s.category / f"{iid}_1.xml", s, image_id=iid, voc_id=1)
    elif kind == "people":
        s = render_sample(kind, index, seed, size, noise)
        _save_image(root / "images" / f"synth_{index:06d}.jpg", s.loaded_image())
    else:
        from convcorr_jax.data.faces300w import write_pts

        s = render_sample(kind, index, seed, size)
        _save_image(root / f"{s.id}.png", s.loaded_image())
        write_pts(root / f"{s.id}.pts", s.points)
    return dataclasses.replace(s, image=None)


def _truncated(s: KeypointSample, size: int) -> bool:
    b = s.bbox
    return bool(b[0] <= 0 or b[1] <= 0 or b[2] >= size - 1 or b[3] >= size - 1)


def _save_image(path: Path, image: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        if path.suffix == ".jpg":
            Image.fromarray(image).save(tmp, format="JPEG", quality=95, subsampling=0)
        else:
            Image.fromarray(image).save(tmp, format="PNG", compress_level=1)


def _generate(kind: str, n: int, seed: int, size: int, root: Path, noise: float, workers: int,
              progress: bool = False) -> list:
    """Annotations of samples 0..n-1 (files written under root), with a progress bar when `progress`.

    With workers > 1 the indices are sharded over separate interpreters (`_worker`), so callers need no
    `if __name__ == "__main__"` guard and nothing is forked from a process that may hold JAX threads.
    """
    from convcorr_jax.core.progress import bar as progress_bar

    args = [(kind, i, seed, size, os.fspath(root), noise) for i in range(n)]
    if workers <= 1 or n < 64:
        return [_write_one(a) for a in progress_bar(args, desc=f"synth {kind}", disable=not progress, leave=False)]
    import pickle
    import subprocess
    import threading

    pkg_root = Path(__file__).resolve().parents[3]
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([os.fspath(pkg_root)] + [p for p in [os.environ.get("PYTHONPATH")] if p])
    )
    with tempfile.TemporaryDirectory(prefix="synth-work-") as work:
        outs = [Path(work) / f"shard{w}.pkl" for w in range(workers)]
        logs = [open(Path(work) / f"shard{w}.log", "w+") for w in range(workers)]
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "convcorr_jax.data.synthetic._worker",
                    kind,
                    str(seed),
                    str(size),
                    os.fspath(root),
                    str(noise),
                    str(workers),
                    str(w),
                    os.fspath(outs[w]),
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=logs[w],
                text=True,
                env=env,
            )
            for w in range(workers)
        ]
        bar = progress_bar(total=n, desc=f"synth {kind}", leave=False, disable=not progress)
        lock = threading.Lock()

        def pump(p) -> None:
            p.stdin.write(f"{n}\n")
            p.stdin.close()
            for _ in p.stdout:
                with lock:
                    bar.update(1)

        try:
            threads = [threading.Thread(target=pump, args=(p,), daemon=True) for p in procs]
            for t in threads:
                t.start()
            for t in threads:
                while t.is_alive():  # the main thread waits here, a safe point for a stop (the bar's updates are not)
                    t.join(0.2)
                    interrupt.stop_if_requested()
            for w, p in enumerate(procs):
                if p.wait() != 0:
                    logs[w].seek(0)
                    raise RuntimeError(
                        f"synthetic {kind} worker {w} failed (exit {p.returncode}):\n{logs[w].read()[-3000:]}"
                    )
        finally:
            bar.close()
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()
            for f in logs:
                f.close()
        anns = [a for o in outs for a in pickle.loads(o.read_bytes())]
    return sorted(anns, key=lambda a: a.extras["index"])


def write_dataset(
    kind: str,
    root: str | os.PathLike,
    n: int,
    seed: int = 0,
    image_size: int | None = None,
    workers: int = 1,
    noise_sigma: float = 0.0,
    progress: bool = False,
) -> dict:
    """Generate n samples of `kind` into `root` in the real formats (module docstring).

    Args:
        kind, root, n, seed: one of `KINDS`, the folder (created), the number of samples and the seed.
        image_size, workers, noise_sigma: side px (None: `DEFAULT_SIZE`), worker processes, people's noise (px).
        progress: draw a progress bar (command lines).

    Returns:
        dict, the summary also written to synthetic.json (kind, n, seed, image_size, train/test/per-class counts, ...).
    """
    size = DEFAULT_SIZE[kind] if image_size is None else int(image_size)
    check_set(kind, n, seed, size, None)
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    anns = _generate(kind, n, seed, size, root, noise_sigma, workers, progress)
    splits = {sp: [a for a in anns if a.extras["split"] == sp] for sp in ("train", "test")}
    if kind == "objects":
        from convcorr_jax.data.voc_devkit import write_image_set

        for sp, lst in splits.items():
            ids = [a.extras["image_id"] for a in lst]
            write_image_set(root / "ImageSets" / "Main" / f"{sp}.txt", ids)
            write_image_set(root / "ImageSets" / "Segmentation" / f"{sp}.txt", ids)
        counts = {c: sum(a.category == c for a in anns) for c in objects.OBJECT_CATEGORIES}
    elif kind == "people":
        from convcorr_jax.data.flic import write_flic_mat
        from convcorr_jax.data.mpii import write_mpii_h5

        (root / "annot").mkdir(exist_ok=True)
        for sp, fname in (("train", "train.h5"), ("test", "valid.h5")):
            # center/scale are MPII's objpos and height/200 (center_raw/scale_raw to the writer, which stores
            # the hourglass crop-adjusted values)
            lst = [
                dataclasses.replace(
                    a,
                    image_path=os.fspath(root / "images" / f"synth_{a.extras['index']:06d}.jpg"),
                    extras={k: v for k, v in a.extras.items() if k not in ("center", "scale")},
                )
                for a in splits[sp]
            ]
            write_mpii_h5(root / "annot" / fname, lst)
        write_flic_mat(
            root / "examples.mat",
            [_flic_view(a, root, size) for a in anns],
            [a.extras["split"] == "train" for a in anns],
        )
        counts = {"people": n}
    else:
        write_json(root / "attributes.json", {a.id: a.extras["attributes"] for a in anns})
        counts = {"faces": n}
    info = {
        "kind": kind,
        "n": n,
        "seed": seed,
        "image_size": size,
        "noise_sigma": noise_sigma,
        "format_version": FORMAT_VERSION,
        "train": len(splits["train"]),
        "test": len(splits["test"]),
        "counts": counts,
        "seconds": round(time.perf_counter() - t0, 2),
    }
    write_json(root / "synthetic.json", info)
    return info


def _flic_view(a: KeypointSample, root: Path, size: int) -> KeypointSample:
    from convcorr_jax.data._common import points_bbox

    p = a.extras["flic_points"]
    return KeypointSample(
        points=p,
        visible=np.ones(len(p), bool),
        names=people.FLIC_NAMES,
        bbox=points_bbox(p),
        category="person",
        id=a.id,
        image_path=os.fspath(root / "images" / f"synth_{a.extras['index']:06d}.jpg"),
        extras={
            "torso_box": a.extras["torso_box"],
            "imgdims": (size, size, 3),
            "moviename": "synthetic",
            "currframe": a.extras["index"] % 65536,
        },
    )


# --------------------------------------------------------------------------------------- cache


def dataset_dir(
    kind: str,
    n: int,
    seed: int = 0,
    image_size: int | None = None,
    noise_sigma: float = 0.0,
    workers: int | None = None,
) -> Path:
    """The cached folder of a set, generated once. Keyed by its settings, FORMAT_VERSION and the source of the
    generators (`convcorr_jax.core.cache`), so a changed generator never serves an old set.

    Args:
        kind, n, seed, image_size, noise_sigma: as `write_dataset`; workers: its processes (None: 2 from n = 400).

    Returns:
        The folder's Path (`write_dataset`'s layout).
    """
    size = DEFAULT_SIZE[kind] if image_size is None else int(image_size)
    check_set(kind, n, seed, size, None)
    settings = {"kind": kind, "n": int(n), "seed": int(seed), "size": size, "noise_sigma": float(noise_sigma),
                "format_version": FORMAT_VERSION}

    def build(folder: Path) -> None:
        w = workers if workers is not None else (2 if n >= 400 else 1)
        info = write_dataset(kind, folder, n, seed, size, workers=w, noise_sigma=noise_sigma)
        log.info("synthetic %s: generated %d samples (%d train / %d test) in %.1f s", kind, n, info["train"],
                 info["test"], info["seconds"])

    return cache.cached("synthetic", settings, cache.code_version("convcorr_jax.data.synthetic"), build)
