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

from convcorr_jax.data.synthetic import render, scene, textures as tx
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


def _dir(a: float) -> np.ndarray:
    return np.array([np.cos(a), np.sin(a)])


def _p(xy, z=0.0) -> np.ndarray:
    return np.array([xy[0], xy[1], z], np.float64)


def _side_yaw(rng, spread=0.9) -> float:
    """Mostly side views of either side (yaw near 0 or pi), sometimes oblique."""
    return float(rng.uniform(-spread, spread) + (np.pi if rng.random() < 0.5 else 0.0))


# ------------------------------------------------------------------------------------------- quadrupeds


def _quadruped(rng, horse: bool) -> tuple[Layout, dict]:
    u = rng.uniform
    L = 1.0
    ll = u(0.8, 1.0) if horse else u(0.4, 0.68)  # leg length
    bh = u(0.33, 0.42) if horse else u(0.28, 0.42)  # body height
    bw = u(0.22, 0.3)
    ln = u(0.45, 0.6) if horse else u(0.18, 0.34)  # neck length
    hr = u(0.12, 0.15) if horse else u(0.13, 0.19)  # head radius
    ml = u(0.28, 0.38) if horse else u(0.1, 0.26)  # muzzle length
    lay = Layout(_side_yaw(rng), u(0.0, 0.35))
    yb = ll + bh / 2  # body centre height
    # body: two ovals at +-z give it width in oblique views
    for s, side in ((1, "r"), (-1, "l")):
        lay.oval(
            f"body_{side}",
            _p((-L / 2, yb), s * bw * 0.3),
            _p((L / 2, yb + u(-0.03, 0.05)), s * bw * 0.3),
            bh / 2,
            "coat",
            shade=1.0 if s > 0 else 0.95,
        )
    withers = _p((L / 2 - 0.2, yb + bh / 2 - 0.01))
    tailbase = _p((-L / 2 + 0.02, yb + 0.25 * bh))
    # tail
    ta = u(np.deg2rad(110), np.deg2rad(250)) if not horse else u(np.deg2rad(200), np.deg2rad(260))
    tl = u(0.45, 0.6) if horse else u(0.25, 0.5)
    tip = tailbase[:2] + tl * _dir(ta)
    lay.limb(
        "tail",
        tailbase,
        _p(tip),
        0.05 if not horse else 0.07,
        0.02 if not horse else 0.06,
        "tail" if horse else "coat",
        bias=-0.02,
    )
    # neck and head
    nb = _p((L / 2 - 0.08, yb + 0.15 * bh))
    an = u(np.deg2rad(35), np.deg2rad(80))
    hc2 = nb[:2] + ln * _dir(an)
    hc = _p(hc2)
    lay.limb("neck", nb, hc, bh * 0.42 if not horse else bh * 0.38, hr * 0.75, "coat", bias=0.01)
    if horse:
        lay.limb("mane", nb + _p((-0.04, bh * 0.35)), hc + _p((-0.05, hr * 0.6)), 0.05, 0.03, "tail", bias=0.011)
    ah = u(np.deg2rad(-80), np.deg2rad(-5))
    head = lay.oval("head", _p(hc2 - 0.4 * hr * _dir(ah)), _p(hc2 + 0.4 * hr * _dir(ah)), hr, "coat", bias=0.02)
    nose2 = hc2 + (hr * 0.5 + ml) * _dir(ah)
    muzzle = lay.limb(
        "muzzle",
        _p(hc2 + 0.3 * hr * _dir(ah)),
        _p(nose2),
        hr * 0.62,
        hr * (0.45 if horse else 0.38),
        "muzzle",
        bias=0.021,
    )
    lay.decal("nose_tip", muzzle, render.ellipse(lay.proj(_p(nose2))[0], hr * 0.2, hr * 0.15, muzzle.axis), "dark")
    lay.kp("Nose", _p(nose2), ["muzzle", "nose_tip"])
    throat = hc2 + 0.9 * hr * _dir(ah - np.deg2rad(115))
    lay.kp("Throat", _p(throat), ["head", "neck"])
    # eyes and ears (far ones drawn behind the head)
    el = u(0.08, 0.14) if horse else u(0.09, 0.25)
    floppy = (not horse) and rng.random() < 0.5
    for s, pre in ((1, "R"), (-1, "L")):
        e3 = _p(hc2 + 0.5 * hr * _dir(ah + np.deg2rad(55)), s * 0.45 * hr)
        n3 = np.array([0.55 * np.cos(ah), 0.2, s * 0.8])
        uv = lay.proj(e3)[0]
        # painted after the head and the muzzle whenever it faces the camera
        lay.decal(f"eye_{pre}", head, render.ellipse(uv, hr * 0.16, hr * 0.12, head.axis), "eye", normal=n3, bias=0.06)
        lay.kp(f"{pre}_Eye", e3, [f"eye_{pre}"])
        b3 = _p(hc2 + 0.75 * hr * _dir(ah + np.deg2rad(120)), s * 0.4 * hr)
        ea = ah + (np.deg2rad(u(170, 230)) if floppy else np.deg2rad(u(80, 130)))
        t3 = _p(b3[:2] + el * _dir(ea), s * 0.5 * hr)
        d = 0.03 if s > 0 else -0.03
        lay.limb(f"ear_{pre}", b3, t3, hr * 0.32, hr * 0.08, "ear", bias=d, shade=1.0 if s > 0 else 0.8)
        lay.kp(f"{pre}_EarBase", b3, [f"ear_{pre}", "head"])
    # legs: front/back, right (z > 0) / left
    l1, l2 = 0.52 * ll, 0.55 * ll
    for fb, x in (("F", L / 2 - 0.13), ("B", -L / 2 + 0.16)):
        for s, pre in ((1, "R"), (-1, "L")):
            z = s * bw / 2
            top = _p((x, yb - 0.1 * bh), z)
            a1 = u(-0.55, 0.55)
            a2 = a1 + (u(-0.9, 0.15) if fb == "F" else u(-0.15, 0.9))
            el3 = _p(top[:2] + l1 * np.array([np.sin(a1), -np.cos(a1)]), z)
            pw3 = _p(el3[:2] + l2 * np.array([np.sin(a2), -np.cos(a2)]), z)
            sh = 1.0 if s > 0 else 0.72
            w0 = 0.11 if horse else 0.1
            lay.limb(f"upper_{fb}{pre}", top, el3, w0, w0 * 0.6, "coat", shade=sh)
            lay.limb(
                f"lower_{fb}{pre}", el3, pw3, w0 * 0.55, w0 * 0.45, "leg" if horse else "coat", shade=sh, bias=1e-3
            )
            lay.disc(f"paw_{fb}{pre}", pw3, w0 * 0.55, "hoof" if horse else "coat", shade=sh, bias=2e-3)
            lay.kp(f"{pre}_{fb}_Elbow", el3, [f"upper_{fb}{pre}", f"lower_{fb}{pre}"])
            lay.kp(f"{pre}_{fb}_Paw", pw3, [f"lower_{fb}{pre}", f"paw_{fb}{pre}"])
    lay.kp("Withers", withers, ["body_r", "body_l", "neck"])
    lay.kp("TailBase", tailbase, ["body_r", "body_l", "tail"])
    fur = dict(kinds=("noise", "solid", "dots", "stripes", "gradient", "noise"), period=(1.5, 6.0))
    coat_c = tx.random_color(rng, hue=(0.0, 0.13), sat=(0.1, 0.8), val=(0.15, 0.95))
    palette = {
        "coat": tx.random_texture(rng, c1=coat_c, **fur),
        "muzzle": tx.random_texture(rng, c1=tx.shade(coat_c, u(0.6, 1.3)), **fur),
        "ear": tx.random_texture(rng, c1=tx.shade(coat_c, u(0.4, 1.1)), **fur),
        "leg": tx.random_texture(rng, c1=tx.shade(coat_c, u(0.5, 1.2)), **fur),
        "tail": tx.random_texture(rng, c1=tx.shade(coat_c, u(0.2, 0.7)), kinds=("stripes", "noise"), period=(1.5, 3)),
        "hoof": tx.solid(tx.random_color(rng, sat=(0, 0.3), val=(0.05, 0.3))),
        "dark": tx.solid((0.05, 0.04, 0.04)),
        "eye": tx.Texture("rings", (0.02, 0.02, 0.02), tx.random_color(rng, hue=(0.05, 0.15)), period=2.0),
    }
    return lay, palette


# ------------------------------------------------------------------------------------------- bird


def _bird(rng) -> tuple[Layout, dict]:
    u = rng.uniform
    lay = Layout(_side_yaw(rng, 1.0), u(-0.1, 0.3))
    pitch = u(-0.2, 0.6)
    bl, bh, bw = 1.0, u(0.45, 0.65), u(0.3, 0.45)

    def B(x, y, z=0.0):  # body frame -> object frame (pitched)
        c, s = np.cos(pitch), np.sin(pitch)
        return _p((x * c - y * s, x * s + y * c), z)

    for s, side in ((1, "r"), (-1, "l")):
        lay.oval(
            f"body_{side}",
            B(-bl / 2, 0, s * bw * 0.25),
            B(bl / 2, 0, s * bw * 0.25),
            bh / 2,
            "plumage",
            shade=1.0 if s > 0 else 0.92,
        )
    lay.oval("belly", B(-0.2, -bh * 0.18, bw * 0.3), B(0.35, -bh * 0.12, bw * 0.3), bh * 0.28, "belly", bias=1e-3)
    lnb = B(0.33, bh * 0.28)
    hr = u(0.13, 0.2)
    an = u(np.deg2rad(30), np.deg2rad(100)) + pitch * 0.3
    ln = u(0.12, 0.32)
    hc2 = lnb[:2] + ln * _dir(an)
    hc = _p(hc2)
    lay.limb("neck", lnb, hc, bh * 0.3, hr * 0.7, "plumage", bias=0.01)
    head = lay.disc("head", hc, hr, "head", bias=0.02)
    unb = _p(hc2 - 0.85 * hr * _dir(an))
    lay.kp("Lower_Neck_Base", lnb, ["body_r", "body_l", "neck"])
    lay.kp("Upper_Neck_Base", unb, ["neck", "head"])
    ab = u(np.deg2rad(-50), np.deg2rad(25))
    beak_len = u(0.12, 0.4)
    bb2 = hc2 + 0.85 * hr * _dir(ab)
    bt2 = bb2 + beak_len * _dir(ab)
    n = np.array([-np.sin(ab), np.cos(ab)]) * hr * u(0.25, 0.45)
    uvb = lay.proj(np.stack([_p(bb2 + n), _p(bt2), _p(bb2 - n)]))[0]
    lay.add(scene.Part("beak", uvb, head.depth + 5e-3, "beak", axis=float(ab)))
    lay.kp("Beak_Base", _p(bb2), ["beak", "head"])
    lay.kp("Beak_Tip", _p(bt2), ["beak"])
    for s, pre in ((1, "Right"), (-1, "Left")):
        e3 = _p(hc2 + 0.35 * hr * _dir(ab + np.deg2rad(50)), s * 0.55 * hr)
        uv = lay.proj(e3)[0]
        lay.decal(
            f"eye_{pre}",
            head,
            render.ellipse(uv, hr * 0.2, hr * 0.2),
            "eye",
            normal=np.array([0.4 * np.cos(ab), 0.2, s * 0.9]),
            bias=2e-3,
        )
        lay.kp(f"{pre}_Eye", e3, [f"eye_{pre}"])
    # wings: folded along the back or raised
    lw = u(0.5, 0.95)
    raised = rng.random() < 0.45
    for s, pre in ((1, "Right"), (-1, "Left")):
        base = B(0.12, bh * 0.3, s * bw * 0.35)
        if raised:
            wa = u(np.deg2rad(60), np.deg2rad(150))
            tip = _p(base[:2] + lw * _dir(wa + pitch), s * u(0.1, 0.5))
        else:
            tip = B(0.12 - lw * np.cos(u(0.0, 0.35)), bh * 0.3 - lw * u(0.0, 0.25), s * bw * 0.4)
        bias = 0.05 if s > 0 else -0.05
        sh = 1.0 if s > 0 else 0.75
        lay.oval(f"wing_{pre}", base, tip, lw * u(0.14, 0.22), "wing", bias=bias, shade=sh, extra=0.04)
        lay.kp(f"{pre}_Wing_Base", base, [f"wing_{pre}", "body_r", "body_l"])
        lay.kp(f"{pre}_Wing_Tip", tip, [f"wing_{pre}"])
    # tail fan
    tb = B(-bl * 0.42, bh * 0.05)
    ta = np.pi + pitch + u(-0.5, 0.4)
    tl = u(0.25, 0.6)
    tt2 = tb[:2] + tl * _dir(ta)
    wdt = tl * u(0.15, 0.35)
    nrm = np.array([-np.sin(ta), np.cos(ta)])
    uvt = lay.proj(
        np.stack([_p(tb[:2] + nrm * 0.08), _p(tt2 + nrm * wdt), _p(tt2 - nrm * wdt), _p(tb[:2] - nrm * 0.08)])
    )[0]
    lay.add(scene.Part("tail", uvt, lay.proj(tb)[1] - 0.01, "wing", axis=float(ta)))
    lay.kp("Tail_Tip", _p(tt2), ["tail"])
    # legs
    lc = B(0.0, -bh * 0.45)
    lay.kp("Leg_Center", lc, ["body_r", "body_l", "belly", "leg_Right", "leg_Left"])
    legl = u(0.2, 0.45)
    for s, pre in ((1, "Right"), (-1, "Left")):
        foot = _p(lc[:2] + legl * _dir(-np.pi / 2 + u(-0.4, 0.4)), s * 0.08)
        lay.limb(f"leg_{pre}", _p(lc[:2], s * 0.08), foot, 0.025, 0.02, "legs", bias=-0.02, shade=1.0 if s > 0 else 0.8)
        lay.limb(f"foot_{pre}", foot, foot + _p((0.1, 0.0)), 0.02, 0.015, "legs", bias=-0.02)
    pl = tx.random_color(rng)
    palette = {
        "plumage": tx.random_texture(rng, c1=pl, kinds=("noise", "solid", "stripes", "dots"), period=(1.5, 5)),
        "belly": tx.random_texture(
            rng, c1=tx.shade(pl, u(0.8, 1.6)), kinds=("noise", "solid", "dots"), period=(1.5, 4)
        ),
        "head": tx.random_texture(rng, kinds=("solid", "noise", "gradient"), period=(2, 6)),
        "wing": tx.random_texture(
            rng, c1=tx.shade(pl, u(0.4, 1.0)), kinds=("stripes", "checker", "noise"), period=(1.5, 4)
        ),
        "beak": tx.solid(tx.random_color(rng, hue=(0.05, 0.17), sat=(0.3, 1.0), val=(0.1, 0.95))),
        "legs": tx.solid(tx.random_color(rng, hue=(0.0, 0.12), sat=(0.2, 0.8), val=(0.2, 0.7))),
        "eye": tx.Texture("rings", (0.0, 0.0, 0.0), (0.9, 0.9, 0.8), period=3.0),
    }
    return lay, palette


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
        uv, dd = lay.proj(np.stack([a, b]))
        lay.add(scene.Part(f"post_{side}", render.capsule(uv[0], uv[1], lt, lt), float(dd.mean()) + 1e-3, "frame"))
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
    "bird": _bird,
    "bottle": _bottle,
    "car": _car,
    "chair": _chair,
    "dog": lambda rng: _quadruped(rng, horse=False),
    "horse": lambda rng: _quadruped(rng, horse=True),
}


KIND = 1  # dataset code in the per-sample seed


def object_category(index: int) -> str:
    """Categories cycle with the index, so every prefix of the dataset is balanced."""
    return OBJECT_CATEGORIES[index % len(OBJECT_CATEGORIES)]


def render_object(index: int, seed: int = 0, image_size: int = 192) -> tuple[KeypointSample, np.ndarray]:
    """One synthetic object image: (sample with image, label map uint8 [S, S]; class 1..C, 0 bg, 255 void).

    The annotated object is the category's template under a random view, articulation and similarity, over a
    cluttered background, with 0-2 occluders in front. Keypoints covered by occluders or by nearer parts of
    the object itself, or outside the image, are invisible (their coordinates are still given).
    """
    rng = render.sample_rng(seed, KIND, index)
    cat = object_category(index)
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
