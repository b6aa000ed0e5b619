"""Synthetic faces with the 68-point iBUG layout (jaw 0-16, brows 17-26, nose 27-35, eyes 36-47, mouth 48-67).

A 3-D landmark template (face frame: x toward the image right in a frontal view, i.e. the subject's left;
y down; z toward the camera; half face width 1) with identity parameters (face width, jaw squareness, chin,
eye spacing and size, nose length and width, mouth width, lip thickness, brow height and arch), expression
(smile, mouth open, brow raise) and head pose (yaw, pitch, roll) is projected orthographically and placed with
a random scale and translation. Skin, hair, eye and lip colours and textures, hair length, beard and glasses
vary; all these factors are returned in extras["attributes"].
"""

from __future__ import annotations

import numpy as np

from convcorr_jax.data.synthetic import render, scene, textures as tx
from convcorr_jax.data.types import KeypointSample

KIND = 3
ATTRIBUTE_NAMES: tuple[str, ...] = (
    "yaw",
    "pitch",
    "roll",
    "scale",
    "smile",
    "mouth_open",
    "brow_raise",
    "glasses",
    "beard",
    "male",
    "skin_tone",
    "hair_length",
    "eye_spacing",
    "face_width",
)


def _face_template(p: dict) -> np.ndarray:
    """68 landmarks [68, 3] in the face frame for identity/expression parameters `p`.

    Args:
        p: `_sample_attributes`' dict (uses face_width, chin, jaw_q, mouth_open, brow_y, brow_raise, brow_arch,
            nose_len, nose_w, eye_spacing, eye_w, eye_h, mouth_w, smile, lip).

    Returns:
        float64 [68, 3] (x, y, z) in the face frame (module docstring), iBUG order.
    """
    P = np.zeros((68, 3))
    jw, jh, y0, q = p["face_width"], p["chin"], -0.15, p["jaw_q"]
    a = np.linspace(0, np.pi, 17)
    c = np.cos(a)
    P[0:17, 0] = -jw * np.sign(c) * np.abs(c) ** q
    P[0:17, 1] = y0 + jh * np.sin(a) ** 1.2 + p["mouth_open"] * 0.35 * np.sin(a) ** 4
    P[0:17, 2] = -0.7 * np.abs(c) + 0.25
    # brows: right (image left) outer -> inner, left inner -> outer
    bx = np.linspace(0.88, 0.16, 5)
    by = p["brow_y"] - p["brow_raise"] * 0.14 - p["brow_arch"] * np.sin(np.linspace(0.2, 1.0, 5) * np.pi * 0.8)
    P[17:22, 0], P[17:22, 1] = -bx * jw, by
    P[22:27, 0], P[22:27, 1] = bx[::-1] * jw, by[::-1]
    P[17:27, 2] = 0.45 - 0.35 * P[17:27, 0] ** 2
    # nose bridge top -> tip, base right -> left
    nl = p["nose_len"]
    P[27:31, 1] = np.linspace(-0.32, -0.32 + nl, 4)
    P[27:31, 2] = np.linspace(0.45, 0.85, 4)
    nw = p["nose_w"]
    P[31:36, 0] = np.linspace(-nw, nw, 5)
    P[31:36, 1] = -0.32 + nl + 0.12 - 0.04 * np.cos(np.linspace(-1, 1, 5) * np.pi / 2)
    P[31:36, 2] = 0.55 + 0.1 * np.cos(np.linspace(-1, 1, 5) * np.pi / 2)
    # eyes
    ex, ew, eh, ey = p["eye_spacing"], p["eye_w"], p["eye_h"], -0.28
    shape = np.array([[-1, 0], [-1 / 3, -1], [1 / 3, -1], [1, 0], [1 / 3, 1], [-1 / 3, 1]], np.float64)
    shape[[1, 2], 1] *= 1.0 + 0.3 * p["brow_raise"]
    P[36:42, :2] = np.array([-ex, ey]) + shape * [ew, eh]
    P[42:48, :2] = np.array([ex, ey]) + shape[[3, 2, 1, 0, 5, 4]] * [-ew, eh]  # mirror: 42 inner .. 45 outer
    P[36:48, 2] = 0.32
    # mouth
    mw = p["mouth_w"] * (1 + 0.15 * p["smile"])
    my, ul, ll = -0.32 + nl + 0.42, p["lip"], p["lip"] * 1.2
    o = p["mouth_open"] * 0.3
    lift = p["smile"] * 0.13
    outer = np.array(
        [
            [-1, -lift / 1],
            [-0.6, -ul * 0.7],
            [-0.25, -ul],
            [0, -ul * 0.85],
            [0.25, -ul],
            [0.6, -ul * 0.7],
            [1, -lift],
            [0.6, ll * 0.8 + o],
            [0.25, ll + o],
            [0, ll + o],
            [-0.25, ll + o],
            [-0.6, ll * 0.8 + o],
        ]
    )
    outer[:, 0] *= mw
    outer[:, 1] += my
    inner = np.array(
        [
            [-0.85 * mw, my - lift * 0.8],
            [-0.3 * mw, my - 0.02],
            [0, my - 0.02],
            [0.3 * mw, my - 0.02],
            [0.85 * mw, my - lift * 0.8],
            [0.3 * mw, my + o * 0.9],
            [0, my + o],
            [-0.3 * mw, my + o * 0.9],
        ]
    )
    P[48:60, :2], P[60:68, :2] = outer, inner
    P[48:68, 2] = 0.5 - 0.45 * P[48:68, 0] ** 2
    return P


def _rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    cy, sy, cp, sp, cr, sr = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch), np.cos(roll), np.sin(roll)
    Ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    Rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    Rz = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    return Rz @ Rx @ Ry


def _sample_attributes(rng: np.random.Generator) -> dict:
    """Random face attributes (pose, shape, colours) drawn from `rng`.

    Args:
        rng: the sample's Generator.

    Returns:
        dict name -> float: the `ATTRIBUTE_NAMES` (pose in radians, scale as a fraction of the image side, flags
        0/1, the rest in 0..1 or face units) plus the identity details `_face_template` reads (chin, jaw_q, brow_y,
        brow_arch, nose_len, nose_w, eye_w, eye_h, mouth_w, lip).
    """
    u = rng.uniform
    male = float(rng.random() < 0.5)
    return {
        "yaw": u(-0.7, 0.7),
        "pitch": u(-0.25, 0.25),
        "roll": u(-0.4, 0.4),
        "scale": u(0.22, 0.33),
        "smile": float(np.clip(rng.normal(0.3, 0.4), 0, 1)),
        "mouth_open": float(u(0, 1) ** 2 if rng.random() < 0.5 else 0.0),
        "brow_raise": float(u(0, 1) ** 2),
        "glasses": float(rng.random() < 0.3),
        "beard": float(male and rng.random() < 0.35),
        "male": male,
        "skin_tone": u(0.2, 0.95),
        "hair_length": u(0.0, 0.4) if male else u(0.3, 1.0),
        "eye_spacing": u(0.38, 0.52),
        "face_width": u(0.92, 1.08) + 0.04 * male,
        # identity details not listed as attributes
        "chin": u(1.15, 1.4),
        "jaw_q": u(0.6, 1.05) - 0.1 * male,
        "brow_y": u(-0.62, -0.5),
        "brow_arch": u(0.0, 0.12),
        "nose_len": u(0.55, 0.75),
        "nose_w": u(0.16, 0.26),
        "eye_w": u(0.15, 0.21),
        "eye_h": u(0.05, 0.09),
        "mouth_w": u(0.3, 0.45),
        "lip": u(0.05, 0.11),
    }


def render_face(index: int, seed: int = 0, image_size: int = 128) -> KeypointSample:
    """One face image with its 68 landmarks (visible = inside the image) and attributes in extras.

    Args:
        index: the sample's index; seed: the dataset's seed.
        image_size: S, the image side in pixels.

    Returns:
        `KeypointSample`, category "face", id "face_<index:06d>": image uint8 RGB [S, S, 3]; points float32 [68, 2]
        (x, y) pixels in iBUG order (`IBUG_68_NAMES`), rounded to 1e-4; visible bool [68]; bbox the points' tight
        box. extras: attributes (dict of the `ATTRIBUTE_NAMES` floats), index, split ("train" | "test"), normal
        (float32 [3], the face normal in camera coordinates).
    """
    rng = render.sample_rng(seed, KIND, index)
    size = int(image_size)
    at = _sample_attributes(rng)
    R = _rotation(at["yaw"], at["pitch"], at["roll"])
    P3 = _face_template(at)
    s = at["scale"] * size
    centre = np.array([size / 2, size * 0.47]) + rng.uniform(-0.08, 0.08, 2) * size

    def proj(p3):
        q = np.asarray(p3, np.float64) @ R.T
        return q[..., :2] * s + centre, q[..., 2]

    pts, _ = proj(P3)
    fwd = R[:, 2]  # the face normal in camera coordinates
    canvas = render.Canvas(size, ss=2)
    scene.clutter(canvas, rng, int(rng.integers(3, 9)), size, max_r=0.2)
    skin = tx.random_color(rng, hue=(0.02, 0.11), sat=(0.2, 0.6), val=(at["skin_tone"] * 0.8 + 0.15,) * 2)
    hair_c = tx.random_color(rng, hue=(0.0, 0.13), sat=(0.1, 0.8), val=(0.05, 0.85))
    hair = tx.random_texture(rng, c1=hair_c, kinds=("stripes", "noise"), period=(1.0, 2.2), contrast=(0.2, 0.5))
    skin_t = tx.Texture(
        "gradient",
        tx.shade(skin, 0.85 + 0.2 * at["yaw"]),
        tx.shade(skin, 1.1 - 0.2 * at["yaw"]),
        period=s / 6 / 2,
        angle=at["roll"],
        grain=0.02,
        seed=int(rng.integers(1 << 30)),
    )
    cloth = tx.random_texture(rng, period=(1.5, 6))
    # shoulders and neck
    chin = pts[8]
    down = np.array([-np.sin(at["roll"]), np.cos(at["roll"])])
    canvas.paint(
        render.capsule(chin - down * 0.4 * s, chin + down * 1.6 * s, 0.42 * s, 0.5 * s), tx.solid(tx.shade(skin, 0.8))
    )
    canvas.paint(render.ellipse(chin + down * 1.55 * s, 2.3 * s, 0.8 * s, at["roll"]), cloth)
    # hair behind the head
    top = proj(np.array([0, -1.15, -0.1]))[0]
    hl = at["hair_length"]
    canvas.paint(render.ellipse(top + down * (0.35 + hl) * s, 1.25 * s, (1.05 + hl) * s, at["roll"]), hair)
    # ears
    for k, sgn in ((1, -1), (15, 1)):
        e3 = np.array([sgn * at["face_width"] * 1.02, 0.0, -0.3])
        euv, ed = proj(e3)
        if ed < 0.2:
            canvas.paint(render.ellipse(euv, 0.14 * s, 0.28 * s, at["roll"]), tx.solid(tx.shade(skin, 0.9)))
    # face: jaw + forehead arc
    fa = np.linspace(0, np.pi, 12)
    fw = at["face_width"]
    fore3 = np.stack([fw * np.cos(fa) * 0.98, -0.15 - 1.05 * np.sin(fa) ** 0.8, 0.25 - 0.6 * np.abs(np.cos(fa))], -1)
    face_poly = np.concatenate([pts[0:17], proj(fore3)[0][1:-1]], 0)
    canvas.paint(face_poly, skin_t)
    # fringe (hair over the forehead)
    if rng.random() < 0.7:
        fr = np.stack([fw * np.cos(fa) * 1.02, -0.15 - 1.12 * np.sin(fa) ** 0.8, 0.3 - 0.6 * np.abs(np.cos(fa))], -1)
        low = at["brow_y"] - rng.uniform(0.12, 0.4)
        fr2 = fr[::-1].copy()
        fr2[:, 1] = np.minimum(fr2[:, 1] * 0.55, low + 0.05 * np.sin(np.linspace(0, 6 * np.pi, 12)))
        canvas.paint(np.concatenate([proj(fr)[0], proj(fr2)[0]], 0), hair)
    if at["beard"] > 0:
        jaw = pts[3:14]
        inner = pts[[11, 10, 57, 6, 5]] if at["mouth_open"] < 0.3 else pts[[11, 57, 5]]
        canvas.paint(np.concatenate([jaw, inner], 0), hair)
    # brows
    bw = rng.uniform(0.05, 0.1) * s
    brow_t = tx.solid(tx.shade(hair_c, 0.7))
    for a, b in ((17, 22), (22, 27)):
        canvas.paint([], brow_t, lines=[pts[a:b]], line_width=bw)
    # eyes: sclera, iris, pupil, lids
    iris_c = tx.random_color(rng, hue=(0.0, 0.7), sat=(0.3, 0.9), val=(0.15, 0.6))
    gaze = rng.uniform(-0.4, 0.4, 2) * [at["eye_w"], at["eye_h"] * 0.5]
    for a in (36, 42):
        eye = pts[a : a + 6]
        canvas.paint(eye, tx.solid((0.93, 0.92, 0.88)))
        c = eye.mean(0) + gaze * s
        r = at["eye_h"] * s * 1.05
        canvas.paint(render.ellipse(c, r, r, 0, n=16), tx.Texture("rings", iris_c, tx.shade(iris_c, 0.5), period=1.5))
        canvas.paint(render.ellipse(c, r * 0.45, r * 0.45, 0, n=12), tx.solid((0.02, 0.02, 0.02)))
        canvas.paint(
            [], tx.solid(tx.shade(skin, 0.4)), lines=[np.concatenate([eye[:4], eye[[4, 5, 0]]], 0)], line_width=0.7
        )
    # nose
    ns = tx.solid(tx.shade(skin, 0.7))
    canvas.paint([], ns, lines=[pts[31:36]], line_width=1.0)
    if abs(at["yaw"]) > 0.15:
        canvas.paint([], ns, lines=[pts[27:31]], line_width=0.8)
    for k in (32, 34):
        canvas.paint(
            render.ellipse(pts[k] + (pts[30] - pts[27]) * 0.02, 0.05 * s, 0.03 * s, at["roll"]),
            tx.solid(tx.shade(skin, 0.35)),
        )
    # mouth
    lip_c = tx.random_color(rng, hue=(0.95, 1.02), sat=(0.3, 0.7), val=(0.35, 0.8))
    canvas.paint(
        pts[48:60], tx.Texture("stripes", lip_c, tx.shade(lip_c, 0.8), period=1.2, angle=np.pi / 2 + at["roll"])
    )
    if at["mouth_open"] > 0.05:
        canvas.paint(pts[60:68], tx.solid((0.15, 0.03, 0.04)))
        tt = pts[[60, 61, 62, 63, 64]]
        teeth = np.concatenate([tt, tt[::-1] + (pts[66] - pts[62]) * 0.35], 0)
        canvas.paint(teeth, tx.solid((0.92, 0.9, 0.85)))
    else:
        canvas.paint([], tx.solid(tx.shade(lip_c, 0.5)), lines=[pts[60:65]], line_width=0.7)
    # glasses
    if at["glasses"] > 0:
        frame = tx.solid(tx.random_color(rng, val=(0.0, 0.5)))
        rings = []
        for a in (36, 42):
            c3 = P3[a : a + 6].mean(0) + np.array([0, 0.02, 0.12])
            t = np.linspace(0, 2 * np.pi, 20)
            ring = c3 + np.stack([0.3 * np.cos(t), 0.2 * np.sin(t), 0 * t], -1)
            rings.append(proj(ring)[0])
        bridge = proj(np.array([[-0.18, -0.3, 0.45], [0.18, -0.3, 0.45]]))[0]
        canvas.paint([], frame, lines=rings + [bridge], line_width=rng.uniform(0.7, 1.4))
    pts = np.round(pts, 4).astype(np.float32)
    inside = np.all((pts > -0.5) & (pts < size - 0.5), axis=1)
    from convcorr_jax.data._common import points_bbox
    from convcorr_jax.data.faces300w import IBUG_68_NAMES

    attrs = {k: float(at[k]) for k in ATTRIBUTE_NAMES}
    name = f"face_{index:06d}"
    return KeypointSample(
        points=pts,
        visible=inside,
        names=IBUG_68_NAMES,
        bbox=points_bbox(pts),
        category="face",
        id=name,
        image=canvas.image(),
        extras={
            "attributes": attrs,
            "index": index,
            "split": "test" if render.is_test(seed, index) else "train",
            "normal": fwd.astype(np.float32),
        },
    )
