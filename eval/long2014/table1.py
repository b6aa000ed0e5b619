"""Long et al. 2014 Table 1: receptive-field size and stride per layer; top-5 classes of real photographs.

    convcorr run long2014.table1                                   # MobileNetV2, real ImageNet weights
    convcorr run long2014.table1 --backbone caffenet --set weights=random

Default and tiny are the same run. Prints "Table 1 reproduced exactly" when CaffeNet's receptive fields computed
from its layer list equal the paper's (11/4 ... 195/32), and the top-1 class of scikit-image's bundled photographs
(MobileNetV2: chelsea -> Egyptian cat).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from convcorr_jax.backbones import get, preprocess
from convcorr_jax.features.classify import classify
from convcorr_jax.data.types import load_image
from convcorr_jax.core.optional import require
from convcorr_jax.weights import load_backbone
from convcorr_eval.experiment import Context, ExperimentConfig, Result
from convcorr_eval.long2014.paper import TABLE1
from convcorr_eval.report import markdown_table, plt, save_figure

SKIMAGE_IMAGES = ("chelsea.png", "astronaut.png", "coffee.png", "rocket.jpg")


@dataclasses.dataclass(frozen=True)
class Config(ExperimentConfig):
    """Table 1 has no size-dependent setting; `classify` turns the photo classification off."""

    classify: bool = True


def get_config(size: str = "default") -> Config:
    return Config(size=size)


def table1_rows() -> tuple[list[list], bool]:
    """CaffeNet (227 input) receptive field size / stride per layer beside the paper's, and whether all agree."""
    cn = get("caffenet")
    rows, exact = [], True
    for layer, (size, stride) in TABLE1.items():
        rf = cn.geometry[layer]
        exact &= (rf.size, rf.stride) == (size, stride)
        h, w = cn.grid_size(layer, (227, 227))
        rows.append([layer, rf.size, rf.stride, f"{rf.offset:g}", f"{h} x {w}", size, stride])
    return rows, bool(exact)


def role_rows(backbone) -> list[list]:
    """The backbone's taps in the AlexNet roles with their receptive fields at its default input size."""
    hw = backbone.default_input_size
    rows = []
    for role, tap in backbone.roles.items():
        if tap in backbone.geometry:
            rf = backbone.geometry[tap]
            h, w = backbone.grid_size(tap, hw)
            rows.append([role, tap, rf.size, rf.stride, f"{rf.offset:g}", f"{h} x {w}"])
        else:
            rows.append([role, tap, "global", "-", "-", "vector"])
    return rows


def skimage_images() -> list[tuple[str, np.ndarray]]:
    """scikit-image's bundled real photographs (uint8 RGB)."""
    skimage = require("skimage", "report", "Table 1's photographs (scikit-image's bundled ones)")
    assert skimage.__file__ is not None  # a regular package, imported from its __init__.py
    folder = Path(skimage.__file__).parent / "data"
    return [(n.split(".")[0], load_image(folder / n)) for n in SKIMAGE_IMAGES if (folder / n).is_file()]


def rf_figure(path: Path, image: np.ndarray, backbone, transform) -> None:
    """The conv3/conv5/pool5-role receptive fields drawn at the centre of the evaluation crop, in the image's pixels
    (`transform`: the crop's `preprocess.resize_and_crop`; squares of the crop, rectangles where it squashed the
    image, as CaffeNet's resize does)."""
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.imshow(image)
    crop = backbone.resize[1]
    for role, color in {"conv3": "yellow", "conv5": "orange", "pool5": "red"}.items():
        rf = backbone.geometry[backbone.roles[role]]
        c = transform.to_original(np.array([(crop - 1) / 2, (crop - 1) / 2]))
        w, h = rf.size / transform.sx, rf.size / transform.sy  # a square of the crop: a rectangle of a squashed image
        ax.add_patch(plt.Rectangle((c[0] - w / 2, c[1] - h / 2), w, h, fill=False, color=color, lw=1.5,
                                   label=f"{role} ({backbone.roles[role]}) rf {rf.size}px"))
    ax.legend(fontsize=7, loc="lower left")
    ax.set_title("Receptive fields of the conv3, conv5 and pool5-role taps at the crop centre", fontsize=9)
    ax.set_axis_off()
    save_figure(fig, path, dpi=80)


def run(cfg: Config, ctx: Context) -> Result:
    rows, exact = table1_rows()
    metrics: dict = {"table1_exact": exact}
    md = ["Receptive fields per layer, CaffeNet at 227 x 227 (ours from the layer list; paper: Long et al. Table 1):",
          "", markdown_table(["layer", "rf size (ours)", "stride (ours)", "centre of unit 0", "map at 227",
                              "rf size, paper", "stride, paper"], rows, "{}"), ""]
    backbone, params = load_backbone(cfg.backbone, cfg.weights, cfg.seed)
    md += [f"{backbone.name} taps playing the AlexNet roles, {backbone.default_input_size[0]} input:", "",
           markdown_table(["role", "tap", "rf size", "stride", "centre of unit 0", "map"], role_rows(backbone), "{}"),
           ""]
    summary = f"Table 1 {'reproduced exactly' if exact else 'MISMATCH'}"
    images = skimage_images() if cfg.classify else []
    if images:
        resize_to, crop, keep = backbone.resize
        crops, tfs = zip(*(preprocess.resize_and_crop(img, resize_to, crop, keep) for _, img in images))
        _, tops = classify(backbone, params, np.stack(crops), 5)
        weights = "random weights (plumbing only)" if cfg.weights == "random" else "pretrained weights"
        md += [f"Top-5 ImageNet classes, {backbone.name} with {weights} (scikit-image's bundled photographs):", "",
               markdown_table(["image", "top-5 (probability)"], [
                   [name, "; ".join(f"{n.split(',')[0]} {p:.2f}" for _, n, p in top)]
                   for (name, _), top in zip(images, tops)])]
        for (name, _), top in zip(images, tops):
            metrics[f"top1_{name}"] = top[0][1]
            metrics[f"top1_prob_{name}"] = round(top[0][2], 4)
        fig = ctx.figures / "table1_receptive_fields.png"
        rf_figure(fig, images[0][1], backbone, tfs[0])
        md += ["", f"![receptive fields of the conv3/conv5/pool5-role taps at the crop centre](figures/{fig.name})"]
        summary += "; " + ", ".join(f"{name}: {top[0][1].split(',')[0]} {top[0][2]:.2f}"
                                    for (name, _), top in zip(images, tops))
    return Result(summary, "\n".join(md), metrics)
