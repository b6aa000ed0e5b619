"""Two read-outs tried against a person-box model's left / right and orientation errors, on the validation people;
neither is in the library (bench/RESULTS_pose.md, "Where `person`'s elbows and wrists go wrong").

    .venv/bin/python bench/pose_person_tried.py --flic FLIC --lspet LSPET [--model person] [--limit N]

People and rule as bench/pose_person_readout.py's (FLIC's validation movies, LSP-extended im05001-im05500, person
boxes from the labelled joints; the mean of elbow and wrist PCK@0.2, torso normaliser, over both sets), every row at
the model's own crop scale and flip (readout.json), its read-out `cascade_product`:

- separation: where the integer arg-max cells of a left / right pair (elbows and wrists; then knees and ankles too)
  of the flip-averaged coarse maps lie within `radius` cells, the weaker peak's joint moves to the refined arg-max
  of its map outside that disk about the stronger's cell (`heatmaps.subpixel_argmax` with `select`);
- rotation: the input square also rotated by 180 and / or +-90 degrees about its centre, each person read at the
  rotation of the highest mean coarse-peak confidence.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pose_person_readout as readout_bench  # bench/: the validation people's loader and arguments

from convcorr_jax.core import geometry, runinfo
from convcorr_jax.pose import estimation, heatmaps, predict
from convcorr_jax.pose import flip as pose_flip

RADII = (1, 1.5, 2, 2.5, 3)  # coarse heat-map cells
PAIRS = {"elbows and wrists": ("elbow", "wrist"), "elbows, wrists, knees, ankles": ("elbow", "wrist", "knee", "ankle")}
ROTATIONS = ((0, 180), (0, 90, -90), (0, 180, 90, -90))  # degrees


def rotation(degrees: float, size: int) -> np.ndarray:
    """[2, 3] the rotation of an input of side `size` about its centre."""
    t, c = np.deg2rad(degrees), (size - 1) / 2
    rot = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    return np.concatenate([rot, (np.array([c, c]) - rot @ np.array([c, c]))[:, None]], 1)


def affines(run, ps: dict, degrees: float = 0.0) -> np.ndarray:
    """The model's input affines [N, 2, 3] about the person boxes at its own crop scale, rotated by `degrees`."""
    sizes = [im.shape[:2] for im in ps["images"]]
    base = estimation._input_affines(run.config, sizes, list(ps["boxes"]), run.test_time[1][0], run.crop)[0]
    return np.stack([geometry.compose_affine(rotation(degrees, run.config.model.image_size), a) for a in base])


def maps_and_points(run, ps: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(flip-averaged coarse maps [N, S, S, K], cascade_product points [N, K, 2] input pixels, affines)."""
    cfg, aff = run.config.model, affines(run, ps)
    crops = geometry.crop_each(ps["images"], aff, cfg.image_size, border="constant")
    fn = jax.jit(lambda p, x: pose_flip.apply(p, x.astype(jnp.float32) / 255.0, cfg, run.flip))
    hms, xys = [], []
    for i in range(0, len(crops), 32):
        out = fn(run.params, crops[np.minimum(np.arange(i, i + 32), len(crops) - 1)])
        hms.append(np.asarray(out["coarse_hm"])[:len(crops) - i])
        xys.append(np.asarray(out["xy_product"])[:len(crops) - i])
    return np.concatenate(hms), np.concatenate(xys), aff


def separated(hm: np.ndarray, xy: np.ndarray, pairs, radius: float, pool: int) -> tuple[np.ndarray, int]:
    """xy with the weaker joint of each coinciding pair moved (module docstring); (points, how many moved)."""
    xy, n, size = xy.copy(), len(hm), hm.shape[1]
    cells = np.asarray(heatmaps.argmax_2d(jnp.asarray(hm)))
    yy, xx = np.mgrid[0:size, 0:size]
    moved = 0
    for a, b in pairs:
        peak = hm[np.arange(n)[:, None], cells[:, (a, b), 1], cells[:, (a, b), 0], np.array([a, b])]
        for i in np.nonzero(np.linalg.norm(cells[:, a] - cells[:, b], axis=-1) <= radius)[0]:
            weak, strong = (a, b) if peak[i, 0] < peak[i, 1] else (b, a)
            m = hm[i, :, :, weak].copy()
            m[(xx - cells[i, strong, 0]) ** 2 + (yy - cells[i, strong, 1]) ** 2 <= radius ** 2] = m.min() - 1
            cell = heatmaps.subpixel_argmax(jnp.asarray(hm[i, :, :, weak, None]), jnp.asarray(m[..., None]))[0]
            xy[i, weak] = np.asarray(heatmaps.map_to_image(cell, pool))
            moved += 1
    return xy, moved


def main(argv: list[str] | None = None) -> int:
    a = readout_bench.validation_parser(__doc__.splitlines()[0]).parse_args(argv)
    pb = readout_bench.bench_module()
    print(runinfo.header("read-outs tried against left / right and orientation errors, validation people",
                         {"model": a.model, "radii": RADII, "rotations": ROTATIONS, "limit": a.limit}), flush=True)
    run = estimation.load(a.model)
    index = {n: i for i, n in enumerate(run.names)}
    sets = {"FLIC val": pb.people("flic", a.flic, a.limit, "val"),
            "LSP-extended val": pb.people("lsp", a.lspet, a.limit, "val")}

    def row(label: str, points: dict[str, np.ndarray], extra: dict[str, str]) -> None:
        cells, rule = [], []
        for k, ps in sets.items():
            s = pb.scores(ps, *pb.on_person(points[k], run.names))
            cells.append(" / ".join("-" if np.isnan(s[g, 0.2]) else f"{s[g, 0.2]:.1f}"
                                    for g in ("Elbow", "Wrist", "Knee", "Ankle")) + f" ({extra[k]})")
            rule += [s["Elbow", 0.2], s["Wrist", 0.2]]
        print(f"| {label} | " + " | ".join(cells) + f" | {np.mean(rule):.2f} |", flush=True)

    with runinfo.timed() as total:
        outs = {k: maps_and_points(run, ps) for k, ps in sets.items()}
        print("| read-out | " + " | ".join(f"{k}: elbow / wrist / knee / ankle @0.2 (moved or turned)" for k in sets)
              + " | rule |\n|---|---|---|---|")
        row("the model's own", {k: predict.to_original(o[1], o[2]) for k, o in outs.items()}, dict.fromkeys(sets, "0"))
        for label, joints in PAIRS.items():
            pairs = [(index[f"l {j}"], index[f"r {j}"]) for j in joints]
            for radius in RADII:
                got = {k: separated(o[0], o[1], pairs, radius, run.config.model.pool) for k, o in outs.items()}
                row(f"separation of {label}, radius {radius:g}",
                    {k: predict.to_original(got[k][0], outs[k][2]) for k in sets}, {k: str(got[k][1]) for k in sets})
        reads = {}
        for degrees in sorted({d for r in ROTATIONS for d in r}):
            for k, ps in sets.items():
                aff = affines(run, ps, degrees)
                crops = geometry.crop_each(ps["images"], aff, run.config.model.image_size, border="constant")
                pr = predict.predict_crops(run.params, crops, run.config.model, peaks=True, flip=run.flip)
                reads[k, degrees] = (predict.to_original(pr["cascade_product"], aff), pr["peak"].mean(1))
        for combo in ROTATIONS:
            points, turned = {}, {}
            for k in sets:
                pts = np.stack([reads[k, d][0] for d in combo])
                best = np.argmax(np.stack([reads[k, d][1] for d in combo]), 0)
                points[k], turned[k] = pts[best, np.arange(pts.shape[1])], str(int((best > 0).sum()))
            row("rotations " + " / ".join(f"{d:g}" for d in combo) + ", the most confident", points, turned)
    print(f"\nwall time {total['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
