"""The synthetic data behind every experiment: example grids, set statistics and image-blind baselines.

    convcorr run long2014.data                     # 240 objects / 160 people / 160 faces
    convcorr run long2014.data --size tiny         # 12 / 8 / 8 (the tests)

The generated sets are cached (`convcorr_jax.core.cache`). Prints the image-blind baselines (leave-one-out mean
shape): object PCK@0.1, face NME, people PCKh@0.5. Methods that read the image should beat them clearly. The
backbone fields are unused here. Measured baselines and times: bench/RESULTS_synthetic.md.
"""

from __future__ import annotations

import dataclasses
import json
import time

import numpy as np

from convcorr_jax.core.metrics import MPII_TOOLKIT_ABOUT, pck_hits, pckh_pooled_joints
from convcorr_jax.core.config import check_fields
from convcorr_jax.data import synthetic as synthetic_data
from convcorr_jax.data.faces300w import interocular_distance
from convcorr_jax.data.voc_segmentation import voc_palette
from convcorr_jax.long2014.prediction import per_type_pck
from convcorr_eval.experiment import Context, ExperimentConfig, Result, require_data, sized
from convcorr_eval.report import markdown_table, percent, plt, ran_on, save_figure, score_about

_MPII_EDGES = ((0, 1), (1, 2), (2, 6), (3, 6), (3, 4), (4, 5), (6, 7), (7, 8), (8, 9), (10, 11), (11, 12), (12, 7),
               (13, 7), (13, 14), (14, 15))
_RIGHT = {0, 1, 2, 10, 11, 12}
_FACE_GROUPS = ((0, 17), (17, 22), (22, 27), (27, 31), (31, 36), (36, 42), (42, 48), (48, 60), (60, 68))


@dataclasses.dataclass(frozen=True)
class Config(ExperimentConfig):
    """Sample counts of the three synthetic sets; `grid_n` samples per example grid in `grid_cols` columns."""

    n_objects: int = 240
    n_people: int = 160
    n_faces: int = 160
    grid_n: int = 12
    grid_cols: int = 6

    def __post_init__(self):
        super().__post_init__()
        check_fields(self, at_least_one=("n_objects", "n_people", "n_faces", "grid_n", "grid_cols"))


def get_config(size: str = "default") -> Config:
    n_obj, n_ppl, n_face, grid_n = sized(size, {"tiny": (12, 8, 8, 6), "default": (240, 160, 160, 12),
                                                "full": (2000, 2000, 2000, 12)})
    return Config(size=size, n_objects=n_obj, n_people=n_ppl, n_faces=n_face, grid_n=grid_n)


def object_mean_shape_pck(samples, alpha: float = 0.1) -> dict[str, float]:
    """PCK@alpha of predicting each category's mean box-relative layout (leave-one-out mean), measured as Long Table
    4's rows are (`long2014.prediction.evaluate`): visible keypoints, alpha * max(box w, h) with inclusive sides, the
    mean over keypoint types (`per_type_pck`)."""
    out = {}
    for c in sorted({s.category for s in samples}):
        ss = [s for s in samples if s.category == c]
        if len(ss) < 2:
            continue
        b = np.stack([np.asarray(s.bbox, np.float64) for s in ss])
        wh = b[:, 2:] - b[:, :2] + 1
        gt = np.stack([np.asarray(s.points, np.float64) for s in ss])
        rel = (gt - b[:, None, :2]) / wh[:, None]
        loo = (rel.sum(0)[None] - rel) / (len(ss) - 1)
        hits = pck_hits(b[:, None, :2] + loo * wh[:, None], gt, np.stack([s.visible for s in ss]), wh.max(1), alpha)
        out[c] = per_type_pck(hits)
    return out


def face_mean_shape_nme(samples) -> float:
    """NME (inter-ocular) of the leave-one-out mean face shape."""
    P = np.stack([s.points for s in samples]).astype(np.float64)
    loo = (P.sum(0)[None] - P) / max(len(P) - 1, 1)
    return float((np.linalg.norm(loo - P, axis=-1).mean(1) / interocular_distance(P)).mean())


def people_mean_pose_pckh(samples, thr: float = 0.5) -> float:
    """PCKh@thr of the leave-one-out mean pose placed at each person's centre and scale, pooled over the MPII
    toolkit's 14 joints (pelvis and thorax left out: `pckh_pooled_joints`, as `convcorr eval pckh`)."""
    c = np.stack([s.extras["center"] for s in samples])[:, None]
    sc = np.array([s.extras["scale"] for s in samples])[:, None, None]
    P = np.stack([s.points for s in samples]).astype(np.float64)
    Q = (P - c) / sc
    loo = (Q.sum(0)[None] - Q) / max(len(Q) - 1, 1)
    h = np.array([s.extras["normalize"] for s in samples])[:, None]
    pooled, _ = pckh_pooled_joints("mpii", P.shape[1])  # the people's 16 MPII joints (view "mpii")
    return float((np.linalg.norm(loo * sc + c - P, axis=-1) / h <= thr)[:, pooled].mean())


def _draw_points(ax, s, cmap="tab20"):
    colours = plt.get_cmap(cmap)(np.arange(len(s.names)) % 20)
    for i in np.nonzero(np.all(np.isfinite(s.points), axis=1))[0]:
        x, y = s.points[i]
        if s.visible[i]:
            ax.plot(x, y, "o", ms=3.5, mfc=colours[i], mec="k", mew=0.5)
        else:
            ax.plot(x, y, "o", ms=3.5, mfc="none", mec=colours[i], mew=1.0)


def grid(kind: str, n: int = 12, seed: int = 0, image_size: int | None = None, cols: int = 6, out=None,
         masks_out=None) -> None:
    """Draw n samples of `kind` to `out` (PNG): visible keypoints filled, invisible hollow; people with their MPII
    skeleton (right limbs red, the rest blue) and head box, objects with their box and, to `masks_out`, their label
    maps."""
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(2.2 * cols, 2.35 * rows), squeeze=False)
    labels = []
    for i, ax in enumerate(axes.ravel()):
        ax.axis("off")
        if i >= n:
            continue
        r = synthetic_data.render_sample(kind, i, seed, image_size)
        s, lab = r if isinstance(r, tuple) else (r, None)  # objects: (sample, label map)
        image = s.loaded_image()  # render_sample returns its sample with the image drawn
        labels.append(lab)
        ax.imshow(image, interpolation="nearest")
        if kind == "people":
            p = s.points
            for a, b in _MPII_EDGES:
                ax.plot(p[[a, b], 0], p[[a, b], 1], "-", lw=1.2, color="r" if (a in _RIGHT or b in _RIGHT) else "b")
            hb = s.extras["head_box"]
            ax.add_patch(plt.Rectangle(hb[:2], hb[2] - hb[0], hb[3] - hb[1], fill=False, ec="y", lw=0.8))
            ax.set_title(f"{s.id} {s.extras['split']}", fontsize=6)
        elif kind == "faces":
            p = s.points
            for a, b in _FACE_GROUPS:
                ax.plot(p[a:b, 0], p[a:b, 1], "-", lw=0.6, color="c")
            at = s.extras["attributes"]
            ax.set_title(f"yaw {np.degrees(at['yaw']):.0f} smile {at['smile']:.1f} gl {at['glasses']:.0f}",
                         fontsize=6)
        else:
            box = s.bbox
            ax.add_patch(plt.Rectangle((float(box[0]) - 0.5, float(box[1]) - 0.5), box[2] - box[0] + 1,
                                       box[3] - box[1] + 1, fill=False, ec="y", lw=0.8))
            ax.set_title(f"{s.category} ({int(s.visible.sum())}/{len(s.names)} visible)", fontsize=6)
        _draw_points(ax, s)
        ax.set_xlim(-0.5, image.shape[1] - 0.5)
        ax.set_ylim(image.shape[0] - 0.5, -0.5)
    what = {"people": "people: MPII skeleton (right limbs red; left limbs, spine and head blue), head box yellow",
            "faces": "faces: 68 landmarks by contour",
            "objects": "objects: box yellow"}.get(kind, kind)
    fig.suptitle(f"Synthetic {kind}, first {n} samples; keypoints filled where visible, hollow where not; {what}",
                 fontsize=9)
    fig.tight_layout()
    if out is not None:
        save_figure(fig, out, dpi=110)
    else:
        plt.close(fig)
    if kind == "objects" and masks_out is not None:
        pal = voc_palette(256)
        fig, axes = plt.subplots(rows, cols, figsize=(2.2 * cols, 2.2 * rows), squeeze=False)
        for i, ax in enumerate(axes.ravel()):
            ax.axis("off")
            if i < len(labels):
                ax.imshow(pal[labels[i]], interpolation="nearest")
        fig.suptitle("Synthetic objects: segmentation label maps (VOC palette; black background)", fontsize=9)
        fig.tight_layout()
        save_figure(fig, masks_out, dpi=110)


def run(cfg: Config, ctx: Context) -> Result:
    require_data(cfg, ("synthetic",))
    t0 = time.perf_counter()
    for kind in synthetic_data.KINDS:
        grid(kind, cfg.grid_n, cfg.seed, None, cfg.grid_cols, ctx.figures / f"synthetic_{kind}.png",
             ctx.figures / "synthetic_objects_masks.png" if kind == "objects" else None)
    objs = synthetic_data.load_objects(n=cfg.n_objects, seed=cfg.seed, split=None)
    ppl = synthetic_data.load_synthetic_people(n=cfg.n_people, seed=cfg.seed, split=None)
    fcs = synthetic_data.load_faces(n=cfg.n_faces, seed=cfg.seed, split=None)
    gen = {kind: json.loads((synthetic_data.dataset_dir(kind, n, cfg.seed) / "synthetic.json").read_text())
           for kind, n in (("objects", cfg.n_objects), ("people", cfg.n_people), ("faces", cfg.n_faces))}
    pck, nme, pckh = object_mean_shape_pck(objs), face_mean_shape_nme(fcs), people_mean_pose_pckh(ppl)
    vis = {c: float(np.mean(np.concatenate([s.visible for s in objs if s.category == c])))
           for c in synthetic_data.OBJECT_CATEGORIES}
    md = ["Synthetic sets written in the real formats (VOC keypoint XML + segmentation PNGs, MPII h5 + FLIC mat, "
          "300-W .pts) and read back through the real loaders.", "",
          markdown_table(["set", "samples (train / test)", "image px", "generation s (cache)"],
                         [[k, f"{i['n']} ({i['train']} / {i['test']})", int(i["image_size"]), i["seconds"]]
                          for k, i in gen.items()], "{:.1f}"), "",
          "Image-blind baselines (leave-one-out mean shape; a method that reads the image should beat them):", "",
          markdown_table([f"category ({ran_on(cfg, 'train + test', 'no network')})", "keypoints", "visible fraction",
                          "mean-layout PCK@0.1 (%, object box)"],
                         [[c, len(synthetic_data.OBJECT_KEYPOINTS[c]), vis[c], percent(pck.get(c, float("nan")))]
                          for c in synthetic_data.OBJECT_CATEGORIES], "{:.3f}"), "",
          f"Faces: mean-shape NME (inter-ocular) = {nme:.3f}. People: mean-pose PCKh@0.5 = {percent(pckh)} %.", "",
          "![objects](figures/synthetic_objects.png)", "![object masks](figures/synthetic_objects_masks.png)",
          "![people](figures/synthetic_people.png)", "![faces](figures/synthetic_faces.png)"]
    mean_pck = float(np.mean(list(pck.values())))
    summary = (f"{cfg.n_objects} objects / {cfg.n_people} people / {cfg.n_faces} faces; image-blind baselines: "
               f"object PCK@0.1 {percent(mean_pck)} %, face NME {nme:.2f}, people PCKh@0.5 {percent(pckh)} % "
               f"({time.perf_counter() - t0:.0f} s)")
    metrics = {"object_mean_layout_pck": pck, "object_pck_about": score_about("object box", 0.1),
               "face_mean_shape_nme": nme, "people_mean_pose_pckh": pckh,
               "people_pckh_about": score_about("head segment", 0.5, pooled=MPII_TOOLKIT_ABOUT),
               "visible_fraction": vis, "generation_seconds": {k: v["seconds"] for k, v in gen.items()}}
    return Result(summary, "\n".join(md), metrics)
