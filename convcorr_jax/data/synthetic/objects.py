"""Synthetic objects with PASCAL-style keypoints: six articulated 2.5-D templates.

Each category is a parametric template in an object frame (x forward, y up, z toward the object's right)
with per-instance shape variation (proportions), articulation (joint angles of legs, neck, head, wings,
tail), a view (yaw about the vertical axis, camera elevation) and per-part procedural textures. Keypoints
use the PASCAL VOC 2011 names of the class (`voc_keypoints.KEYPOINT_NAMES`) and sit on the same part point in
every instance, e.g. a dog's `L_F_Paw` is always the tip of its left front leg. Left/right are the object's
own sides (for the rotationally symmetric bottle: the image's left/right before in-plane rotation).
"""

from __future__ import annotations

import numpy as np

from convcorr_jax.data.synthetic import animals, render, scene, textures as tx
from convcorr_jax.data.synthetic.scene import Layout
from convcorr_jax.data.types import KeypointSample

OBJECT_CATEGORIES: tuple[str, ...] = ("bird", "bottle", "car", "chair", "dog", "horse")
"""Class ids in the segmentation maps are 1 + the index here (0 = background, 255 = void)."""

_ANIMAL = (
    "L_B_Elbow",
    "L_B_Paw",
    "L_EarBase",
    "L_Eye",
    "L_F_Elbow",
    "L_F_Paw",
    "Nose",
    "R_B_Elbow",
    "R_B_Paw",
    "R_EarBase",
    "R_Eye",
    "R_F_Elbow",
    "R_F_Paw",
    "TailBase",
    "Throat",
    "Withers",
)
OBJECT_KEYPOINTS: dict[str, tuple[str, ...]] = {
    "bird": (
        "Beak_Base",
        "Beak_Tip",
        "Left_Eye",
        "Left_Wing_Base",
        "Left_Wing_Tip",
        "Leg_Center",
        "Lower_Neck_Base",
        "Right_Eye",
        "Right_Wing_Base",
        "Right_Wing_Tip",
        "Tail_Tip",
        "Upper_Neck_Base",
    ),
    "bottle": ("L_Base", "L_Neck", "L_Shoulder", "L_Top", "R_Base", "R_Neck", "R_Shoulder", "R_Top"),
    "car": (
        "L_B_RoofTop",
        "L_B_WheelCenter",
        "L_F_RoofTop",
        "L_F_WheelCenter",
        "L_HeadLight",
        "L_SideviewMirror",
        "L_TailLight",
        "R_B_RoofTop",
        "R_B_WheelCenter",
        "R_F_RoofTop",
        "R_F_WheelCenter",
        "R_HeadLight",
        "R_SideviewMirror",
        "R_TailLight",
    ),
    "chair": (
        "BackRest_Top_Left",
        "BackRest_Top_Right",
        "Leg_Left_Back",
        "Leg_Left_Front",
        "Leg_Right_Back",
        "Leg_Right_Front",
        "Seat_Left_Back",
        "Seat_Left_Front",
        "Seat_Right_Back",
        "Seat_Right_Front",
    ),
    "dog": _ANIMAL,
    "horse": _ANIMAL,
}


# ------------------------------------------------------------------------------------------- car


def _box_faces(c):
    """Faces (vertex index lists) of a hexahedron with corners c[8] ordered (x0|x1, y0|y1, z0|z1) bitwise."""
    return {
        "back": [0, 2, 3, 1],
        "front": [4, 5, 7, 6],
        "bottom": [0, 1, 5, 4],
        "top": [2, 6, 7, 3],
        "left": [0, 4, 6, 2],
        "right": [1, 3, 7, 5],
    }


def _solid(lay: Layout, prefix: str, corners: np.ndarray, textures: dict, depth: float, skip=("bottom",)):
    """Paint the camera-facing faces of a convex hexahedron; returns face name -> Part."""
    centre = corners.mean(0)
    out = {}
    for name, idx in _box_faces(corners).items():
        if name in skip:
            continue
        q = corners[idx]
        nrm = np.cross(q[1] - q[0], q[2] - q[0])
        if np.dot(nrm, q.mean(0) - centre) < 0:
            nrm = -nrm
        out[name] = lay.poly3(
            f"{prefix}_{name}",
            q,
            textures.get(name, textures["default"]),
            normal=nrm,
            depth=depth,
            shade={"top": 1.1, "front": 0.9, "back": 0.85}.get(name, 1.0),
        )
    return out


def _hexa(x0, x1, y0, y1, z0, z1, top_x=None, top_z=None) -> np.ndarray:
    """8 corners indexed bitwise (x, y, z); the top face may be narrower (top_x, top_z)."""
    c = np.zeros((8, 3))
    for i in range(8):
        xi, yi, zi = (i >> 2) & 1, (i >> 1) & 1, i & 1
        xs = (x0, x1) if not (yi and top_x) else top_x
        zs = (z0, z1) if not (yi and top_z) else top_z
        c[i] = (xs[xi], (y0, y1)[yi], zs[zi])
    return c


def _car(rng) -> tuple[Layout, dict]:
    u = rng.uniform
    lay = Layout(u(0, 2 * np.pi), u(0.05, 0.4))
    Lc, wc = 1.0, u(0.38, 0.48)
    gc, hb, hc = u(0.05, 0.09), u(0.16, 0.24), u(0.13, 0.22)
    r = u(0.085, 0.12)
    xf0, xb0 = u(0.05, 0.25), u(-0.46, -0.3)
    xrf, xrb = u(-0.08, xf0 - 0.08), u(xb0 + 0.02, -0.18)
    body = _hexa(-Lc / 2, Lc / 2, gc, gc + hb, -wc / 2, wc / 2)
    cab = _hexa(xb0, xf0, gc + hb, gc + hb + hc, -wc * 0.45, wc * 0.45, top_x=(xrb, xrf), top_z=(-wc * 0.4, wc * 0.4))
    dbody = float(lay.proj(body.mean(0))[1])
    faces = _solid(lay, "body", body, {"default": "paint"}, dbody)
    cfaces = _solid(lay, "cab", cab, {"default": "glass", "top": "paint"}, dbody + 1e-2)
    # window frames: inset glass on the cabin sides
    for name in ("left", "right"):
        p = cfaces.get(name)
        if p is not None:
            c = p.poly.mean(0)
            lay.decal(f"win_{name}", p, c + 0.78 * (p.poly - c), "window", bias=1e-4)
    # wheels (3-D circles) with hubs
    t = np.linspace(0, 2 * np.pi, 20, endpoint=False)
    for fb, xw in (("F", u(0.28, 0.36)), ("B", -u(0.27, 0.35))):
        for s, pre in ((1, "R"), (-1, "L")):
            z = s * (wc / 2 + 0.005)
            circ = np.stack([xw + r * np.cos(t), r + r * np.sin(t), np.full_like(t, z)], -1)
            d = float(lay.proj(np.array([xw, r, z]))[1])
            tyre = lay.poly3(f"tyre_{fb}{pre}", circ, "tyre", depth=d)
            hub = np.stack([xw + 0.55 * r * np.cos(t), r + 0.55 * r * np.sin(t), np.full_like(t, z)], -1)
            lay.decal(f"hub_{fb}{pre}", tyre, lay.proj(hub)[0], "hub", normal=(0, 0, s))
            lay.kp(f"{pre}_{fb}_WheelCenter", (xw, r, z), [f"hub_{fb}{pre}", f"tyre_{fb}{pre}"])
    # lights on the front and back faces, mirrors beside the windshield
    yl = gc + hb * u(0.55, 0.8)
    lw, lh = wc * u(0.1, 0.2), hb * u(0.15, 0.3)
    for s, pre in ((1, "R"), (-1, "L")):
        zc = s * wc * u(0.28, 0.38)
        for name, x, host, tex in (("HeadLight", Lc / 2, "front", "light"), ("TailLight", -Lc / 2, "back", "tail")):
            q = np.array(
                [
                    [x, yl - lh / 2, zc - lw / 2],
                    [x, yl + lh / 2, zc - lw / 2],
                    [x, yl + lh / 2, zc + lw / 2],
                    [x, yl - lh / 2, zc + lw / 2],
                ]
            )
            lay.decal(f"{name}_{pre}", faces.get(host), lay.proj(q)[0], tex, normal=(np.sign(x), 0, 0))
            lay.kp(f"{pre}_{name}", (x, yl, zc), [f"{name}_{pre}"])
        m3 = np.array([xf0 - 0.03, gc + hb + 0.03, s * (wc / 2 + 0.04)])
        muv, md = lay.proj(m3)
        lay.add(scene.Part(f"mirror_{pre}", render.ellipse(muv, 0.035, 0.022), float(md) + 0.02, "paint", shade=0.8))
        lay.kp(f"{pre}_SideviewMirror", m3, [f"mirror_{pre}"])
        for fb, xr in (("F", xrf), ("B", xrb)):
            lay.kp(f"{pre}_{fb}_RoofTop", (xr, gc + hb + hc, s * wc * 0.4), [f"cab_{f}" for f in _box_faces(cab)])
    paint = tx.random_color(rng, sat=(0.0, 1.0), val=(0.1, 1.0))
    palette = {
        "paint": tx.random_texture(
            rng, c1=paint, kinds=("solid", "gradient", "stripes", "solid"), contrast=(0.1, 0.4), period=(2, 8)
        ),
        "glass": tx.random_texture(rng, c1=(0.15, 0.2, 0.28), kinds=("gradient", "noise"), contrast=(0.1, 0.4)),
        "window": tx.random_texture(rng, c1=(0.3, 0.38, 0.45), kinds=("gradient", "stripes"), contrast=(0.1, 0.3)),
        "tyre": tx.Texture("rings", (0.05, 0.05, 0.05), (0.2, 0.2, 0.2), period=2.0),
        "hub": tx.random_texture(rng, c1=(0.7, 0.7, 0.72), kinds=("checker", "rings", "dots"), period=(1.2, 3)),
        "light": tx.Texture("rings", (1.0, 1.0, 0.85), (0.75, 0.75, 0.7), period=2.0),
        "tail": tx.Texture("stripes", (0.85, 0.05, 0.05), (0.5, 0.0, 0.0), period=2.0),
    }
    return lay, palette


# ------------------------------------------------------------------------------------------- chair


def _chair(rng) -> tuple[Layout, dict]:
    u = rng.uniform
    lay = Layout(u(0, 2 * np.pi), u(0.1, 0.5))
    hs, d, w = u(0.38, 0.52), u(0.38, 0.5), u(0.38, 0.52)
    hb, tilt, st = u(0.3, 0.55), u(0.0, 0.12), u(0.03, 0.06)
    lt = u(0.012, 0.03)  # leg half thickness: 1-3 px at typical sizes
    splay = u(0.0, 0.05)
    seat = _hexa(-d / 2, d / 2, hs - st, hs, -w / 2, w / 2)
    dseat = float(lay.proj(seat.mean(0))[1])
    _solid(lay, "seat", seat, {"default": "seat_side", "top": "seat"}, dseat)
    for fb, x in (("Front", d / 2 - lt), ("Back", -d / 2 + lt)):
        for s, side in ((1, "Right"), (-1, "Left")):
            top = np.array([x, hs - st, s * (w / 2 - lt)])
            foot = top + np.array([np.sign(x) * splay, -(hs - st), s * splay])
            dd = float(lay.proj((top + foot) / 2)[1])
            uv = lay.proj(np.stack([top, foot]))[0]
            lay.add(scene.Part(f"leg_{fb}{side}", render.capsule(uv[0], uv[1], lt, lt), dd, "frame"))
            lay.kp(f"Leg_{side}_{fb}", foot, [f"leg_{fb}{side}"])
            lay.kp(
                f"Seat_{side}_{fb}",
                (d / 2 * np.sign(x), hs, s * w / 2),
                [f"seat_{f}" for f in ("top", "front", "back", "left", "right")],
            )
    # backrest: two posts and a panel or slats
    xb = -d / 2 + lt
    slats = rng.random() < 0.5
    for s, side in ((1, "Right"), (-1, "Left")):
        a = np.array([xb, hs, s * (w / 2 - lt)])
        b = np.array([xb - tilt, hs + hb, s * (w / 2 - lt)])
        uv, depths = lay.proj(np.stack([a, b]))
        lay.add(scene.Part(f"post_{side}", render.capsule(uv[0], uv[1], lt, lt), float(depths.mean()) + 1e-3,
                           "frame"))
        lay.kp(f"BackRest_Top_{side}", b, [f"post_{side}", "panel"] + [f"slat_{i}" for i in range(4)])
    y0 = hs + hb * u(0.25, 0.5)
    if slats:
        ns = 3
        for i in range(ns):
            yy = y0 + (hs + hb - y0) * (i + 0.5) / ns
            f = (yy - hs) / hb
            xx = xb - tilt * f
            hh = (hs + hb - y0) / ns * 0.4
            q = np.array([[xx, yy - hh, -w / 2], [xx, yy + hh, -w / 2], [xx, yy + hh, w / 2], [xx, yy - hh, w / 2]])
            lay.poly3(f"slat_{i}", q, "seat", depth=float(lay.proj(q.mean(0))[1]))
    else:
        f0 = (y0 - hs) / hb
        q = np.array(
            [
                [xb - tilt * f0, y0, -w / 2],
                [xb - tilt, hs + hb, -w / 2],
                [xb - tilt, hs + hb, w / 2],
                [xb - tilt * f0, y0, w / 2],
            ]
        )
        lay.poly3("panel", q, "seat", depth=float(lay.proj(q.mean(0))[1]))
    palette = {
        "frame": tx.random_texture(rng, kinds=("solid", "stripes", "noise"), period=(1.2, 3), contrast=(0.1, 0.5)),
        "seat": tx.random_texture(rng, kinds=("checker", "stripes", "noise", "solid", "dots"), period=(1.5, 5)),
        "seat_side": tx.random_texture(rng, kinds=("solid", "noise"), contrast=(0.1, 0.3)),
    }
    return lay, palette


# ------------------------------------------------------------------------------------------- bottle


def _bottle(rng) -> tuple[Layout, dict]:
    u = rng.uniform
    lay = Layout(0.0, u(0.0, 0.45))
    H, rb = 1.0, u(0.12, 0.24)
    ys = u(0.4, 0.68)  # shoulder start
    yn = u(ys + 0.1, min(ys + 0.3, 0.88))  # neck start
    rn = u(0.035, 0.075)
    ry = rb * np.sin(lay.elev)  # ellipse of the base seen from above
    # right profile from base to top (view plane: v down, so y -> -y)
    ts = np.linspace(0, 1, 7)
    shoulder = np.stack([rb + (rn - rb) * (3 * ts**2 - 2 * ts**3), ys + (yn - ys) * ts], -1)
    prof = np.concatenate([[[rb, 0.0]], shoulder, [[rn, H]]], 0)
    tb = np.linspace(0, np.pi, 12)
    bottom = np.stack([rb * np.cos(tb), ry * np.sin(tb)], -1)  # near half of the base ellipse
    right = np.stack([prof[:, 0], -prof[:, 1]], -1)
    left = right[::-1] * [-1, 1]
    body = np.concatenate([bottom[::-1][:-1] * [1, 1], right, left], 0)  # x right, v down
    lay.add(scene.Part("body", body, 0.0, "glass", axis=-np.pi / 2))
    # liquid, label band and cap
    yl0, yl1 = u(0.1, 0.2), u(0.3, min(0.5, ys - 0.02))
    lab = np.array([[rb, -yl0], [rb, -yl1], [-rb, -yl1], [-rb, -yl0]])
    lay.decal("label", lay.parts[0], lab, "label", bias=2e-3)
    lq = u(0.2, ys)
    liq = np.concatenate([bottom[::-1][:-1] * 0.92, [[rb * 0.92, -lq], [-rb * 0.92, -lq]]], 0)
    lay.decal("liquid", lay.parts[0], liq, "liquid", bias=1e-3)
    ch = u(0.04, 0.09)
    cap = np.array([[rn * 1.15, -H + ch], [rn * 1.15, -H - 0.01], [-rn * 1.15, -H - 0.01], [-rn * 1.15, -H + ch]])
    lay.decal("cap", lay.parts[0], cap, "cap", bias=3e-3)
    for s, pre in ((1, "R"), (-1, "L")):
        lay.kp_uv(f"{pre}_Base", (s * rb, 0.0), ["body"])
        lay.kp_uv(f"{pre}_Shoulder", (s * rb, -ys), ["body"])
        lay.kp_uv(f"{pre}_Neck", (s * rn, -yn), ["body"])
        lay.kp_uv(f"{pre}_Top", (s * rn, -H), ["body", "cap"])
    glass = tx.random_color(rng, hue=(0.1, 0.6), sat=(0.2, 0.9), val=(0.2, 0.8))
    palette = {
        "glass": tx.Texture("gradient", glass, tx.shade(glass, 1.8), period=u(1.5, 4.0), grain=0.02),
        "liquid": tx.random_texture(rng, c1=tx.shade(glass, 0.6), kinds=("solid", "noise"), contrast=(0.05, 0.2)),
        "label": tx.random_texture(rng, kinds=("stripes", "checker", "dots"), period=(1.2, 3.5), angle=0.0),
        "cap": tx.random_texture(rng, kinds=("solid", "stripes"), period=(1.2, 2.5)),
    }
    return lay, palette


_TEMPLATES = {
    "bird": animals.bird,
    "bottle": _bottle,
    "car": _car,
    "chair": _chair,
    "dog": lambda rng: animals.quadruped(rng, horse=False),
    "horse": lambda rng: animals.quadruped(rng, horse=True),
}


KIND = 1  # dataset code in the per-sample seed


def _object_category(index: int) -> str:
    """Categories cycle with the index, so every prefix of the dataset is balanced.

    Args:
        index: the sample's index (>= 0).

    Returns:
        The category name, `OBJECT_CATEGORIES[index % 6]`.
    """
    return OBJECT_CATEGORIES[index % len(OBJECT_CATEGORIES)]


def render_object(index: int, seed: int = 0, image_size: int = 192) -> tuple[KeypointSample, np.ndarray]:
    """One synthetic object image: (sample with image, label map uint8 [S, S]; class 1..C, 0 bg, 255 void).

    The annotated object is the category's template under a random view, articulation and similarity, over a
    cluttered background, with 0-2 occluders in front. Keypoints covered by occluders or by nearer parts of
    the object itself, or outside the image, are invisible (their coordinates are still given).

    Args:
        index: the sample's index (sets the category, `_object_category`); seed: the dataset's seed.
        image_size: S, the image side in pixels.

    Returns:
        (sample, label): a `KeypointSample` with image uint8 RGB [S, S, 3], points float32 [K, 2] (x, y) pixels
        rounded to 0.01 (K and names: `OBJECT_KEYPOINTS[category]`), visible bool [K], bbox float32 [4] the object's
        label pixels' inclusive box before the occluders, id "<category>/synth_<index:06d>_1", extras image_id,
        index, class_id, split ("train" | "test", `render.is_test`), yaw, occluders (count); and label uint8 [S, S]
        (class 1..C as `OBJECT_CATEGORIES`, 0 background, 255 the void band of `render.void_border`).
    """
    rng = render.sample_rng(seed, KIND, index)
    cat = _object_category(index)
    cls = OBJECT_CATEGORIES.index(cat) + 1
    lay, palette = _TEMPLATES[cat](rng)
    size = int(image_size)
    sim = scene.place(rng, lay, size, frac=(0.45, 0.92), rot=0.45 if cat in ("bird", "bottle") else 0.3)
    canvas = render.Canvas(size, ss=2)
    scene.clutter(canvas, rng, int(rng.integers(4, 14)), size)
    orders = scene.paint_layout(canvas, lay, sim, palette, label=cls)
    mask = canvas.label_map() == cls
    if mask.any():
        ys, xs = np.nonzero(mask)
        bbox = np.array([xs.min(), ys.min(), xs.max(), ys.max()], np.float32)
    else:
        bbox = scene.int_box([sim(p.poly) for p in lay.parts], size)
    n_occ = int(rng.choice([0, 0, 1, 1, 2]))
    scene.occluders(canvas, rng, n_occ, bbox, size)
    names = OBJECT_KEYPOINTS[cat]
    pts, owners = scene.keypoints(lay, sim, names, orders)
    pts = np.round(pts, 2).astype(np.float32)
    vis = canvas.visible(pts, owners)
    label = render.void_border(canvas.label_map(), 1)
    image_id = f"synth_{index:06d}"
    sample = KeypointSample(
        points=pts,
        visible=vis,
        names=names,
        bbox=bbox,
        category=cat,
        id=f"{cat}/{image_id}_1",
        image=canvas.image(),
        extras={
            "image_id": image_id,
            "index": index,
            "class_id": cls,
            "split": "test" if render.is_test(seed, index) else "train",
            "yaw": lay.yaw,
            "occluders": n_occ,
        },
    )
    return sample, label
