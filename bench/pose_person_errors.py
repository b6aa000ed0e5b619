"""Where a person-box model's elbows and wrists go wrong on the validation people: each scored joint as right, on the
other side (within PCK@0.2 of the same joint of the person's other arm), on a neighbour (within PCK@0.2 of another
joint of the same arm), or elsewhere; and the PCK@0.2 by the person's torso length and by orientation.

    .venv/bin/python bench/pose_person_errors.py --flic FLIC --lspet LSPET [--model person] [--limit N]

People: as bench/pose_person_readout.py reads them (FLIC's validation movies, LSP-extended im05001-im05500, person
boxes from the labelled joints); the model's own test-time settings (readout.json). PCK@0.2 with the torso normaliser
(left shoulder to right hip). Orientation: "upright" where the labelled head (head top, else the nose) is above the
mid-point of the hips by more than half the torso length, "upside down" where it is below them by as much, else
"sideways". Validation only: nothing here chooses a setting.
"""

from __future__ import annotations

import numpy as np
import pose_person_readout as readout_bench  # bench/: the validation people's loader and arguments

from convcorr_jax.core import runinfo
from convcorr_jax.data.skeletons import PERSON
from convcorr_jax.pose.estimation import estimate, load

ALPHA = 0.2
ARMS = {"l": ("l shoulder", "l elbow", "l wrist"), "r": ("r shoulder", "r elbow", "r wrist")}
TORSO_BINS = (0, 30, 45, 60, 1e9)  # torso length, pixels of the image


def kinds(pred: np.ndarray, ps: dict) -> dict[str, np.ndarray]:
    """Per elbow and wrist column of the person skeleton: an int [N] code, -1 unscored, 0 right, 1 other side,
    2 neighbour on the same arm, 3 elsewhere."""
    idx = {n: i for i, n in enumerate(PERSON.names)}
    gt, scored, thr = ps["gt"], ps["scored"], ALPHA * ps["norm"]
    out = {}
    for side, other in (("l", "r"), ("r", "l")):
        for k in (1, 2):  # elbow, wrist
            j, o = idx[ARMS[side][k]], idx[ARMS[other][k]]
            near = [idx[ARMS[side][m]] for m in range(3) if m != k]
            d = np.linalg.norm(pred[:, j] - gt[:, j], axis=-1)
            d_other = np.linalg.norm(pred[:, j] - gt[:, o], axis=-1)
            d_near = np.min([np.where(scored[:, m], np.linalg.norm(pred[:, j] - gt[:, m], axis=-1), np.inf)
                             for m in near], axis=0)
            code = np.full(len(gt), 3)
            code[d_near <= thr] = 2
            code[np.where(scored[:, o], d_other, np.inf) <= thr] = 1
            code[d <= thr] = 0
            code[~scored[:, j] | ~np.isfinite(thr)] = -1
            out[ARMS[side][k]] = code
    return out


def orientation(ps: dict) -> np.ndarray:
    """"upright" / "sideways" / "upside down" [N] from the labelled head and hips (module docstring)."""
    idx = {n: i for i, n in enumerate(PERSON.names)}
    gt, lab = ps["gt"], ps["scored"]
    head = np.where(lab[:, idx["head top"], None], gt[:, idx["head top"]], gt[:, idx["nose"]])
    hips = (gt[:, idx["l hip"]] + gt[:, idx["r hip"]]) / 2
    up = (hips[:, 1] - head[:, 1]) / ps["norm"]
    return np.where(up > 0.5, "upright", np.where(up < -0.5, "upside down", "sideways"))


def main(argv: list[str] | None = None) -> int:
    a = readout_bench.validation_parser(__doc__.splitlines()[0]).parse_args(argv)
    pb = readout_bench.bench_module()
    print(runinfo.header("where a person-box model's elbows and wrists go wrong, validation people",
                         {"model": a.model, "alpha": ALPHA, "torso_bins": TORSO_BINS, "limit": a.limit}), flush=True)
    run = load(a.model)
    with runinfo.timed() as total:
        for name, kind, root in (("FLIC val", "flic", a.flic), ("LSP-extended val", "lsp", a.lspet)):
            ps = pb.people(kind, root, a.limit, "val")
            poses = estimate(ps["images"], run, person_boxes=list(ps["boxes"]))
            pred = pb.on_person(np.asarray(poses.points, np.float64), poses.names)[0]
            codes = kinds(pred, ps)
            print(f"\n{name}: {len(ps['gt'])} people\n")
            print("| joint | scored | right | other side | neighbour on the arm | elsewhere |\n|---|---|---|---|---|---|")
            for joint, c in codes.items():
                n = int((c >= 0).sum())
                print(f"| {joint} | {n} | " + " | ".join(f"{100 * np.mean(c[c >= 0] == v):.1f}" for v in range(4))
                      + " |")
            both = np.stack(list(codes.values()), 1)  # [N, 4]
            torso = ps["norm"]
            bins = np.digitize(torso, TORSO_BINS[1:-1])
            orient = orientation(ps)
            print("\n| people by | group | people | elbow and wrist PCK@0.2 |\n|---|---|---|---|")
            for label, groups, key in (
                    ("torso length (px)", [f"{lo:g}-{hi:g}" if hi < TORSO_BINS[-1] else f"{lo:g} and more"
                                           for lo, hi in zip(TORSO_BINS, TORSO_BINS[1:])], bins),
                    ("orientation", ["upright", "sideways", "upside down"], orient)):
                for g, group in enumerate(groups):
                    m = (key == g) if label.startswith("torso") else (key == group)
                    m &= np.isfinite(torso)
                    c = both[m]
                    print(f"| {label} | {group} | {int(m.sum())} | "
                          + (f"{100 * np.mean(c[c >= 0] == 0):.1f}" if (c >= 0).any() else "-") + " |")
    print(f"\nwall time {total['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
