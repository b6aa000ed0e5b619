"""Skeletons as data: keypoint names, flip pairs, links, joint groups, the PCK normaliser and OKS sigmas, in one
registry (FLIC, MPII, LSP, COCO-17, 300-W's 68 face points), and the skeleton a COCO-format keypoint file declares
(no code for a new one). The joint names of FLIC, MPII, LSP and 300-W live here (`data.flic`, `data.mpii`,
`data.lsp` and `data.faces300w` read their files in this order); a COCO-format file with the names of a registered
skeleton gets its flip pairs (300-W's mirror pairs, which its point names do not give).

    sk = get("lsp")                                   # a registered skeleton
    sk.names, sk.edges, sk.flip, sk.groups            # K names, bones (i, j), mirror permutation, table columns
    sk = from_coco_category(category, "train.json")   # a COCO file's categories[i]: keypoints + skeleton (1-based)
    norm = sk.normaliser_lengths(points, labelled, boxes)   # [N] the PCK normaliser in the points' pixels

A skeleton's PCK normaliser is one of three, named by `normaliser`:
  "torso"  the distance between its two `torso` joints (FLIC and LSP: l shoulder - r hip, the torso of Sapp &
           Taskar's eval_pck.m, d <= alpha x torso);
  "head"   the length of its `head` segment (MPII: upper neck - head top; its h5 head box gives PCKh where present);
  "bbox"   the longer side of the person's box (COCO-17: the annotation's bbox; LSP: the tight box around the
           person's labelled joints, as Yang & Ramanan's PCK but max(x1 - x0, y1 - y0) without their + 1 pixel,
           which scores every person where LSPET leaves a torso joint unlabelled for about a third of them; every
           skeleton without torso ends).
A person whose normaliser joints are not both labelled gets NaN: it is left out of PCK and counted (never a silent
fallback to another normaliser). Nothing here chooses by the number of joints.

COCO-format files may add, to a category, the optional fields `flip_pairs` ([[left, right], ...] names or 1-based
ids), `torso` and `head` ([a, b], names or 1-based ids), `groups` ({name: [names or 1-based ids]}) and `sigmas`
(OKS sigma per keypoint); without `flip_pairs`, names that differ only in a left/right word ("left_eye" /
"right_eye", "l_knee" / "r_knee", "leftHand" / "rightHand", "lsho" / "rsho") are paired; the side is a token of its
own (`keypoint_sides.side_key`), so "tail" or "collar" has none and is its own mirror.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np

from convcorr_jax.core.errors import InputError, is_int, is_real
from convcorr_jax.core.registry import Registry
# side_key: also importable from here, its home before `keypoint_sides`
from convcorr_jax.data.keypoint_sides import name_flip_pairs, side_key  # noqa: F401
from convcorr_jax.data.skeleton_checks import (check_ids, check_keypoint_names, check_two_ids,
                                                checked_sequence)

Pairs = tuple[tuple[int, int], ...]
NORMALISERS = ("torso", "head", "bbox")
MPII_JOINTS: tuple[str, ...] = (
    "r ankle", "r knee", "r hip", "l hip", "l knee", "l ankle", "pelvis", "thorax", "upper neck", "head top",
    "r wrist", "r elbow", "r shoulder", "l shoulder", "l elbow", "l wrist",
)
LSP_JOINTS: tuple[str, ...] = (
    "r ankle", "r knee", "r hip", "l hip", "l knee", "l ankle", "r wrist", "r elbow", "r shoulder",
    "l shoulder", "l elbow", "l wrist", "neck", "head top",
)
# The 29 MODEC joint slots (lookupPart.m), 0-based column order.
FLIC_JOINTS: tuple[str, ...] = (
    "lsho", "lelb", "lwri", "rsho", "relb", "rwri", "lhip", "lkne", "lank", "rhip", "rkne", "rank", "leye", "reye",
    "lear", "rear", "nose", "msho", "mhip", "mear", "mtorso", "mluarm", "mruarm", "mllarm", "mrlarm", "mluleg",
    "mruleg", "mllleg", "mrlleg",
)
FLIC_LABELLED: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6, 9, 12, 13, 16)  # the 11 slots FLIC labels
FLIC_LABELLED_NAMES: tuple[str, ...] = tuple(FLIC_JOINTS[i] for i in FLIC_LABELLED)
# iBUG / 300-W's 68 face points, 0-based order (right / left: the subject's): jaw 0-16, right brow 17-21, left brow
# 22-26, nose bridge 27-30, nose base 31-35, right eye 36-41, left eye 42-47, outer lips 48-59, inner lips 60-67
IBUG_68_NAMES: tuple[str, ...] = tuple(f"{g}_{i}" for g, n in (
    ("jaw", 17), ("right_brow", 5), ("left_brow", 5), ("nose_bridge", 4), ("nose_base", 5), ("right_eye", 6),
    ("left_eye", 6), ("outer_lip", 12), ("inner_lip", 8)) for i in range(n))


@dataclasses.dataclass(frozen=True)
class Skeleton:
    """A keypoint skeleton (module docstring), the joint set of a pose dataset.

    name: short name ("flic", "lsp", or the COCO category's name).
    names: the K keypoint names, in order.
    links: pairs of joint ids joined by a bone (drawings; the spatial model's tree, `spatial_tree`); also `edges`.
    flip_pairs: (left, right) joint ids swapped by a horizontal mirror.
    groups: table column -> joint ids pooled in it (given as {}: one column per joint, named by the joint).
    normaliser: "torso", "head" or "bbox".
    torso, head: the two joint ids of the torso and of the head segment (None: the skeleton has none).
    sigmas: COCO's OKS sigma per keypoint (None: unknown).
    tree: the spatial model's (parent, child) edges with the torso point as node K (None: `spatial_tree` derives
      it from the links).
    title: the name shown in tables ("FLIC"; "": `name`), also `dataset`.
    """

    name: str
    names: tuple[str, ...]
    links: Pairs
    flip_pairs: Pairs = ()
    groups: Mapping[str, tuple[int, ...]] = dataclasses.field(default_factory=dict)
    normaliser: str = "bbox"
    torso: tuple[int, int] | None = None
    head: tuple[int, int] | None = None
    sigmas: tuple[float, ...] | None = None
    tree: Pairs | None = None
    title: str = ""

    def __post_init__(self):
        source = f"skeleton {self.name}"
        check_keypoint_names(source, "names", self.names)  # before the default groups, one per name
        if not self.groups:
            object.__setattr__(self, "groups", {n: (i,) for i, n in enumerate(self.names)})
        self.validate(source)

    @property
    def num_joints(self) -> int:
        """K, the number of keypoints."""
        return len(self.names)

    @property
    def flip(self) -> tuple[int, ...]:
        """The joint permutation of a horizontal mirror: each joint's mirror partner (itself when unpaired)."""
        perm = list(range(self.num_joints))
        for a, b in self.flip_pairs:
            perm[a], perm[b] = b, a
        return tuple(perm)

    @property
    def edges(self) -> Pairs:
        """The bones (i, j) drawn between joints: `links`."""
        return self.links

    @property
    def dataset(self) -> str:
        """The name shown in tables: `title`, else `name`."""
        return self.title or self.name

    @property
    def left(self) -> tuple[int, ...]:
        """The ids drawn as the person's left side: the first joint of each flip pair, sorted."""
        return tuple(sorted(a for a, _ in self.flip_pairs))

    @property
    def column_groups(self) -> Mapping[str, tuple[int, ...]]:
        """The table's columns: `groups` (one column per joint where none were given)."""
        return self.groups

    def validate(self, source: str) -> Skeleton:
        """Check the name and title (strings), the keypoint names (non-empty, distinct, non-blank strings), every
        joint id (each link, flip pair, torso and head: two different joints; links, flip pairs and tree: sequences
        of such pairs), the groups, the normaliser, the sigmas and the tree's node ids (pairs of two different ints
        0..K); InputError naming `source` and the field.

        Args:
            source: what the error names (`skeleton <name>`, a file).

        Returns:
            the skeleton itself.
        """
        for field, value in (("name", self.name), ("title", self.title)):  # no str(): a number is no name
            if not isinstance(value, str) or (field == "name" and not value.strip()):
                raise InputError(source, field, "a non-blank string" if field == "name" else "a string", repr(value))
        check_keypoint_names(source, "names", self.names)
        self._check_ids(source)
        self._check_normaliser(source)
        return self

    def _check_ids(self, source: str) -> None:
        """InputError unless links, flip pairs, torso, head and tree are pairs of two different ids and each group
        a sequence of joint ids (`validate`)."""
        k = len(self.names)
        joint_ids = f"joint ids of the skeleton's {k} keypoints"
        ends = [(f, [getattr(self, f)]) for f in ("torso", "head") if getattr(self, f) is not None]
        for field, pairs in (("links", self.links), ("flip_pairs", self.flip_pairs), *ends):
            for p in checked_sequence(source, field, pairs, "a sequence of (a, b) joint id pairs"):
                check_two_ids(source, field, p, k, joint_ids)
        flipped = [j for fp in self.flip_pairs for j in fp]
        if len(set(flipped)) != len(flipped):
            raise InputError(source, "flip_pairs", "each joint in at most one pair", list(self.flip_pairs))
        tree = () if self.tree is None else checked_sequence(source, "tree", self.tree,
                                                             "a sequence of (parent, child) pairs")
        for pair in tree:
            check_two_ids(source, "tree", pair, k + 1, f"node ids 0..{k} (node {k}: the torso point)", "node")
        if not isinstance(self.groups, Mapping):
            raise InputError(source, "groups", "a mapping {column: joint ids}", self.groups)
        for g, members in self.groups.items():
            if not isinstance(g, str) or not g.strip():
                raise InputError(source, "groups", "column names that are non-blank strings", repr(g))
            members = checked_sequence(source, f"groups.{g}", members, "a sequence of joint ids")
            check_ids(source, f"groups.{g}", members, k, joint_ids)

    def _check_normaliser(self, source: str) -> None:
        """InputError unless the normaliser is known (its two joints given) and the sigmas are K numbers > 0."""
        k = len(self.names)
        if self.normaliser not in NORMALISERS:
            raise InputError(source, "normaliser", f"one of {NORMALISERS}", self.normaliser)
        if getattr(self, self.normaliser, ()) is None:
            raise InputError(source, self.normaliser, f"two joints (the {self.normaliser} normaliser's ends)", None)
        if self.sigmas is not None:
            sig = checked_sequence(source, "sigmas", self.sigmas,
                                   f"a sequence of {k} positive OKS sigmas (one per keypoint)")
            if len(sig) != k or not all(is_real(s, finite=True) and s > 0 for s in sig):
                raise InputError(source, "sigmas", f"{k} finite OKS sigmas > 0", list(sig))

    def normaliser_lengths(self, points: np.ndarray, labelled: np.ndarray, boxes: np.ndarray | None = None
                           ) -> np.ndarray:
        """The PCK normaliser [N] (pixels) of people with points [N, K, 2], labelled [N, K] and boxes [N, 4]
        (x0, y0, x1, y1; needed for "bbox"): NaN (the person left out of PCK, `metrics.pck_hits`) where the
        normaliser's joints are not both labelled, and where it is not > 0 (a degenerate annotation: both ends on one
        pixel, a box of no extent).

        Args:
            points: keypoints [N, K, 2] in pixels.
            labelled: bool [N, K], the keypoints that carry a coordinate.
            boxes: person boxes [N, 4] (only for the "bbox" normaliser).

        Returns:
            float64 [N], the normaliser in the points' pixels.
        """
        pts = np.asarray(points, np.float64)
        if self.normaliser == "bbox":
            if boxes is None:
                raise InputError(f"skeleton {self.name}", "bbox", "person boxes for the bbox normaliser")
            b = np.asarray(boxes, np.float64).reshape(-1, 4)
            length = np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1])
        else:
            a, b = getattr(self, self.normaliser)
            ok = np.asarray(labelled, bool)[:, a] & np.asarray(labelled, bool)[:, b]
            length = np.where(ok, np.linalg.norm(pts[:, a] - pts[:, b], axis=-1), np.nan)
        return np.where(length > 0, length, np.nan)

    def head_lengths(self, points: np.ndarray, labelled: np.ndarray) -> np.ndarray | None:
        """The head segment's length [N] (PCKh's normaliser; NaN where unlabelled), None without a head segment.

        Args:
            points: keypoints [N, K, 2].
            labelled: bool [N, K].

        Returns:
            float64 [N] or None.
        """
        if self.head is None:
            return None
        return dataclasses.replace(self, normaliser="head").normaliser_lengths(points, labelled)

    def normaliser_name(self) -> str:
        """The normaliser in words, e.g. "torso (lsho - rhip)" or "bbox (the person box's longer side)"."""
        if self.normaliser == "bbox":
            return "bbox (the person box's longer side)"
        a, b = getattr(self, self.normaliser)
        return f"{self.normaliser} ({self.names[a]} - {self.names[b]})"

    def spatial_tree(self) -> Pairs:
        """The spatial model's tree: (parent, child) pairs over nodes 0..K-1 (joints) and K (the torso point, the
        root). `tree` when given; else the torso point joined to the torso joints (or, without them, to the joint
        with the most links, the lowest id on a tie), then a breadth-first spanning tree of the links, each part
        the links do not reach joined to the torso point by its lowest id.

        Returns:
            the K edges, parents before their children.
        """
        if self.tree is not None:
            return self.tree
        k = self.num_joints
        nbrs: dict[int, list[int]] = {i: [] for i in range(k)}
        for a, b in self.links:
            nbrs[a].append(b)
            nbrs[b].append(a)
        hubs = list(self.torso) if self.torso is not None else [max(range(k), key=lambda i: (len(nbrs[i]), -i))]
        edges, seen = [], set()
        for start in hubs + list(range(k)):
            if start in seen:
                continue
            seen.add(start)
            edges.append((k, start))
            queue = [start]
            while queue:
                node = queue.pop(0)
                for nxt in sorted(nbrs[node]):
                    if nxt not in seen:
                        seen.add(nxt)
                        edges.append((node, nxt))
                        queue.append(nxt)
        return tuple(edges)


def _pairs(values: Sequence[Sequence[int]]) -> Pairs:
    return tuple((int(a), int(b)) for a, b in values)


# FLIC's 11 labelled joints (lsho lelb lwri rsho relb rwri lhip rhip leye reye nose); the spatial tree: torso ->
# shoulders -> elbows -> wrists; torso -> hips; torso -> nose -> eyes (node 11: the torso point).
FLIC = Skeleton(
    "flic", FLIC_LABELLED_NAMES,
    _pairs(((0, 1), (1, 2), (3, 4), (4, 5), (0, 3), (0, 6), (3, 7), (6, 7), (8, 10), (9, 10))),
    _pairs(((0, 3), (1, 4), (2, 5), (6, 7), (8, 9))),
    {"Head": (8, 9, 10), "Shoulder": (0, 3), "Elbow": (1, 4), "Wrist": (2, 5), "Hip": (6, 7)},
    "torso", torso=(0, 7),
    tree=_pairs(((11, 0), (0, 1), (1, 2), (11, 3), (3, 4), (4, 5), (11, 6), (11, 7), (11, 10), (10, 8), (10, 9))),
    title="FLIC",
)
MPII = Skeleton(
    "mpii", MPII_JOINTS,
    _pairs(((0, 1), (1, 2), (2, 6), (3, 6), (3, 4), (4, 5), (6, 7), (7, 8), (8, 9), (10, 11), (11, 12), (12, 7),
            (7, 13), (13, 14), (14, 15))),
    _pairs(((3, 2), (4, 1), (5, 0), (13, 12), (14, 11), (15, 10))),
    {"Head": (9,), "Shoulder": (12, 13), "Elbow": (11, 14), "Wrist": (10, 15), "Hip": (2, 3), "Knee": (1, 4),
     "Ankle": (0, 5)},
    "head", torso=(13, 2), head=(8, 9), title="MPII",
)
LSP = Skeleton(
    "lsp", LSP_JOINTS,
    _pairs(((0, 1), (1, 2), (3, 4), (4, 5), (2, 3), (6, 7), (7, 8), (9, 10), (10, 11), (8, 12), (9, 12), (12, 13),
            (2, 8), (3, 9))),
    _pairs(((3, 2), (4, 1), (5, 0), (9, 8), (10, 7), (11, 6))),
    {"Head": (13,), "Shoulder": (8, 9), "Elbow": (7, 10), "Wrist": (6, 11), "Hip": (2, 3), "Knee": (1, 4),
     "Ankle": (0, 5)},
    "bbox", torso=(9, 2), head=(12, 13), title="LSP",
)
COCO17_NAMES = ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
                "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
                "right_knee", "left_ankle", "right_ankle")
COCO17_LINKS_1BASED = ((16, 14), (14, 12), (17, 15), (15, 13), (12, 13), (6, 12), (7, 13), (6, 7), (6, 8), (7, 9),
                       (8, 10), (9, 11), (2, 3), (1, 2), (1, 3), (2, 4), (3, 5), (4, 6), (5, 7))
COCO17 = Skeleton(
    "coco17", COCO17_NAMES, _pairs([(a - 1, b - 1) for a, b in COCO17_LINKS_1BASED]),
    _pairs(((1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16))),
    {"Head": (0, 1, 2, 3, 4), "Shoulder": (5, 6), "Elbow": (7, 8), "Wrist": (9, 10), "Hip": (11, 12),
     "Knee": (13, 14), "Ankle": (15, 16)},
    "bbox", torso=(5, 12),
    sigmas=tuple(s / 10 for s in (.26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62, 1.07, 1.07, .87, .87, .89,
                                  .89)),
)
# the skeleton of a model for people of every kind: every joint of FLIC (its 11, in FLIC's order, so its torso ends
# and groups keep their ids), LSP and MPII (legs, neck, head top) and COCO-17's eyes and nose; left and right from
# the person's view, as FLIC, LSP and MPII label them
PERSON_NAMES = ("l shoulder", "l elbow", "l wrist", "r shoulder", "r elbow", "r wrist", "l hip", "r hip", "l eye",
                "r eye", "nose", "l knee", "r knee", "l ankle", "r ankle", "neck", "head top")
PERSON = Skeleton(
    "person", PERSON_NAMES,
    _pairs(((0, 1), (1, 2), (3, 4), (4, 5), (0, 3), (0, 6), (3, 7), (6, 7), (8, 10), (9, 10), (6, 11), (11, 13),
            (7, 12), (12, 14), (15, 0), (15, 3), (15, 16))),
    _pairs(((0, 3), (1, 4), (2, 5), (6, 7), (8, 9), (11, 12), (13, 14))),
    {"Head": (8, 9, 10, 16), "Neck": (15,), "Shoulder": (0, 3), "Elbow": (1, 4), "Wrist": (2, 5), "Hip": (6, 7),
     "Knee": (11, 12), "Ankle": (13, 14)},
    "torso", torso=(0, 7), head=(15, 16), title="person",
)
# 300-W's 68 face points; their mirror pairs (left, right) are the 300-W layout's (mmpose's 300w swap): jaw i and
# 16 - i, brows 17..21 and 26..22, eyes 36..41 and 45, 44, 43, 42, 47, 46, ...; the names alone would pair brow or
# eye points by their number (right_eye_0, the outer corner, with left_eye_0, the inner one) and no jaw or lip point
FACE68 = Skeleton("face68", IBUG_68_NAMES, (), tuple((16 - i, i) for i in range(8)) + tuple(
    (26 - i, 17 + i) for i in range(5)) + _pairs(((35, 31), (34, 32), (45, 36), (44, 37), (43, 38), (42, 39), (47, 40),
    (46, 41), (54, 48), (53, 49), (52, 50), (55, 59), (56, 58), (64, 60), (63, 61), (65, 67))), title="300-W")
SKELETONS: Registry[Skeleton] = Registry("skeletons", {"flic": FLIC, "mpii": MPII, "lsp": LSP, "coco17": COCO17,
                                                       "person": PERSON, "face68": FACE68})


def get(name: str) -> Skeleton:
    """The registered skeleton `name` (`SKELETONS`).

    Args:
        name: "flic", "mpii", "lsp", "coco17", "person" or "face68".

    Returns:
        the Skeleton; InputError for another name.
    """
    return SKELETONS[name]


def from_coco_category(cat: Mapping, source: str) -> Skeleton:
    """The skeleton a COCO-format category declares (module docstring): `keypoints` names, `skeleton` links
    (1-based ids) and the optional fields; the registered skeleton when its names are a registry entry's.

    Args:
        cat: one element of the file's `categories`.
        source: the file, for messages.

    Returns:
        the Skeleton; InputError naming the file and the field for a bad one.
    """
    check_keypoint_names(source, "categories[].keypoints", cat.get("keypoints"))
    names = tuple(cat["keypoints"])
    k = len(names)

    def joint(v, field: str) -> int:
        if isinstance(v, str):
            if v not in names:
                raise InputError(source, f"categories[].{field}", f"a keypoint of {list(names)}", v)
            return names.index(v)
        if not is_int(v) or not 1 <= v <= k:  # not a bool: JSON's true would be id 1
            raise InputError(source, f"categories[].{field}", f"a keypoint name or 1-based id 1..{k}", v)
        return int(v) - 1

    def pairs(field: str, default) -> Pairs:
        value = cat.get(field, default)
        if not isinstance(value, list) or not all(isinstance(p, (list, tuple)) and len(p) == 2 for p in value):
            raise InputError(source, f"categories[].{field}", "a list of [a, b] pairs", value)
        return tuple((joint(a, field), joint(b, field)) for a, b in value)

    links = pairs("skeleton", [])
    known = [reg.flip_pairs for reg in SKELETONS.values() if reg.names == names]  # 300-W's: not from its names
    flip = pairs("flip_pairs", None) if "flip_pairs" in cat else known[0] if known else name_flip_pairs(names)
    for f in ("torso", "head"):
        if f in cat and (not isinstance(cat[f], list) or len(cat[f]) != 2):
            raise InputError(source, f"categories[].{f}", "two keypoints [a, b]", cat[f])
    ends = {f: (joint(cat[f][0], f), joint(cat[f][1], f)) if f in cat else None for f in ("torso", "head")}
    groups = cat.get("groups", {})
    if not isinstance(groups, dict):
        raise InputError(source, "categories[].groups", "an object {column: [keypoints]}", groups)
    for g, members in groups.items():
        if not isinstance(members, list):
            raise InputError(source, f"categories[].groups.{g}", "a list of keypoints (names or 1-based ids)",
                             members)
    groups = {g: tuple(joint(v, f"groups.{g}") for v in members) for g, members in groups.items()}
    sigmas = cat.get("sigmas")
    if sigmas is not None and not (isinstance(sigmas, list) and all(is_real(s) for s in sigmas)):
        raise InputError(source, "categories[].sigmas", f"a list of {k} numbers (not text, not true / false)", sigmas)
    normaliser = "torso" if ends["torso"] else "head" if ends["head"] else "bbox"
    try:  # the Skeleton's checks name its own fields: the category's keys for the file's reader
        for reg in SKELETONS.values():
            if reg.names == names and "flip_pairs" not in cat and not groups and sigmas is None:
                return reg if (reg.links == links or not links) else dataclasses.replace(reg, links=links, tree=None)
        return Skeleton(cat.get("name", "keypoints"), names, links, flip, groups, normaliser, ends["torso"],
                        ends["head"], None if sigmas is None else tuple(float(s) for s in sigmas))
    except InputError as e:
        field = {"links": "skeleton", "names": "keypoints"}.get(e.field, e.field)
        raise InputError(source, f"categories[].{field}", e.expected, e.got) from None
