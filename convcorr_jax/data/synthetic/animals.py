"""The animal templates of the synthetic objects (`objects`): quadrupeds (dog, horse) and birds, each a parametric
2.5-D layout in the object frame (x forward, y up, z toward the object's right) with per-instance proportions,
articulation and view; returns (Layout, palette of part textures)."""

from __future__ import annotations

from typing import Any

import numpy as np

from convcorr_jax.data.synthetic import render, scene, textures
from convcorr_jax.data.synthetic.scene import Layout, direction, point3, side_yaw


def quadruped(rng: np.random.Generator, horse: bool) -> tuple[Layout, dict]:
    """Layout and part palette of a random quadruped (a horse when `horse`, else a dog-like animal) drawn from `rng`.

    Args:
        rng: the sample's Generator (proportions, articulation, view and colours are drawn from it).
        horse: draw a horse (long legs and neck, mane, hooves) instead of a dog-like animal.

    Returns:
        (layout, palette): the `Layout` in the object frame's view plane, with the 16 animal keypoints of VOC's
        quadrupeds (`objects.OBJECT_KEYPOINTS["dog"]`), and dict texture key -> `Texture` of its parts.
    """
    u = rng.uniform
    body_length = 1.0
    leg_length = u(0.8, 1.0) if horse else u(0.4, 0.68)
    body_height = u(0.33, 0.42) if horse else u(0.28, 0.42)
    body_width = u(0.22, 0.3)
    neck_length = u(0.45, 0.6) if horse else u(0.18, 0.34)
    head_radius = u(0.12, 0.15) if horse else u(0.13, 0.19)
    muzzle_length = u(0.28, 0.38) if horse else u(0.1, 0.26)
    lay = Layout(side_yaw(rng), u(0.0, 0.35))
    body_y = leg_length + body_height / 2  # the body centre's height
    # body: two ovals at +-z give it width in oblique views
    for s, side in ((1, "r"), (-1, "l")):
        lay.oval(
            f"body_{side}",
            point3((-body_length / 2, body_y), s * body_width * 0.3),
            point3((body_length / 2, body_y + u(-0.03, 0.05)), s * body_width * 0.3),
            body_height / 2,
            "coat",
            shade=1.0 if s > 0 else 0.95,
        )
    withers = point3((body_length / 2 - 0.2, body_y + body_height / 2 - 0.01))
    tailbase = point3((-body_length / 2 + 0.02, body_y + 0.25 * body_height))
    # tail
    ta = u(np.deg2rad(110), np.deg2rad(250)) if not horse else u(np.deg2rad(200), np.deg2rad(260))
    tl = u(0.45, 0.6) if horse else u(0.25, 0.5)
    tip = tailbase[:2] + tl * direction(ta)
    lay.limb(
        "tail",
        tailbase,
        point3(tip),
        0.05 if not horse else 0.07,
        0.02 if not horse else 0.06,
        "tail" if horse else "coat",
        bias=-0.02,
    )
    # neck and head
    nb = point3((body_length / 2 - 0.08, body_y + 0.15 * body_height))
    an = u(np.deg2rad(35), np.deg2rad(80))
    hc2 = nb[:2] + neck_length * direction(an)
    hc = point3(hc2)
    lay.limb("neck", nb, hc, body_height * 0.42 if not horse else body_height * 0.38, head_radius * 0.75, "coat",
             bias=0.01)
    if horse:
        lay.limb("mane", nb + point3((-0.04, body_height * 0.35)), hc + point3((-0.05, head_radius * 0.6)), 0.05, 0.03,
                 "tail", bias=0.011)
    ah = u(np.deg2rad(-80), np.deg2rad(-5))
    head = lay.oval("head", point3(hc2 - 0.4 * head_radius * direction(ah)),
                    point3(hc2 + 0.4 * head_radius * direction(ah)), head_radius, "coat", bias=0.02)
    nose2 = hc2 + (head_radius * 0.5 + muzzle_length) * direction(ah)
    muzzle = lay.limb(
        "muzzle",
        point3(hc2 + 0.3 * head_radius * direction(ah)),
        point3(nose2),
        head_radius * 0.62,
        head_radius * (0.45 if horse else 0.38),
        "muzzle",
        bias=0.021,
    )
    lay.decal("nose_tip", muzzle,
              render.ellipse(lay.proj(point3(nose2))[0], head_radius * 0.2, head_radius * 0.15, muzzle.axis), "dark")
    lay.kp("Nose", point3(nose2), ["muzzle", "nose_tip"])
    throat = hc2 + 0.9 * head_radius * direction(ah - np.deg2rad(115))
    lay.kp("Throat", point3(throat), ["head", "neck"])
    # eyes and ears (far ones drawn behind the head)
    el = u(0.08, 0.14) if horse else u(0.09, 0.25)
    floppy = (not horse) and rng.random() < 0.5
    for s, pre in ((1, "R"), (-1, "L")):
        e3 = point3(hc2 + 0.5 * head_radius * direction(ah + np.deg2rad(55)), s * 0.45 * head_radius)
        n3 = np.array([0.55 * np.cos(ah), 0.2, s * 0.8])
        uv = lay.proj(e3)[0]
        # painted after the head and the muzzle whenever it faces the camera
        lay.decal(f"eye_{pre}", head, render.ellipse(uv, head_radius * 0.16, head_radius * 0.12, head.axis), "eye",
                  normal=n3, bias=0.06)
        lay.kp(f"{pre}_Eye", e3, [f"eye_{pre}"])
        b3 = point3(hc2 + 0.75 * head_radius * direction(ah + np.deg2rad(120)), s * 0.4 * head_radius)
        ea = ah + (np.deg2rad(u(170, 230)) if floppy else np.deg2rad(u(80, 130)))
        t3 = point3(b3[:2] + el * direction(ea), s * 0.5 * head_radius)
        d = 0.03 if s > 0 else -0.03
        lay.limb(f"ear_{pre}", b3, t3, head_radius * 0.32, head_radius * 0.08, "ear", bias=d,
                 shade=1.0 if s > 0 else 0.8)
        lay.kp(f"{pre}_EarBase", b3, [f"ear_{pre}", "head"])
    # legs: front/back, right (z > 0) / left
    l1, l2 = 0.52 * leg_length, 0.55 * leg_length
    for fb, x in (("F", body_length / 2 - 0.13), ("B", -body_length / 2 + 0.16)):
        for s, pre in ((1, "R"), (-1, "L")):
            z = s * body_width / 2
            top = point3((x, body_y - 0.1 * body_height), z)
            a1 = u(-0.55, 0.55)
            a2 = a1 + (u(-0.9, 0.15) if fb == "F" else u(-0.15, 0.9))
            el3 = point3(top[:2] + l1 * np.array([np.sin(a1), -np.cos(a1)]), z)
            pw3 = point3(el3[:2] + l2 * np.array([np.sin(a2), -np.cos(a2)]), z)
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
    fur: dict[str, Any] = dict(kinds=("noise", "solid", "dots", "stripes", "gradient", "noise"), period=(1.5, 6.0))
    coat_c = textures.random_color(rng, hue=(0.0, 0.13), sat=(0.1, 0.8), val=(0.15, 0.95))
    palette = {
        "coat": textures.random_texture(rng, c1=coat_c, **fur),
        "muzzle": textures.random_texture(rng, c1=textures.shade(coat_c, u(0.6, 1.3)), **fur),
        "ear": textures.random_texture(rng, c1=textures.shade(coat_c, u(0.4, 1.1)), **fur),
        "leg": textures.random_texture(rng, c1=textures.shade(coat_c, u(0.5, 1.2)), **fur),
        "tail": textures.random_texture(rng, c1=textures.shade(coat_c, u(0.2, 0.7)), kinds=("stripes", "noise"),
                                        period=(1.5, 3)),
        "hoof": textures.solid(textures.random_color(rng, sat=(0, 0.3), val=(0.05, 0.3))),
        "dark": textures.solid((0.05, 0.04, 0.04)),
        "eye": textures.Texture("rings", (0.02, 0.02, 0.02), textures.random_color(rng, hue=(0.05, 0.15)), period=2.0),
    }
    return lay, palette


# ------------------------------------------------------------------------------------------- bird


def bird(rng: np.random.Generator) -> tuple[Layout, dict]:
    """Layout and part palette of a random bird drawn from `rng`.

    Args:
        rng: the sample's Generator (proportions, pose, view and colours are drawn from it).

    Returns:
        (layout, palette): the `Layout` with the 12 bird keypoints (`objects.OBJECT_KEYPOINTS["bird"]`), and dict
        texture key -> `Texture` of its parts.
    """
    u = rng.uniform
    lay = Layout(side_yaw(rng, 1.0), u(-0.1, 0.3))
    pitch = u(-0.2, 0.6)
    body_length, body_height, body_width = 1.0, u(0.45, 0.65), u(0.3, 0.45)

    def to_object(x, y, z=0.0):  # body frame -> object frame (pitched)
        c, s = np.cos(pitch), np.sin(pitch)
        return point3((x * c - y * s, x * s + y * c), z)

    for s, side in ((1, "r"), (-1, "l")):
        lay.oval(
            f"body_{side}",
            to_object(-body_length / 2, 0, s * body_width * 0.25),
            to_object(body_length / 2, 0, s * body_width * 0.25),
            body_height / 2,
            "plumage",
            shade=1.0 if s > 0 else 0.92,
        )
    lay.oval("belly", to_object(-0.2, -body_height * 0.18, body_width * 0.3),
             to_object(0.35, -body_height * 0.12, body_width * 0.3), body_height * 0.28, "belly", bias=1e-3)
    lnb = to_object(0.33, body_height * 0.28)
    hr = u(0.13, 0.2)
    an = u(np.deg2rad(30), np.deg2rad(100)) + pitch * 0.3
    ln = u(0.12, 0.32)
    hc2 = lnb[:2] + ln * direction(an)
    hc = point3(hc2)
    lay.limb("neck", lnb, hc, body_height * 0.3, hr * 0.7, "plumage", bias=0.01)
    head = lay.disc("head", hc, hr, "head", bias=0.02)
    unb = point3(hc2 - 0.85 * hr * direction(an))
    lay.kp("Lower_Neck_Base", lnb, ["body_r", "body_l", "neck"])
    lay.kp("Upper_Neck_Base", unb, ["neck", "head"])
    ab = u(np.deg2rad(-50), np.deg2rad(25))
    beak_len = u(0.12, 0.4)
    bb2 = hc2 + 0.85 * hr * direction(ab)
    bt2 = bb2 + beak_len * direction(ab)
    n = np.array([-np.sin(ab), np.cos(ab)]) * hr * u(0.25, 0.45)
    uvb = lay.proj(np.stack([point3(bb2 + n), point3(bt2), point3(bb2 - n)]))[0]
    lay.add(scene.Part("beak", uvb, head.depth + 5e-3, "beak", axis=float(ab)))
    lay.kp("Beak_Base", point3(bb2), ["beak", "head"])
    lay.kp("Beak_Tip", point3(bt2), ["beak"])
    for s, pre in ((1, "Right"), (-1, "Left")):
        e3 = point3(hc2 + 0.35 * hr * direction(ab + np.deg2rad(50)), s * 0.55 * hr)
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
        base = to_object(0.12, body_height * 0.3, s * body_width * 0.35)
        if raised:
            wa = u(np.deg2rad(60), np.deg2rad(150))
            tip = point3(base[:2] + lw * direction(wa + pitch), s * u(0.1, 0.5))
        else:
            tip = to_object(0.12 - lw * np.cos(u(0.0, 0.35)), body_height * 0.3 - lw * u(0.0, 0.25),
                            s * body_width * 0.4)
        bias = 0.05 if s > 0 else -0.05
        sh = 1.0 if s > 0 else 0.75
        lay.oval(f"wing_{pre}", base, tip, lw * u(0.14, 0.22), "wing", bias=bias, shade=sh, extra=0.04)
        lay.kp(f"{pre}_Wing_Base", base, [f"wing_{pre}", "body_r", "body_l"])
        lay.kp(f"{pre}_Wing_Tip", tip, [f"wing_{pre}"])
    # tail fan
    tb = to_object(-body_length * 0.42, body_height * 0.05)
    ta = np.pi + pitch + u(-0.5, 0.4)
    tl = u(0.25, 0.6)
    tt2 = tb[:2] + tl * direction(ta)
    wdt = tl * u(0.15, 0.35)
    nrm = np.array([-np.sin(ta), np.cos(ta)])
    uvt = lay.proj(
        np.stack([point3(tb[:2] + nrm * 0.08), point3(tt2 + nrm * wdt), point3(tt2 - nrm * wdt),
                  point3(tb[:2] - nrm * 0.08)])
    )[0]
    lay.add(scene.Part("tail", uvt, float(lay.proj(tb)[1]) - 0.01, "wing", axis=float(ta)))
    lay.kp("Tail_Tip", point3(tt2), ["tail"])
    # legs
    lc = to_object(0.0, -body_height * 0.45)
    lay.kp("Leg_Center", lc, ["body_r", "body_l", "belly", "leg_Right", "leg_Left"])
    legl = u(0.2, 0.45)
    for s, pre in ((1, "Right"), (-1, "Left")):
        foot = point3(lc[:2] + legl * direction(-np.pi / 2 + u(-0.4, 0.4)), s * 0.08)
        lay.limb(f"leg_{pre}", point3(lc[:2], s * 0.08), foot, 0.025, 0.02, "legs", bias=-0.02,
                 shade=1.0 if s > 0 else 0.8)
        lay.limb(f"foot_{pre}", foot, foot + point3((0.1, 0.0)), 0.02, 0.015, "legs", bias=-0.02)
    pl = textures.random_color(rng)
    palette = {
        "plumage": textures.random_texture(rng, c1=pl, kinds=("noise", "solid", "stripes", "dots"), period=(1.5, 5)),
        "belly": textures.random_texture(
            rng, c1=textures.shade(pl, u(0.8, 1.6)), kinds=("noise", "solid", "dots"), period=(1.5, 4)
        ),
        "head": textures.random_texture(rng, kinds=("solid", "noise", "gradient"), period=(2, 6)),
        "wing": textures.random_texture(
            rng, c1=textures.shade(pl, u(0.4, 1.0)), kinds=("stripes", "checker", "noise"), period=(1.5, 4)
        ),
        "beak": textures.solid(textures.random_color(rng, hue=(0.05, 0.17), sat=(0.3, 1.0), val=(0.1, 0.95))),
        "legs": textures.solid(textures.random_color(rng, hue=(0.0, 0.12), sat=(0.2, 0.8), val=(0.2, 0.7))),
        "eye": textures.Texture("rings", (0.0, 0.0, 0.0), (0.9, 0.9, 0.8), period=3.0),
    }
    return lay, palette
