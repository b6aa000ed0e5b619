"""Demo stage "table1": Long et al. Table 1 from the layer lists, the MobileNetV2 analogue, and top-5 ImageNet
classes of scikit-image's bundled real photographs with the real MobileNetV2 weights."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from convcorr_jax.backbones import get

PAPER_TABLE1 = {"conv1": (11, 4), "conv2": (51, 8), "conv3": (99, 16), "conv4": (131, 16), "conv5": (163, 16), "pool5": (195, 32)}
SKIMAGE_IMAGES = ("chelsea.png", "astronaut.png", "coffee.png", "rocket.jpg")


def table1_markdown() -> tuple[str, dict]:
    """CaffeNet (227 input) rf size/stride per layer next to the paper's numbers, and the MobileNetV2 taps used in
    the AlexNet roles."""
    cn, mb = get("caffenet"), get("mobilenet_v2")
    rows = ["| layer | rf size (ours) | stride (ours) | centre of unit 0 | map at 227 | rf size, paper | stride, paper |",
            "|---|---|---|---|---|---|---|"]  # fmt: skip
    exact = True
    for layer, (size, stride) in PAPER_TABLE1.items():
        rf = cn.geometry[layer]
        exact &= (rf.size, rf.stride) == (size, stride)
        h, w = cn.grid_size(layer, (227, 227))
        rows.append(f"| {layer} | {rf.size} | {rf.stride} | {rf.offset:g} | {h} x {w} | {size} | {stride} |")
    rows += ["", "MobileNetV2 (torchvision) taps playing the AlexNet roles, 224 input:", "",
             "| role | tap | rf size | stride | centre of unit 0 | map at 224 |", "|---|---|---|---|---|---|"]  # fmt: skip
    for role, tap in mb.roles.items():
        if tap in mb.geometry:
            rf = mb.geometry[tap]
            h, w = mb.grid_size(tap, (224, 224))
            rows.append(f"| {role} | {tap} | {rf.size} | {rf.stride} | {rf.offset:g} | {h} x {w} |")
        else:
            rows.append(f"| {role} | {tap} | global | - | - | 1280-d vector |")
    return "\n".join(rows), {"table1_exact": bool(exact)}


def skimage_images() -> list[tuple[str, np.ndarray]]:
    """The bundled real photographs (uint8 RGB) from the installed scikit-image, or [] without it."""
    from convcorr_jax.data.types import load_image

    spec = importlib.util.find_spec("skimage")
    if spec is None or spec.origin is None:
        return []
    folder = Path(spec.origin).parent / "data"
    return [(n.split(".")[0], load_image(folder / n)) for n in SKIMAGE_IMAGES if (folder / n).is_file()]


def _rf_figure(path: Path, image: np.ndarray, backbone, transform) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4))
    ax.imshow(image)
    colors = {"conv3": "yellow", "conv5": "orange", "pool5": "red"}
    for role, color in colors.items():
        rf = backbone.geometry[backbone.roles[role]]
        c = transform.to_original(np.array([111.5, 111.5]))  # centre of the 224 crop
        s = rf.size / transform.sx
        ax.add_patch(plt.Rectangle((c[0] - s / 2, c[1] - s / 2), s, s, fill=False, color=color, lw=1.5, label=f"{role} ({backbone.roles[role]}) rf {rf.size}px"))
    ax.legend(fontsize=7, loc="lower left")
    ax.set_axis_off()
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def demo_stage(ctx):
    """Table 1 (exact, from the layer lists) + MobileNetV2 analogue + top-5 of the bundled real images."""
    from convcorr_jax.backbones import preprocess
    from convcorr_jax.backbones.cli_classify import classify
    from convcorr_jax.demo import StageResult

    table, metrics = table1_markdown()
    md = ["Receptive fields per layer, CaffeNet at 227 x 227 (ours from the layer list; paper: Long et al. Table 1):", "", table, ""]
    images = skimage_images()
    if not images:
        md.append("scikit-image is not installed: no bundled real images to classify.")
        summary = f"Table 1 {'reproduced exactly' if metrics['table1_exact'] else 'MISMATCH'}; no images"
        return StageResult(summary, "\n".join(md), metrics)
    from convcorr_jax.weights import load_pretrained

    backbone, params = load_pretrained("mobilenet_v2", ctx.weights) if ctx.weights else load_pretrained("mobilenet_v2")
    crops, tfs = [], []
    for _, img in images:
        c, tf = preprocess.resize_and_crop(img, 256, 224)
        crops.append(c)
        tfs.append(tf)
    _, tops = classify(backbone, params, np.stack(crops), 5)
    md += ["Top-5 ImageNet classes, MobileNetV2 with the real torchvision weights (scikit-image's bundled photographs):", "",
           "| image | top-5 (probability) |", "|---|---|"]  # fmt: skip
    for (name, _), top in zip(images, tops):
        md.append(f"| {name} | " + "; ".join(f"{n.split(',')[0]} {p:.2f}" for _, n, p in top) + " |")
        metrics[f"top1_{name}"] = top[0][1]
        metrics[f"top1_prob_{name}"] = round(top[0][2], 4)
    fig = ctx.figures / "table1_receptive_fields.png"
    _rf_figure(fig, images[0][1], backbone, tfs[0])
    md += ["", f"![receptive fields of the conv3/conv5/pool5-role taps at the crop centre](figures/{fig.name})"]
    summary = (f"Table 1 {'reproduced exactly' if metrics['table1_exact'] else 'MISMATCH'}; "
               + ", ".join(f"{name}: {top[0][1].split(',')[0]} {top[0][2]:.2f}" for (name, _), top in zip(images, tops)))  # fmt: skip
    return StageResult(summary, "\n".join(md), metrics)
