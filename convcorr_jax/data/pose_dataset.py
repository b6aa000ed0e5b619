"""What a pose dataset gives the pose cascade: `PoseDataset` (one kind of pose data, an entry of
`data.pose_sets.DATASETS`), `PersonSet` (the people of one split) and `Inputs` (how they become model inputs: the
crop protocol).

    entry = PoseDataset(people, skeleton)          # people(root, split, **options) -> PersonSet; the rest defaults
    people = entry.people(root, "train")           # samples, skeleton, boxes, norm_boxes, source
    inputs = entry.inputs(people, 128, 1.25, "person")   # affine [N, 2, 3], norm [N], torso [N, 2]: input pixels

A sample (`data.types.KeypointSample`) carries points [K, 2] (0-based (x, y) pixels, NaN where unlabelled), visible
[K], bbox, image_path (or image) and, optionally, extras["labelled"] [K] (annotated, possibly occluded: still a
training target and scored; default `visible`) and extras["index"] (the person's position in the annotation file,
e.g. for OKS against a COCO-format file; default its position in the split). The default crop protocol
(`box_inputs`) is a square around each person's box, side crop_scale x the box's longer side, with the PCK
normaliser of the skeleton (`Skeleton.normaliser_lengths`, with `norm_boxes` for "bbox").
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from convcorr_jax.core import geometry
from convcorr_jax.core.crop_geometry import person_square, square_affines
from convcorr_jax.data.skeletons import Skeleton
from convcorr_jax.data.types import KeypointSample
from convcorr_jax.core.errors import InputError

SPLITS = ("train", "val", "test")


@dataclasses.dataclass(frozen=True)
class PersonSet:
    """The people of one split of a pose dataset.

    samples: one KeypointSample per person (module docstring).
    skeleton: their Skeleton.
    boxes: float64 [N, 4] (x0, y0, x1, y1) pixels, the box each person crop is a square around (`box_inputs`).
    norm_boxes: float64 [N, 4] the person's box of the "bbox" PCK normaliser.
    source: the annotation file.
    no_keypoints: persons of the split without any labelled keypoint, left out (counted, never silently dropped).
    carved: how the split was made when the dataset has no file of its own for it (e.g. {"from": train file,
      "val_fraction": 0.1, "seed": 0, "images": 3, "of_images": 30}); None: the split is the dataset's own.
    left_out: annotations the reader left out by convention, counted per kind ({"crowd": 2, "other-category": 1}
      for a COCO-format file's crowd annotations and those of a category without keypoints); in `summary`.
    """

    samples: list[KeypointSample]
    skeleton: Skeleton
    boxes: np.ndarray
    norm_boxes: np.ndarray
    source: str
    no_keypoints: int = 0
    carved: Mapping | None = None
    left_out: Mapping[str, int] = dataclasses.field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.samples)

    def summary(self, split: str) -> str:
        """One line: people read from which file, the persons left out without labelled keypoints, the annotations
        left out by convention (`left_out`), and how the split was carved where it was.

        Args:
            split: the split's name, for the line.

        Returns:
            the line.
        """
        line = (f"{self.source} ({split}): {len(self)} people, {self.skeleton.num_joints} keypoints "
                f"({self.skeleton.name}); {self.no_keypoints} person(s) without labelled keypoints left out")
        line += "".join(f"; {n} {kind} annotation(s) left out" for kind, n in self.left_out.items() if n)
        if self.carved:
            c = self.carved
            line += (f"; no val file: val carved from {Path(c['from']).name} (seed {c['seed']}, {c['images']} of "
                     f"its {c['of_images']} images, fraction {c['val_fraction']:g})")
        return line


@dataclasses.dataclass(frozen=True)
class Inputs:
    """How one split's people become model inputs (a crop protocol's result), N people.

    affine: float64 [N, 2, 3], image pixels -> input pixels.
    norm: [N] the PCK normaliser in input pixels (NaN: the person is not scored).
    torso: [N, 2] the person's centre in input pixels (the point the spatial model is conditioned on).
    resample: False when the images are the inputs as they are (already image_size squares; affine the identity).
    """

    affine: np.ndarray
    norm: np.ndarray
    torso: np.ndarray
    resample: bool = True


Crop = Callable[[PersonSet, int, float, str], Inputs]  # (people, image_size px, crop_scale, protocol) -> Inputs


def labelled(sample: KeypointSample, points: np.ndarray) -> np.ndarray:
    """bool [K]: annotated (extras "labelled", possibly occluded: still a valid target; else `visible`) and finite in
    `points` [K, 2].

    Args:
        sample: the person.
        points: [K, 2] its points in any pixel frame (e.g. input pixels), NaN where missing.

    Returns:
        bool [K]: the points that are a training target and scored.
    """
    lab = sample.extras.get("labelled")
    ok = np.asarray(lab, bool) if lab is not None else np.asarray(sample.visible, bool)
    return ok & np.all(np.isfinite(points), -1)


def crop_points(samples: Sequence[KeypointSample], affine: np.ndarray) -> np.ndarray:
    """The samples' points in crop pixels, float32 [N, K, 2] (NaN stays NaN), under affines [N, 2, 3].

    Args:
        samples: N samples, each with points [K, 2] (the same K).
        affine: [N, 2, 3] image pixels -> crop pixels, one per sample.

    Returns:
        float32 [N, K, 2] (x, y) crop pixels.
    """
    pts = geometry.transform_points(np.stack([s.points for s in samples]).astype(np.float64), affine)
    return np.asarray(pts, np.float32)


def box_inputs(people: PersonSet, image_size: int, crop_scale: float, protocol: str = "person") -> Inputs:
    """The default crop protocol: squares around each person's box (side crop_scale x its longer inclusive pixel
    extent, `crop_geometry.box_affines`: the crops `estimate` takes about a user's person boxes) resized to image_size
    px; norm: the skeleton's normaliser in crop pixels (NaN where its joints are unlabelled); torso:
    the box's centre.

    Args:
        people: the split's people.
        image_size: the crops' side (pixels).
        crop_scale: crop side / the person box's longer side.
        protocol: "person" (the only one).

    Returns:
        the Inputs.
    """
    centres, sides = person_square(people.boxes, crop_scale)
    affine = square_affines(centres, sides, image_size)  # `box_affines`: as `estimate` crops a user's person boxes
    pts = np.stack([s.points for s in people.samples]).astype(np.float64)
    lab = np.stack([labelled(s, p) for s, p in zip(people.samples, pts)])
    norm = people.skeleton.normaliser_lengths(pts, lab, people.norm_boxes) * affine[:, 0, 0]
    torso = np.asarray(geometry.transform_points(centres[:, None], affine), np.float32)[:, 0]
    return Inputs(affine, norm, torso)


def torso_size(points: np.ndarray, skeleton: Skeleton, bbox: np.ndarray | None = None) -> float:
    """The distance between `skeleton`'s torso ends (FLIC: l shoulder - r hip, MODEC's torso) in one person's points.

    Where the skeleton has no torso ends, or the distance is not finite and positive (an end missing), the bbox
    diagonal is used instead (else 1).

    Args:
        points: [K, 2] (x, y) pixels of one person, K = `skeleton.num_joints`.
        skeleton: the points' skeleton.
        bbox: optional [4] (x0, y0, x1, y1) pixels, the fallback.

    Returns:
        The size in the points' pixels, a float.

    Raises:
        InputError: when len(points) is not the skeleton's number of joints.
    """
    if len(points) != skeleton.num_joints:
        raise InputError("torso_size", "points", f"{skeleton.num_joints} joints ({skeleton.name})", len(points))
    ends = skeleton.torso
    d = float(np.linalg.norm(points[ends[0]] - points[ends[1]])) if ends else float("nan")
    if not np.isfinite(d) or d <= 0:
        d = float(np.hypot(bbox[2] - bbox[0], bbox[3] - bbox[1])) if bbox is not None else 1.0
    return d


def image_folder(folder: Path, what: str) -> Path:
    """`folder` when it is a directory; else InputError, one line naming the folder (`what`: the dataset).

    Args:
        folder: the images folder.
        what: what it should hold, for the message.

    Returns:
        the folder.
    """
    if not folder.is_dir():
        raise InputError(folder, "images", f"a folder with the {what} images", "missing folder")
    return folder


@dataclasses.dataclass(frozen=True)
class PoseDataset:
    """One kind of pose data (an entry of `data.pose_sets.DATASETS`).

    people: (root, split, **options) -> PersonSet, the loader.
    skeleton: the kind's skeleton (with reads_skeleton: the one until a folder is read).
    reads_skeleton: the files declare the skeleton (COCO-format categories): the train split's is the kind's.
    inputs: the crop protocol, (people, image_size, crop_scale, protocol) -> Inputs (default `box_inputs`).
    protocols: the protocols `inputs` takes.
    headline: (score name, alpha) of the headline score ("PCK", 0.2: PCK@0.2 of the normaliser).
    normaliser: the PCK normaliser in words where the inputs' norm is not the skeleton's ("": the skeleton's).
    head_norm: where the inputs' norm is the head size (PCKh is PCK@0.5 of it), its name ("MPII head box");
      "": PCKh uses the skeleton's head segment, where it has one.
    splits: the splits `people` reads.
    held_out: the split evaluated while training; held_out_about: it in words.
    options: the training-config fields `people` takes as keywords of the same name ("input_size": the model's
      image_size).
    root_about: what the dataset folder holds, for messages ("": the loader needs no folder).
    oks: the people come from a COCO-format file (`source`; extras "index": the position in its annotations,
      "image_id": its image), so OKS AP scores them too.
    label: the dataset's name where what a run records names it ("FLIC": "the held-out split (FLIC's validation
      movies)"); "": the kind's name, and the split is not described.
    train_about: its train split in words where it is not a file's own ("train minus the validation movies").
    mixture: its people are several datasets' mapped onto its skeleton (`TrainConfig.datasets`, `pose.mixture`),
      not one folder's.
    A kind's crop geometry (torso or person boxes) is `crop_geometry.crop_of(kind)`, known without this entry.
    """

    people: Callable[..., PersonSet]
    skeleton: Skeleton
    reads_skeleton: bool = False
    inputs: Crop = box_inputs
    protocols: tuple[str, ...] = ("person",)
    headline: tuple[str, float] = ("PCK", 0.2)
    normaliser: str = ""
    head_norm: str = ""
    splits: tuple[str, ...] = SPLITS
    held_out: str = "val"
    held_out_about: str = "val split"
    options: tuple[str, ...] = ()
    root_about: str = "the dataset's folder"
    oks: bool = False
    label: str = ""
    train_about: str = ""
    mixture: bool = False
