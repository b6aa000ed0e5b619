"""Figures draw what they claim, read back from the rendered pixels: each mark where its (x, y) pixel is on the image
(imshow's pixel centres at integers) and in the colour its legend names."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from convcorr_eval.report import plt
from convcorr_eval.tompson2015 import figures as pose_figures
from convcorr_jax.pose import joints

RED, LIME = (255, 0, 0), (0, 255, 0)


def rendered(fig) -> np.ndarray:
    """The figure's pixels, uint8 [H, W, 3] (Agg)."""
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()


def pixel_of(ax, fig, x: float, y: float) -> tuple[int, int]:
    """(row, column) of the rendered figure at data point (x, y) of `ax`."""
    px, py = ax.transData.transform((x, y))
    return int(round(fig.canvas.get_width_height()[1] - py - 0.5)), int(round(px - 0.5))


def colour_near(canvas: np.ndarray, rc: tuple[int, int], colour, r: int = 2) -> int:
    """How many pixels within r of (row, column) are `colour` (to 40 grey levels a channel)."""
    patch = canvas[rc[0] - r: rc[0] + r + 1, rc[1] - r: rc[1] + r + 1].astype(int)
    return int((np.abs(patch - np.array(colour)).max(-1) < 40).sum())


def _skeleton_axes(points: np.ndarray, joint_set, size: int = 40, shown=None):
    fig, ax = plt.subplots(figsize=(4, 4), dpi=100)
    ax.imshow(np.zeros((size, size, 3), np.uint8))
    pose_figures.draw_skeleton(ax, points, joint_set, shown)
    return fig, ax


def test_bones_across_the_body_are_drawn_in_the_right_and_middle_colour():
    """The legend: the person's left side green, the right side and the middle red. A bone joining a left joint to a
    right one (FLIC's shoulder line, hip line) was green when the edge listed the left joint first, and MPII's
    thorax -> left shoulder bone red because it lists the thorax first."""
    # FLIC: lsho lelb lwri rsho relb rwri lhip rhip leye reye nose, the person facing the camera
    flic = np.array([[28, 8], [31, 18], [33, 28], [12, 8], [9, 18], [7, 28], [25, 32], [15, 32], [23, 2], [17, 2],
                     [20, 5]], np.float64)
    fig, ax = _skeleton_axes(flic, joints.FLIC)
    canvas = rendered(fig)
    for (x, y), colour, what in (((20, 8), RED, "shoulder line"), ((20, 32), RED, "hip line"),
                                 ((29.5, 13), LIME, "left upper arm"), ((10.5, 13), RED, "right upper arm")):
        rc = pixel_of(ax, fig, x, y)
        other = LIME if colour == RED else RED
        assert colour_near(canvas, rc, colour) > 0 and colour_near(canvas, rc, other) == 0, what
    plt.close(fig)
    # MPII: r ankle .. l ankle, pelvis, thorax, upper neck, head top, r wrist .. l wrist
    mpii = np.full((16, 2), np.nan)
    mpii[[6, 7, 8, 9, 12, 13]] = [[20, 30], [20, 12], [20, 8], [20, 3], [10, 12], [30, 12]]
    fig, ax = _skeleton_axes(mpii, joints.MPII)
    canvas = rendered(fig)
    for (x, y), colour, what in (((25, 12), LIME, "thorax - l shoulder"), ((15, 12), RED, "r shoulder - thorax"),
                                 ((20, 21), RED, "pelvis - thorax")):
        rc = pixel_of(ax, fig, x, y)
        assert colour_near(canvas, rc, colour) > 0 and colour_near(canvas, rc, LIME if colour == RED else RED) == 0, \
            what
    plt.close(fig)


def test_the_tables_skeletons_leave_out_unlabelled_ground_truth_joints(monkeypatch):
    """`PoseArrays` holds an unlabelled joint as (0, 0): the ground-truth row of tompson_skeletons.png drew it, and
    its bones, in the image's top-left corner."""
    import dataclasses

    import jax

    from convcorr_eval.tompson2015 import tables
    from convcorr_jax.pose import model as pose_model
    from convcorr_jax.pose.data import PoseArrays
    from convcorr_train import pose_configs

    tc = pose_configs.get_config("tiny")
    tc = dataclasses.replace(tc, data="mpii", model=dataclasses.replace(tc.model, num_joints=16))
    n, s = 2, tc.model.image_size
    gt = np.random.default_rng(0).uniform(s / 4, 3 * s / 4, (n, 16, 2)).astype(np.float32)
    pred = gt + 1.0
    visible = np.ones((n, 16), bool)
    visible[:, [0, 1]] = False  # r ankle, r knee unlabelled
    gt[:, [0, 1]] = 0.0
    test = PoseArrays(np.zeros((n, s, s, 3), np.uint8), gt, visible, np.full(n, 8.0, np.float32))
    monkeypatch.setattr(tables.predict, "predict_crops", lambda *a, **k: {"coarse": pred, "cascade": pred})
    drawn = {}
    monkeypatch.setattr(pose_figures, "save_figure", lambda fig, path, **kw: drawn.setdefault(path.name, fig))
    monkeypatch.setattr(tables.figures, "pck_curves", lambda *a, **k: None)
    monkeypatch.setattr(tables.figures, "x_error_hist", lambda *a, **k: None)
    params = pose_model.init(jax.random.PRNGKey(0), tc.model)
    tables.evaluate_run(tc, params, test, figures_dir=Path("figures"), timing=False, mpii_reference=None,
                        with_paper=False)
    fig = drawn["tompson_skeletons.png"]
    canvas = rendered(fig)
    truth_row = [ax for ax in fig.axes if ax.get_ylabel() == "ground truth"][0]
    row, col = pixel_of(truth_row, fig, 0.0, 0.0)
    corner = canvas[row: row + 4, col: col + 4]  # inside the image, by its top-left pixel
    assert corner.max() < 60, "something drawn at an unlabelled joint's (0, 0)"
    plt.close(fig)


def test_pose_drawing_outlines_a_box_evenly_on_its_four_sides():
    """`convcorr pose` draws a box of inclusive pixels (x0, y0, x1, y1) as lines on its outer edges, x0 - 0.5 and
    x1 + 0.5: PIL truncated those half pixels, so the left and top lines sat a pixel further out than the right and
    bottom ones (box 40..70: lines on 39-40 and 69-70)."""
    from convcorr_cli import pose_draw

    img = np.full((96, 128, 3), 128, np.uint8)
    for box in ([40, 20, 70, 60], [41, 21, 70, 61], [40.0, 20.0, 69.0, 59.0]):
        shown = pose_draw.boxes_to_draw(None, box, None, "given", None)
        drawn = np.asarray(pose_draw.draw(img, np.full((11, 2), 5.0), joints.FLIC.names, joints.FLIC.edges, shown))
        colour = pose_draw.BOX_COLOURS["torso box"]
        cols = np.flatnonzero((drawn[int(box[1] + box[3]) // 2] == colour).all(-1))
        rows = np.flatnonzero((drawn[:96, int(box[0] + box[2]) // 2] == colour).all(-1))
        for lines, lo, hi in ((cols, box[0], box[2]), (rows, box[1], box[3])):
            assert lines.min() + lines.max() == lo + hi, (box, lines)  # centred on the box
            assert {lo - 1, lo, hi, hi + 1} <= set(lines.tolist()), (box, lines)  # on its outer edges


def test_receptive_fields_of_a_squashed_image_are_drawn_as_rectangles(monkeypatch):
    """Table 1's figure: CaffeNet resizes a 450 x 300 image to a 256 square, so a receptive field (a square of the
    crop) covers 256 / 450 as many image pixels across as down. It was drawn as a square of the width's side."""
    from convcorr_eval.long2014 import table1
    from convcorr_jax.backbones import preprocess
    from convcorr_jax.backbones.registry import get

    backbone = get("caffenet")
    image = np.zeros((300, 450, 3), np.uint8)
    _, transform = preprocess.resize_and_crop(image, *backbone.resize)
    drawn = []
    monkeypatch.setattr(table1, "save_figure", lambda fig, path, **kw: drawn.append(fig))
    table1.rf_figure(Path("rf.png"), image, backbone, transform)
    fig = drawn[0]
    ax = fig.axes[0]
    canvas = rendered(fig)
    rf = backbone.geometry[backbone.roles["pool5"]].size
    cx, cy = transform.to_original(np.array([(backbone.resize[1] - 1) / 2] * 2))
    for (x, y), along in (((cx, cy - rf / transform.sy / 2), "top"), ((cx - rf / transform.sx / 2, cy), "left")):
        assert colour_near(canvas, pixel_of(ax, fig, x, y), RED, 1) > 0, along  # the pool5 box's edge
    inside = pixel_of(ax, fig, cx, cy - rf / transform.sx / 2)  # where the square's top edge was
    assert colour_near(canvas, inside, RED, 1) == 0
    plt.close(fig)
