"""Synthetic people: articulated 3-D stick skeletons with the 16 MPII joints, painted as clothed 2.5-D figures.

Person frame: x forward, y up, z toward the person's right (see `render.yaw_project`); any yaw (front, back,
side views), random limb directions (arms anywhere, legs mostly below the hips), per-person proportions, limb
widths and clothing textures. The image holds the target person plus 0-2 distractor people behind or in front
of it over clutter. Annotations follow MPII: joints in MPII order, head box, objpos centre, scale = person
height / 200 px; the FLIC view adds eyes and nose.
"""

from __future__ import annotations

import numpy as np

from convcorr_jax.data.synthetic import render, scene, textures as tx
from convcorr_jax.data.synthetic.scene import Layout
from convcorr_jax.data.mpii import MPII_JOINTS
from convcorr_jax.data.types import KeypointSample

FLIC_NAMES: tuple[str, ...] = ("lsho", "lelb", "lwri", "rsho", "relb", "rwri", "lhip", "rhip", "leye", "reye", "nose")
_MPII_OF_FLIC = {
    "lsho": "l shoulder",
    "lelb": "l elbow",
    "lwri": "l wrist",
    "rsho": "r shoulder",
    "relb": "r elbow",
    "rwri": "r wrist",
    "lhip": "l hip",
    "rhip": "r hip",
}
KIND = 2


def _unit(v):
    v = np.asarray(v, np.float64)
    return v / max(np.linalg.norm(v), 1e-9)


def _rot(axis, angle, v):
    """Rodrigues rotation of v about unit `axis`."""
    k = _unit(axis)
    v = np.asarray(v, np.float64)
    return v * np.cos(angle) + np.cross(k, v) * np.sin(angle) + k * np.dot(k, v) * (1 - np.cos(angle))


def _random_perp(rng, d):
    p = np.cross(d, rng.normal(size=3))
    return _unit(p)


def skeleton(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """3-D joint positions (person height ~1) of a random pose: MPII joints plus head centre, eyes, nose.

    Args:
        rng: the sample's Generator.

    Returns:
        dict name -> float64 array, person frame (x forward, y up, z toward the person's right): the 16
        `MPII_JOINTS`, "head centre", "r eye", "l eye", "nose", "r toe", "l toe" (points [3]); "face" and "head_dir"
        (unit directions [3]); "widths" [5] (upper arm, forearm, thigh, shin, head radius).
    """
    u = rng.uniform
    f = u(0.9, 1.1, 12)
    thigh, shin, torso, neck, head = 0.24 * f[0], 0.24 * f[1], 0.3 * f[2], 0.055 * f[3], 0.13 * f[4]
    uarm, farm, hipw, shw = 0.17 * f[5], 0.15 * f[6], 0.07 * f[7], 0.115 * f[8]
    up, fwd, right = np.array([0, 1.0, 0]), np.array([1.0, 0, 0]), np.array([0, 0, 1.0])
    J = {}
    pelvis = np.array([0, 0.5, 0.0])
    J["pelvis"] = pelvis
    tdir = _rot(right, -u(-0.2, 0.6), up)  # lean forward
    tdir = _rot(fwd, u(-0.2, 0.2), tdir)  # lean sideways
    J["thorax"] = pelvis + torso * tdir
    twist = u(-0.4, 0.4)
    side = _rot(tdir, twist, right)
    hip_side = _rot(up, u(-0.2, 0.2), right)
    J["r hip"], J["l hip"] = pelvis + hipw * hip_side, pelvis - hipw * hip_side
    J["r shoulder"] = J["thorax"] + shw * side - 0.02 * tdir
    J["l shoulder"] = J["thorax"] - shw * side - 0.02 * tdir
    ndir = _unit(tdir + rng.normal(0, 0.15, 3))
    J["upper neck"] = J["thorax"] + neck * ndir
    hdir = _unit(ndir + rng.normal(0, 0.25, 3))
    J["head top"] = J["upper neck"] + head * hdir
    hc = J["upper neck"] + 0.5 * head * hdir
    # where the face points: forward (+x, where the torso leans and the knees bend), turned about the spine; with
    # z the person's right, the frame is right-handed, so tdir x side is forward (side x tdir pointed backward)
    face = _unit(_rot(tdir, u(-0.7, 0.7), np.cross(tdir, side)))
    J["head centre"] = hc
    for s, pre in ((1, "r"), (-1, "l")):
        sh = J[f"{pre} shoulder"]
        a = rng.normal(size=3)
        a = _unit(a + np.array([0, -1.2, 0]) + s * 0.5 * side)
        J[f"{pre} elbow"] = sh + uarm * a
        b = _unit(np.cos(fl := u(0, 2.4)) * a + np.sin(fl) * _random_perp(rng, a))
        J[f"{pre} wrist"] = J[f"{pre} elbow"] + farm * b
        hip = J[f"{pre} hip"]
        fl = u(-0.5, 1.5) if rng.random() < 0.8 else u(1.5, 2.2)
        t = _rot(hip_side, fl, -up)  # hip flexion swings the thigh forward
        t = _rot(fwd, s * u(-0.1, 0.45), t)  # abduction
        J[f"{pre} knee"] = hip + thigh * t
        kf = u(0, 1.9) * (1.0 if rng.random() < 0.85 else 0.2)
        sdir = _rot(hip_side, -kf, t)
        J[f"{pre} ankle"] = J[f"{pre} knee"] + shin * sdir
        J[f"{pre} toe"] = J[f"{pre} ankle"] + 0.07 * _unit(_rot(hip_side, -kf * 0.5 + np.pi / 2, -up) + 0.2 * fwd)
        J[f"{pre} eye"] = hc + 0.055 * face + s * 0.028 * side + 0.01 * hdir
    J["nose"] = hc + 0.07 * face - 0.012 * hdir
    J["face"] = face
    J["head_dir"] = hdir
    J["widths"] = np.array([u(0.035, 0.05), u(0.03, 0.045), u(0.045, 0.065), u(0.035, 0.05), u(0.06, 0.075)])
    return J


def _person_layout(rng: np.random.Generator, J: dict | None = None) -> tuple[Layout, dict, dict]:
    """(layout with parts and the MPII + FLIC keypoints, palette, skeleton) of one random person.

    Args:
        rng: the sample's Generator (view, clothing and colours; the pose too when `J` is None).
        J: a `skeleton` to dress (None: draw one).

    Returns:
        (layout, palette, J): the `Layout` with the 16 MPII joints and "leye", "reye", "nose" as keypoints, dict
        texture key -> `Texture`, and the skeleton used.
    """
    u = rng.uniform
    J = skeleton(rng) if J is None else J
    lay = Layout(u(0, 2 * np.pi), u(-0.1, 0.3))
    wu, wf, wt, ws, hr = J["widths"]  # upper arm, forearm, thigh, shin, head radius
    long_sleeves, long_trousers = rng.random() < 0.6, rng.random() < 0.75
    for pre in ("r", "l"):
        lay.limb(f"uarm_{pre}", J[f"{pre} shoulder"], J[f"{pre} elbow"], wu, wu * 0.85, "shirt")
        lay.limb(f"farm_{pre}", J[f"{pre} elbow"], J[f"{pre} wrist"], wf, wf * 0.8, "shirt" if long_sleeves else "skin")
        lay.disc(
            f"hand_{pre}",
            J[f"{pre} wrist"] + 0.03 * _unit(J[f"{pre} wrist"] - J[f"{pre} elbow"]),
            wf * 1.05,
            "skin",
            bias=1e-3,
        )
        lay.limb(f"thigh_{pre}", J[f"{pre} hip"], J[f"{pre} knee"], wt, wt * 0.8, "trousers")
        lay.limb(
            f"shin_{pre}", J[f"{pre} knee"], J[f"{pre} ankle"], ws, ws * 0.8, "trousers" if long_trousers else "skin"
        )
        lay.limb(f"foot_{pre}", J[f"{pre} ankle"], J[f"{pre} toe"], ws * 0.8, ws * 0.7, "shoes", bias=1e-3)
    quad = np.stack([J["r shoulder"], J["l shoulder"], J["l hip"], J["r hip"]])
    dt = float(lay.proj(J["pelvis"] * 0.5 + J["thorax"] * 0.5)[1])
    lay.poly3("torso", quad, "shirt", depth=dt)
    lay.limb("torso_core", J["pelvis"], J["thorax"], wt * 1.5, wt * 1.6, "shirt", bias=1e-4)
    lay.limb("belt", J["r hip"], J["l hip"], wt * 0.9, wt * 0.9, "trousers", bias=2e-4)
    lay.limb("neck", J["thorax"], J["upper neck"], hr * 0.45, hr * 0.4, "skin", bias=-1e-3)
    head_dir = J["head_dir"]
    head = lay.oval("head", J["upper neck"] + 0.15 * hr * head_dir, J["head top"], hr * 0.95, "skin", bias=1e-2)
    hair_c = J["head centre"] - 0.35 * hr * J["face"] + 0.35 * hr * head_dir
    huv, hd = lay.proj(hair_c)
    hdepth = head.depth + np.sign(hd - lay.proj(J["head centre"])[1]) * 2e-3
    lay.add(scene.Part("hair", render.ellipse(huv, hr * u(0.85, 1.05), hr * u(0.75, 1.0), head.axis), hdepth, "hair"))
    for pre in ("r", "l"):
        euv = lay.proj(J[f"{pre} eye"])[0]
        lay.decal(f"eye_{pre}", head, render.ellipse(euv, hr * 0.13, hr * 0.1), "dark", normal=J["face"], bias=3e-3)
    nuv = lay.proj(J["nose"])[0]
    lay.decal("nose", head, render.ellipse(nuv, hr * 0.12, hr * 0.12), "nose", normal=J["face"], bias=3e-3)
    owners = {
        "ankle": ["shin", "foot"],
        "knee": ["thigh", "shin"],
        "hip": ["thigh", "torso", "torso_core", "belt"],
        "shoulder": ["uarm", "torso", "torso_core"],
        "elbow": ["uarm", "farm"],
        "wrist": ["farm", "hand"],
    }
    for name in MPII_JOINTS:
        if name[:2] in ("r ", "l "):
            pre, j = name[0], name[2:]
            own = [f"{o}_{pre}" if o not in ("torso", "torso_core", "belt") else o for o in owners[j]]
        elif name == "pelvis":
            own = ["torso", "torso_core", "belt"]
        elif name == "thorax":
            own = ["torso", "torso_core", "neck"]
        elif name == "upper neck":
            own = ["neck", "head", "hair"]
        else:
            own = ["head", "hair"]
        lay.kp(name, J[name], own)
    lay.kp("leye", J["l eye"], ["eye_l"])
    lay.kp("reye", J["r eye"], ["eye_r"])
    lay.kp("nose", J["nose"], ["nose"])
    skin = tx.random_color(rng, hue=(0.03, 0.1), sat=(0.2, 0.65), val=(0.25, 0.95))
    palette = {
        "shirt": tx.random_texture(
            rng, kinds=("solid", "stripes", "checker", "dots", "noise", "gradient"), period=(1.2, 5)
        ),
        "trousers": tx.random_texture(rng, kinds=("solid", "noise", "stripes", "checker"), period=(1.2, 4)),
        "skin": tx.Texture("solid", skin, skin, grain=0.02, seed=int(rng.integers(1 << 30))),
        "hair": tx.random_texture(
            rng,
            c1=tx.random_color(rng, hue=(0.0, 0.12), sat=(0.1, 0.8), val=(0.05, 0.8)),
            kinds=("stripes", "noise"),
            period=(1.0, 2.0),
        ),
        "shoes": tx.solid(tx.random_color(rng, val=(0.05, 0.5))),
        "dark": tx.solid((0.05, 0.05, 0.05)),
        "nose": tx.solid(tx.shade(skin, 0.75)),
    }
    return lay, palette, J


def torso_box(points: np.ndarray) -> np.ndarray:
    """Box (x0, y0, x1, y1) of the shoulders and hips of MPII-ordered points [16, 2] (FLIC's torso box).

    Args:
        points: [16, 2] (x, y) pixels in `MPII_JOINTS` order.

    Returns:
        float32 [4] (x0, y0, x1, y1): the tight box of the two hips and two shoulders.
    """
    t = points[[2, 3, 12, 13]]
    return np.array([t[:, 0].min(), t[:, 1].min(), t[:, 0].max(), t[:, 1].max()], np.float32)


def render_person(index: int, seed: int = 0, image_size: int = 128, noise_sigma: float = 0.0) -> KeypointSample:
    """One image with a target person and its MPII annotation (sample with image).

    Args:
        index: the sample's index; seed: the dataset's seed.
        image_size: S, the image side in pixels.
        noise_sigma: > 0 adds Gaussian annotation noise (px) to the stored joints (the image is unchanged; the
            torso box, bbox and FLIC points are taken from the noisy joints).

    Returns:
        `KeypointSample`, category "person", id "synth_<index:06d>_0": image uint8 RGB [S, S, 3]; points float32
        [16, 2] (x, y) pixels in `MPII_JOINTS` order, rounded to 0.01; visible bool [16]; bbox the joints' tight box.
        extras: head_box [4], torso_box [4], center [2] and scale (MPII objpos and person height / 200 px; also as
        center_raw/scale_raw, the names `load_mpii_h5` uses), normalize (PCKh head size, 0.6 head-box diagonal),
        flic_points [11, 2] (`FLIC_NAMES`), flic_visible [11], split, index, yaw, distractors (count).
    """
    rng = render.sample_rng(seed, KIND, index)
    size = int(image_size)
    lay, palette, J = _person_layout(rng)
    sim = scene.place(rng, lay, size, frac=(0.55, 0.92), rot=0.3, aspect=0.08, shift=0.1)
    canvas = render.Canvas(size, ss=2)
    scene.clutter(canvas, rng, int(rng.integers(3, 10)), size)
    n_dis = int(rng.choice([0, 1, 1, 2]))
    front = []
    for k in range(n_dis):
        dl, dp, _ = _person_layout(rng)
        dsim = scene.place(rng, dl, size, frac=(0.4, 1.0), rot=0.3, shift=0.45)
        if rng.random() < 0.3:
            front.append((dl, dsim, dp))
        else:
            scene.paint_layout(canvas, dl, dsim, dp, label=None)
    orders = scene.paint_layout(canvas, lay, sim, palette, label=1)
    for dl, dsim, dp in front:
        scene.paint_layout(canvas, dl, dsim, dp, label=None)
    if rng.random() < 0.3:
        polys = [sim(p.poly) for p in lay.parts]
        scene.occluders(canvas, rng, 1, scene.int_box(polys, size), size)
    pts, owners = scene.keypoints(lay, sim, MPII_JOINTS, orders)
    vis = canvas.visible(pts, owners)
    fpts, fown = scene.keypoints(lay, sim, ("leye", "reye", "nose"), orders)
    fvis = canvas.visible(fpts, fown)
    head = [p for p in lay.parts if p.name in ("head", "hair")]
    hp = np.concatenate([sim(p.poly) for p in head], 0)
    head_box = np.round(np.array([*hp.min(0), *hp.max(0)]), 2).astype(np.float32)
    allp = np.concatenate([sim(p.poly) for p in lay.parts], 0)
    lo, hi = allp.min(0), allp.max(0)
    centre = np.round((lo + hi) / 2, 2).astype(np.float32)
    scale = float(np.round((hi[1] - lo[1]) / 200.0, 4))
    if noise_sigma > 0:
        pts = pts + np.random.default_rng([int(seed), KIND, int(index), 1]).normal(0, noise_sigma, pts.shape)
    pts = np.round(pts, 2).astype(np.float32)
    fpts = np.round(fpts, 2).astype(np.float32)
    by = dict(zip(MPII_JOINTS, pts))
    flic = np.stack(
        [by[_MPII_OF_FLIC[n]] if n in _MPII_OF_FLIC else fpts[("leye", "reye", "nose").index(n)] for n in FLIC_NAMES]
    )
    flic_vis = np.array(
        [
            vis[MPII_JOINTS.index(_MPII_OF_FLIC[n])] if n in _MPII_OF_FLIC else fvis[("leye", "reye", "nose").index(n)]
            for n in FLIC_NAMES
        ]
    )
    from convcorr_jax.data._common import points_bbox

    name = f"synth_{index:06d}"
    return KeypointSample(
        points=pts,
        visible=vis,
        names=MPII_JOINTS,
        bbox=points_bbox(pts),
        category="person",
        id=f"{name}_0",
        image=canvas.image(),
        extras={
            "head_box": head_box,
            "torso_box": torso_box(pts),
            "center": centre,
            "scale": scale,
            "center_raw": centre,
            "scale_raw": scale,
            "normalize": float(0.6 * np.hypot(*(head_box[2:] - head_box[:2]))),
            "flic_points": flic,
            "flic_visible": flic_vis,
            "index": index,
            "split": "test" if render.is_test(seed, index) else "train",
            "yaw": lay.yaw,
            "distractors": n_dis,
        },
    )
