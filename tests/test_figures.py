"""Figures explain themselves: the Middlebury flow colour code against hand-computed colours, and every figure of
`align`, `match`, PF-WILLOW and the pose pages titled, with a legend or labelled colour scale, written at least
`report.MIN_WIDTH_PX` wide (read back from the PNG)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from convcorr_cli.main import main
from convcorr_jax.data.pf_willow import load_pf_willow
from convcorr_jax.data.types import KeypointSample
from convcorr_jax.flow.colour import colour_key, _colour_wheel, flow_to_colour
from convcorr_jax.pose import joints
from convcorr_jax.pose.data import PoseArrays
from convcorr_eval import figures
from convcorr_eval.long2014 import pf_willow, pf_willow_protocol
from convcorr_eval.report import MIN_WIDTH_PX, plt, save_figure
from convcorr_eval.tompson2015 import figures as pose_figures
from convcorr_eval.tompson2015 import flic_scores, mpii


def png_width(path) -> int:
    with Image.open(path) as im:
        return im.size[0]


def legend_labels(fig) -> list[str]:
    return [t.get_text() for leg in fig.legends for t in leg.get_texts()]


# ------------------------------------------------------------------------------------------ flow colour code

def test_colour_wheel_segments_by_hand():
    w = _colour_wheel()
    assert w.shape == (55, 3)
    # segment starts: red, yellow, green, cyan, blue, magenta (RY 15, YG 6, GC 4, CB 11, BM 13, MR 6)
    starts = {0: (255, 0, 0), 15: (255, 255, 0), 21: (0, 255, 0), 25: (0, 255, 255), 36: (0, 0, 255),
              49: (255, 0, 255)}
    for i, rgb in starts.items():
        assert tuple(w[i]) == rgb, i
    assert tuple(w[1]) == (255, 17, 0)  # floor(255 * 1 / 15)
    assert tuple(w[27]) == (0, 209, 255)  # CB step 2: 255 - floor(255 * 2 / 11)
    assert tuple(w[54]) == (255, 0, 43)  # MR step 5: 255 - floor(255 * 5 / 6)


@pytest.mark.parametrize("flow, rgb", [
    ((1.0, 0.0), (255, 0, 0)),  # +x (right): red, wheel entry 0
    ((-1.0, 0.0), (0, 209, 255)),  # -x (left): entry 27 (a = 0 -> fk = 27)
    ((0.0, 1.0), (255, 229, 0)),  # +y (down): halfway between entries 13 (255, 221, 0) and 14 (255, 238, 0)
    ((0.0, -1.0), (88, 0, 255)),  # -y (up): halfway between entries 40 (78, 0, 255) and 41 (98, 0, 255)
    ((0.5, 0.0), (255, 127, 127)),  # half length: 1 - 0.5 (1 - c) -> floor(127.5)
    ((1.0, -0.0), (255, 0, 0)),  # a negative zero dy is still +x
])
def test_flow_colours_by_hand(flow, rgb):
    field = np.array([[flow, (1.0, 0.0)]])  # the unit vector beside it: the longest, so `flow` keeps its length
    assert tuple(flow_to_colour(field)[0, 0]) == rgb


def test_zero_flow_is_white_and_bad_vectors_black():
    assert (flow_to_colour(np.zeros((3, 4, 2))) == 255).all()
    out = flow_to_colour(np.array([[np.nan, 0.0], [2.0, 0.0]]))
    assert tuple(out[0]) == (0, 0, 0) and tuple(out[1]) == (255, 0, 0)
    # beyond max_flow: the wheel colour darkened to 0.75 (floor(0.75 * 255) = 191)
    assert tuple(flow_to_colour(np.array([[2.0, 0.0]]), max_flow=1.0)[0]) == (191, 0, 0)


def test_colour_key_is_the_wheel_around_a_white_centre():
    key = colour_key(101)
    assert key.shape == (101, 101, 3) and tuple(key[50, 50]) == (255, 255, 255)
    assert tuple(key[50, 100]) == (255, 0, 0) and tuple(key[50, 0]) == (0, 209, 255)  # right, left rim
    assert tuple(key[100, 50]) == (255, 229, 0) and tuple(key[0, 50]) == (88, 0, 255)  # down, up rim
    assert (key[0, 0] == 255).all()  # outside the disc


# ----------------------------------------------------------------------------------------------- save_figure

def test_save_figure_writes_at_least_the_minimum_width(tmp_path):
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([0, 1], [0, 1])
    save_figure(fig, tmp_path / "small.png", dpi=80)  # 240 px asked
    assert png_width(tmp_path / "small.png") >= MIN_WIDTH_PX
    fig, ax = plt.subplots(figsize=(12, 2))
    save_figure(fig, tmp_path / "wide.png")  # wide already: kept at 100 dpi
    assert 900 < png_width(tmp_path / "wide.png") <= 1200  # 12 in at 100 dpi, trimmed to its content


# --------------------------------------------------------------------------------------------------- align

def test_alignment_figure_has_titles_a_colour_bar_and_the_key(tmp_path):
    rng = np.random.default_rng(0)
    a = rng.integers(0, 255, (40, 60, 3), dtype=np.uint8)
    b = np.roll(a, 3, axis=1)
    flow = np.zeros((40, 60, 2), np.float32)
    flow[..., 0] = 3.0
    fig = figures.alignment_figure(a, b, a, flow, "a -> b")
    every = [*fig.axes, *(c for ax in fig.axes for c in ax.child_axes)]  # the key is an inset
    titles = [ax.get_title() for ax in every]
    assert fig._suptitle.get_text() == "a -> b"
    assert "|B - A| before alignment (mean" in " ".join(titles) and "|B warped - A| after (mean 0.0)" in titles
    assert "flow A -> B (longest 3.0 px of A)" in titles and "colour key" in titles
    assert any("absolute difference" in ax.get_xlabel() for ax in fig.axes)  # the colour bar's label
    key = next(ax for ax in every if ax.get_title() == "colour key")
    assert {t.get_text() for t in key.texts} == {"right", "left", "up", "down"}
    save_figure(fig, tmp_path / "warp.png")
    assert png_width(tmp_path / "warp.png") >= MIN_WIDTH_PX


def test_align_writes_the_figure(tmp_path):
    from skimage import data

    a = data.chelsea()[:160, :200]
    Image.fromarray(a).save(tmp_path / "a.png")
    Image.fromarray(np.roll(a, 4, axis=1)).save(tmp_path / "b.png")
    assert main(["align", str(tmp_path / "a.png"), str(tmp_path / "b.png"), "--out", str(tmp_path / "o"),
                 "--backbone", "caffenet", "--weights", "random", "--max-side", "160", "--iters", "2"]) == 0
    assert png_width(tmp_path / "o" / "warp.png") >= MIN_WIDTH_PX


# ----------------------------------------------------------------------------------- match and PF-WILLOW

def _transfer_lines(fig, colour):
    from matplotlib.colors import to_rgba

    return [ln for ln in fig.axes[0].get_lines() if to_rgba(ln.get_color()) == to_rgba(colour)]


def test_transfer_figure_marks_hits_green_and_misses_red(tmp_path):
    a = np.full((50, 80, 3), 200, np.uint8)
    pa = np.array([[10.0, 10.0], [40.0, 30.0], [70.0, 40.0]])
    truth = np.array([[12.0, 11.0], [40.0, 30.0], [np.nan, np.nan]])  # the third is not annotated in b
    pred = np.array([[13.0, 11.0], [60.0, 30.0], [5.0, 5.0]])  # 1 px off (hit), 20 px off (miss), no truth
    row = figures.TransferRow(a, a, pa, pred, truth, threshold=5.0, title="pair 1")
    fig = figures.transfer_figure([row], "transfer", ("source", "target"), "5 px")
    assert fig._suptitle.get_text() == "transfer" and fig.axes[0].get_title() == "pair 1"
    assert len(_transfer_lines(fig, figures.HIT)) == 1 and len(_transfer_lines(fig, figures.MISS)) == 1
    labels = legend_labels(fig)
    for name in ("source keypoint (source)", "predicted (target)", "ground truth (target)", "within 5 px", "miss"):
        assert name in labels
    save_figure(fig, tmp_path / "t.png")
    assert png_width(tmp_path / "t.png") >= MIN_WIDTH_PX


def test_match_figure_is_wide_titled_with_a_legend(tmp_path):
    from convcorr_cli import match

    a = np.full((48, 64, 3), 120, np.uint8)
    match.draw(tmp_path / "m.png", a, a, np.array([[5.0, 5.0], [30.0, 20.0]]), np.array([[6.0, 5.0], [np.nan] * 2]),
               ("a.png", "b.png"), "2 points transferred")
    assert png_width(tmp_path / "m.png") >= MIN_WIDTH_PX
    fig = figures.transfer_figure([figures.TransferRow(a, a, np.array([[5.0, 5.0]]), np.array([[6.0, 5.0]]))], "t",
                                  ("a.png", "b.png"))
    assert "source -> predicted" in legend_labels(fig) and "keypoint 0" in legend_labels(fig)
    plt.close(fig)


@pytest.mark.parametrize("name", ["x$\\y$.png", "cost$5 and cost$6.png"])
def test_a_dollar_sign_in_a_name_is_drawn_as_written(name, tmp_path):
    """Titles and legends hold file names (`convcorr match`, `align`): a "$" in one is a dollar sign, not mathtext,
    which stopped the figure with a ParseFatalException (x$\\y$.png) or drew half the name in italics."""
    from convcorr_cli import match

    a = np.full((48, 64, 3), 120, np.uint8)
    match.draw(tmp_path / "m.png", a, a, np.array([[5.0, 5.0]]), np.array([[6.0, 5.0]]), (name, "b.png"), name)
    assert png_width(tmp_path / "m.png") >= MIN_WIDTH_PX
    fig = figures.transfer_figure([figures.TransferRow(a, a, np.array([[5.0, 5.0]]), np.array([[6.0, 5.0]]))], name,
                                  (name, "b.png"))
    text = fig._suptitle
    assert text._preprocess_math(text.get_text()) == (name, False)
    plt.close(fig)


def test_pf_willow_figure_on_real_pairs(pf_root, tmp_path, monkeypatch):
    samples = list(load_pf_willow(pf_root, classes=["car(S)"], with_images=True))[:2]
    points, valid = pf_willow_protocol.keypoint_table(samples)
    pred = points[1] + np.where(np.arange(len(points[1]))[:, None] % 2 == 0, 1.0, 200.0)  # even: hits, odd: misses
    out = {"pairs": np.array([[0, 1]]), "samples": samples, "groups": np.array(["car(S)"]), "pred": pred[None]}
    pf_willow.figure(tmp_path / "pf.png", out, 4, "PF-WILLOW test")
    assert png_width(tmp_path / "pf.png") >= MIN_WIDTH_PX
    n = int(valid[1].sum())
    hits = int(valid[1][::2].sum())
    captured = {}
    real = figures.transfer_figure

    def spy(rows, title, *args, **kw):
        captured["fig"] = real(rows, title, *args, **kw)
        return captured["fig"]

    monkeypatch.setattr(pf_willow, "transfer_figure", spy)
    pf_willow.figure(tmp_path / "pf2.png", out, 4, "PF-WILLOW test")
    fig = captured["fig"]
    assert fig._suptitle.get_text() == "PF-WILLOW test"
    assert fig.axes[0].get_title().endswith(f"{hits} of {n} keypoints within 0.1 x box = "
                                            f"{0.1 * float(np.nanmax(np.ptp(points[1], 0))):.0f} px")
    assert "ground truth (target)" in legend_labels(fig) and "miss" in legend_labels(fig)


# ------------------------------------------------------------------------------------------------ pose page

def _people(n=8, k=11, size=48, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 255, (n, size, size, 3), dtype=np.uint8)
    truth = rng.uniform(8, 40, (n, k, 2)).astype(np.float32)
    return images, truth


def test_best_worst_page_picks_the_best_and_the_worst(tmp_path):
    images, truth = _people()
    scores = np.array([50.0, 90.0, np.nan, 10.0, 70.0, 30.0, 100.0, 0.0])
    fig = pose_figures.best_worst_figure(images, truth, truth + 1, np.ones(truth.shape[:2], bool), scores,
                                         joints.FLIC, "PCK@0.05", "page")
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles[:6] == ["best 1 (image 6): ground truth", "prediction: PCK@0.05 100.0 %",
                          "best 2 (image 1): ground truth", "prediction: PCK@0.05 90.0 %",
                          "best 3 (image 4): ground truth", "prediction: PCK@0.05 70.0 %"]
    assert titles[6] == "worst 1 (image 7): ground truth" and titles[8] == "worst 2 (image 3): ground truth"
    assert fig._suptitle.get_text() == "page" and "person's left side" in legend_labels(fig)
    save_figure(fig, tmp_path / "page.png")
    assert png_width(tmp_path / "page.png") >= MIN_WIDTH_PX


def test_image_scores_are_percent_over_scored_joints():
    hits = np.array([[1.0, 0.0, np.nan], [np.nan, np.nan, np.nan], [1.0, 1.0, 1.0]])
    np.testing.assert_array_equal(pose_figures.image_scores(hits), [50.0, np.nan, 100.0])


def test_flic_page_is_written(tmp_path):
    images, truth = _people()
    data = PoseArrays(images, truth, np.ones(truth.shape[:2], bool), np.full(len(images), 20.0, np.float32))
    pred = truth.copy()
    pred[3] += 30  # person 3: every joint a miss
    flic_scores.page_figure(data, pred, joints.FLIC, "FLIC test", tmp_path / "flic.png")
    assert png_width(tmp_path / "flic.png") >= MIN_WIDTH_PX


def test_mpii_page_is_written(tmp_path):
    rng = np.random.default_rng(1)
    people = []
    for i in range(6):
        pts = rng.uniform(50, 150, (16, 2))
        people.append(KeypointSample(pts, np.ones(16, bool), joints.MPII.names, np.zeros(4), "person", str(i),
                                     extras={"normalize": 20.0}))
    truth = np.stack([p.points for p in people])
    crops = rng.integers(0, 255, (6, 64, 64, 3), dtype=np.uint8)
    affine = np.tile(np.array([[0.5, 0, -20.0], [0, 0.5, -20.0]]), (6, 1, 1))  # image -> crop
    mpii.page_figure(people, truth + rng.normal(0, 5, truth.shape), crops, affine, joints.MPII, "MPII",
                     tmp_path / "mpii.png")
    assert png_width(tmp_path / "mpii.png") >= MIN_WIDTH_PX



# ------------------------------------------------------------------------ the experiments' other figures

def _titled(fig) -> bool:
    """A suptitle, or a title on an axes."""
    return bool(fig._suptitle and fig._suptitle.get_text()) or any(ax.get_title() for ax in fig.axes)


def _explained(fig) -> bool:
    """A legend, or axis labels, or titles on the image panels, or labels written beside a grid of images."""
    labelled = any(ax.get_xlabel() or ax.get_ylabel() or ax.texts for ax in fig.axes)
    return bool(fig.legends) or any(ax.get_legend() for ax in fig.axes) or labelled or \
        sum(bool(ax.get_title()) for ax in fig.axes) > 1


def _figures():
    """(name, draw(path)) of figure functions of the experiments, on small made-up inputs."""
    from convcorr_eval.long2014 import data_figures, locality, table3
    from convcorr_eval.razavian2015 import figures as raz
    from convcorr_eval.tompson2015 import pckh

    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (4, 24, 24, 3), dtype=np.uint8)
    pts = rng.uniform(2, 22, (4, 11, 2))
    curve = {"auc": 50.0, "curve": list(np.linspace(0, 90, 51))}
    return {
        "data grid": lambda p: data_figures.grid("faces", n=2, cols=2, image_size=64, out=p),
        "locality fig1": lambda p: locality.figure1(list(img[:2]), {"conv3 k=1": list(img[2:])}, p),
        "locality fig2": lambda p: locality.figure2({"conv3": img[None, :2] / 255.0}, (1, 5), p),
        "table3 fig5": lambda p: table3.cv_curve_figure({"conv4": {"car": {"C": [0.1, 1.0], "accuracy": [0.5, 0.6]}}},
                                                        p),
        "table3 fig4": lambda p: table3.histogram_figure({"conv4 nose": rng.uniform(0, 1, (9, 9))}, p),
        "pckh curves": lambda p: pckh.pckh_curve_figure({"run": curve}, p),
        "tompson pck": lambda p: pose_figures.pck_curves({"cascade": np.linspace(0, 90, 5)}, p, np.linspace(0, 0.2, 5)),
        "tompson x error": lambda p: pose_figures.x_error_hist({"cascade": rng.normal(0, 3, 50)}, p),
        "tompson skeletons": lambda p: pose_figures.skeletons(img, {"ground truth": pts, "cascade": pts + 1},
                                                              joints.FLIC, p, n=4),
        "razavian curves": lambda p: raz.plot_curves(p, np.arange(3), {"a": [1, 2, 3]}, "alpha", "PCK", "t"),
        "razavian points": lambda p: raz.plot_points(p, img[:2], [pts[:2], pts[:2] + 1], title="points"),
        "razavian grid": lambda p: raz.save_image(p, raz.image_grid([list(img[:2])]), title="grid",
                                                       row_titles=("original",)),
    }


@pytest.mark.parametrize("name", list(_figures()))
def test_experiment_figures_are_titled_explained_and_wide(name, tmp_path, monkeypatch):
    import convcorr_eval.report as report

    drawn = []
    real = report.save_figure

    def keep(fig, path, *args, **kwargs):
        drawn.append((_titled(fig), _explained(fig)))
        real(fig, path, *args, **kwargs)

    import sys

    for mod in list(sys.modules.values()):
        if getattr(mod, "__name__", "").startswith("convcorr_eval") and getattr(mod, "save_figure", None) is real:
            monkeypatch.setattr(mod, "save_figure", keep)
    _figures()[name](tmp_path / "f.png")
    assert drawn == [(True, True)]
    assert png_width(tmp_path / "f.png") >= MIN_WIDTH_PX


# ------------------------------------------------------------------- eval flic / eval mpii write their page

@pytest.fixture(scope="module")
def people(tmp_path_factory):
    """16 synthetic people in the real formats: FLIC's examples.mat + images/, MPII's annot/{train,valid}.h5."""
    from convcorr_jax.data.synthetic.datasets import write_dataset

    root = tmp_path_factory.mktemp("people")
    write_dataset("people", root, n=16, seed=0, image_size=64)
    return root


def _pose_run(write_pose_run, out, data: str, num_joints: int):
    import dataclasses

    from convcorr_train import pose_configs

    cfg = pose_configs.get_config("tiny")
    model = dataclasses.replace(cfg.model, image_size=32, num_joints=num_joints)
    return write_pose_run(dataclasses.replace(cfg, out=str(out), data=data, model=model))


@pytest.mark.parametrize("command", ["flic", "mpii"])
def test_eval_pose_commands_draw_the_best_and_worst_people(command, people, tmp_path, write_pose_run):
    if command == "flic":
        run = _pose_run(write_pose_run, tmp_path / "train", "flic", 11)
        args = ["--root", str(people), "--spatial", "off"]
    else:
        run = _pose_run(write_pose_run, tmp_path / "train", "synthetic", 16)
        args = ["--annot", str(people / "annot" / "valid.h5"), "--images", str(people / "images"), "--out",
                str(tmp_path / "preds.h5")]
    assert main(["eval", command, "--run", str(run), *args, "--out-dir", str(tmp_path / "runs"), "--no-progress"]) == 0
    (folder,) = [p for p in (tmp_path / "runs").iterdir() if p.name.startswith(f"tompson2015.{command}_")]
    page = folder / "figures" / (flic_scores.PAGE if command == "flic" else mpii.PAGE)
    assert png_width(page) >= MIN_WIDTH_PX
    assert f"(figures/{page.name})" in (folder / "report.md").read_text()


def test_figure4_histograms_have_labelled_colour_scales_from_zero(tmp_path, monkeypatch):
    """Each arg-max histogram of Figure 4 has its colour bar, labelled as counts and starting at 0: the panels'
    colours are otherwise scaled each on its own and say nothing of how many windows fell where."""
    from convcorr_eval.long2014 import table3

    drawn = []
    monkeypatch.setattr(table3, "save_figure", lambda fig, path, **kw: drawn.append(fig))
    hists = {"conv4 nose": np.array([[0, 1, 0], [2, 6, 1], [0, 0, 0]]), "SIFT nose": np.array([[3, 4, 5]] * 3)}
    table3.histogram_figure(hists, tmp_path / "f.png")
    fig = drawn[0]
    bars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    assert len(bars) == 2 and all("count" in b.get_ylabel() for b in bars)
    images = [ax.images[0] for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert [im.get_clim() for im in images] == [(0, 6), (0, 5)]
    plt.close(fig)
