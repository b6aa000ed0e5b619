"""Local geometric models for the keypoint carry on PF-WILLOW, replayed on the default's recorded node matches.

    python bench/pf_willow_carry_models.py --root PF-dataset-WILLOW [--cache matches.npz] [--tps] [--loo]

The default pipeline (`pf_willow.Config()`, OT + RHM on the three networks' hyperpixels, cycle consistency) runs
once on the six bundled sub-classes (540 ordered pairs) and the cross pairs of the two mixed-view sets (400), with
`frame_transfer._carry`'s inputs recorded (each pair's best matches, the target's best source nodes, the nodes'
frame pixels, the source keypoints in frame pixels); `--cache` keeps them in an .npz so a second run skips the
networks. The carries are then replayed on the same matches:

- the default (`frame_transfer._carry` itself): its PF PCK must equal the pipeline's to the last digit (asserted);
- a local affine fit per keypoint p (moving least squares): x_B = A x_A + t by weighted least squares over the
  consistent nodes' matches, node weights exp(-(d^2 - d_min^2) / (2 sigma^2)) of the node's distance d to p (d_min:
  the nearest consistent node's), a ridge lam x (sum of the weights) x sigma^2 on A pulling it toward
  diag(`carry.spread_ratio`); then one reweighting pass dropping the nodes whose residual exceeds the default's
  trim (4 grid strides) and the fit again; the keypoint moves to A p + t;
- the same with a similarity after the per-axis spread ratio, A = s R diag(ratio), s R pulled toward the identity;
- with `--tps`: a thin-plate spline through all consistent matches of a pair, smoothing lam, the same robust pass.

Prints one markdown table (PCK@0.1 per fold, means of the six sub-classes and of all eight folds, PCK@0.05 / 0.2
of the six) and, with `--loo`, each variant family's leave-one-out over its parameters (`pf_willow_selection`'s
rule: each fold's setting chosen on the sub-classes it does not contain).
"""

from __future__ import annotations

import argparse
import itertools

import jax
import numpy as np

from convcorr_jax.core import correspondence_metrics, geometry, io, runinfo
from convcorr_jax.core.parallel import pad_rows
from convcorr_jax.correspondence import carry, frame_transfer
from convcorr_jax.features.hyperpixel import resolve_taps
from convcorr_eval.long2014 import pf_willow, pf_willow_protocol, pf_willow_selection
from convcorr_eval.long2014 import pf_willow_validation as validation

MIXED = ("car(G)+car(S)", "winebottle(wC)+winebottle(woC)")
ALPHAS = ("0.05", "0.1", "0.2")


def record(root: str) -> dict:
    """The default's node matches on the 940 pairs, its PF PCK and everything a replay needs (module docstring)."""
    v = validation.Validation(validation.Config(data_root=root, rows=("method=ot_rhm",), mixed=MIXED))
    c = v.cfg.row_configs()[0]
    frames, used, _ = v.frames(c, resolve_taps(v.model(c)[0], c.transfer.tap_names))
    calls = []
    original = frame_transfer._carry

    def spy(best, back, xy, q, cfg, stride):
        calls.append((np.asarray(best), np.asarray(back), np.asarray(q, np.float32)))
        return original(best, back, xy, q, cfg, stride)

    frame_transfer._carry = spy
    try:
        r = pf_willow.score_frames(frames, v.samples, v.pairs, v.groups, c, taps=used)
    finally:
        frame_transfer._carry = original
    points, valid = pf_willow_protocol.keypoint_table(v.samples)
    n = len(v.pairs)
    return {"best": np.concatenate([b for b, _, _ in calls])[:n], "back": np.concatenate([b for _, b, _ in calls])[:n],
            "q": np.concatenate([q for _, _, q in calls])[:n], "xy": np.asarray(frames.grid_xy.reshape(-1, 2)),
            "stride": np.float64(frames.stride), "M": np.asarray(frames.M), "pairs": v.pairs, "groups": v.groups,
            "gt": pf_willow_protocol.pair_ground_truth(points, valid, v.pairs), "missing": ~valid[v.pairs[:, 0]],
            "pred": r["pred"], "pck": np.array([[r["pck"][a][g] for g in sorted(set(v.groups))] for a in ALPHAS])}


def to_image(rec: dict, moved: np.ndarray) -> np.ndarray:
    """Frame-j points [P, K, 2] mapped to image j's pixels, NaN where the source keypoint is missing."""
    inv = geometry.invert_affine(rec["M"])
    out = geometry.transform_points(np.asarray(moved, np.float64), inv[rec["pairs"][:, 1]])
    out[rec["missing"]] = np.nan
    return out


def score(rec: dict, pred: np.ndarray) -> dict:
    """{alpha: {fold: PCK}} (`correspondence_metrics.pf_pck`) of image-j predictions."""
    return correspondence_metrics.pf_pck(pred, rec["gt"], rec["groups"], [float(a) for a in ALPHAS])


def default_carry(rec: dict) -> np.ndarray:
    """The library's carry on the recorded matches, in the pipeline's batches -> frame-j points [P, K, 2]."""
    cfg = pf_willow.Config().transfer
    b = cfg.match_batch
    out = [frame_transfer._carry(*(pad_rows(rec[k][s:s + b], b)[0] for k in ("best", "back")),
                                 rec["xy"], pad_rows(rec["q"][s:s + b], b)[0], cfg,
                                 float(rec["stride"]))[:len(rec["q"][s:s + b])]
           for s in range(0, len(rec["q"]), b)]
    return np.concatenate(out)


def pair_geometry(rec: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(matched target pixels [P, Ns, 2], the nodes that carry [P, Ns] (consistent, or all when none is), the spread
    ratio [P, 2]) as the default's carry computes them."""
    cfg = pf_willow.Config().transfer
    xy = rec["xy"].astype(np.float64)
    keep = np.asarray(carry.cycle_consistent(rec["best"], rec["back"], rec["xy"], cfg.cycle * float(rec["stride"])))
    keep = np.where(keep.any(1, keepdims=True), keep, True)
    matched = xy[rec["best"]]
    ratio = jax.vmap(carry.spread_ratio, in_axes=(None, 0, 0, None))(
        rec["xy"], matched.astype(np.float32), keep, carry.SPREAD_CLIP)
    return matched, keep, np.asarray(ratio, np.float64)


def _design(x: np.ndarray, ratio: np.ndarray, model: str) -> np.ndarray:
    """J [..., Ns, 2, n]: the model's prediction at offsets x [..., Ns, 2] is J @ theta (affine: theta = A's rows
    and t, n = 6; similarity: theta = (a, b, tx, ty), A = [[a, -b], [b, a]] diag(ratio), n = 4)."""
    z, o = np.zeros(x.shape[:-1]), np.ones(x.shape[:-1])
    if model == "affine":
        x0, x1 = x[..., 0], x[..., 1]
        rows = [[x0, x1, o, z, z, z], [z, z, z, x0, x1, o]]
    else:
        u0, u1 = x[..., 0] * ratio[:, None, None, 0], x[..., 1] * ratio[:, None, None, 1]
        rows = [[u0, -u1, o, z], [u1, u0, z, o]]
    return np.stack([np.stack(r, -1) for r in rows], -2)


def local_fit(p, xy, matched, keep, ratio, sigma, lam, model, trim, stride) -> np.ndarray:
    """Moving least squares per keypoint (module docstring). p [P, K, 2], xy [Ns, 2], matched [P, Ns, 2] frame
    pixels; sigma, trim in grid strides; -> [P, K, 2] frame-j pixels (the fitted map at p)."""
    x = (xy[None, None] - p[:, :, None]) / stride  # [P, K, Ns, 2] offsets from the keypoint, strides
    y = np.broadcast_to(matched[:, None] / stride, x.shape)
    d2 = np.where(keep[:, None], np.sum(x * x, -1), np.inf)
    w = np.exp(-(d2 - d2.min(-1, keepdims=True)) / (2 * sigma * sigma))
    J = _design(x, ratio, model)
    n = J.shape[-1]
    if model == "affine":
        pull, prior = np.array([1, 1, 0, 1, 1, 0.0]), np.stack(
            [ratio[:, 0], 0 * ratio[:, 0], 0 * ratio[:, 0], 0 * ratio[:, 0], ratio[:, 1], 0 * ratio[:, 0]], -1)
    else:
        pull, prior = np.array([1, 1, 0, 0.0]), np.tile(np.array([1, 0, 0, 0.0]), (len(p), 1))

    Jf = J.reshape(*J.shape[:2], -1, n)  # [P, K, 2 Ns, n]
    yf = y.reshape(*y.shape[:2], -1, 1)

    def solve(w):
        wJ = Jf * np.repeat(w, 2, axis=-1)[..., None]
        L = lam * w.sum(-1)[..., None] * sigma * sigma * pull  # [P, K, n]
        G = np.swapaxes(wJ, -1, -2) @ Jf + L[..., None] * np.eye(n)
        b = (np.swapaxes(wJ, -1, -2) @ yf)[..., 0]
        return np.linalg.solve(G, (b + L * prior[:, None])[..., None])[..., 0]

    theta = solve(w)
    res = np.linalg.norm((J @ theta[:, :, None, :, None])[..., 0] - y, axis=-1)
    w2 = np.where(res <= trim, w, 0.0)
    top = w2.max(-1, keepdims=True)
    ok = top[..., 0] > 0
    theta = np.where(ok[..., None], solve(np.where(ok[..., None], w2 / np.where(top > 0, top, 1), w)), theta)
    t = theta[..., [2, 5]] if model == "affine" else theta[..., [2, 3]]
    return t * stride


def tps_fit(p, xy, matched, keep, lam, trim, stride) -> np.ndarray:
    """A thin-plate spline per pair through its carrying nodes' matches (smoothing lam, strides), one robust refit
    without the nodes whose residual exceeds trim strides; -> [P, K, 2] frame-j pixels at p [P, K, 2]."""
    def U(a, b):
        r2 = np.sum((a[:, None] - b[None]) ** 2, -1)
        return np.where(r2 > 0, 0.5 * r2 * np.log(np.maximum(r2, 1e-300)), 0.0)

    def fit(c, y, Ucc):
        k = len(c)
        P = np.concatenate([np.ones((k, 1)), c], 1)
        A = np.zeros((k + 3, k + 3))
        A[:k, :k] = Ucc + lam * np.eye(k)
        A[:k, k:], A[k:, :k] = P, P.T
        coef = np.linalg.solve(A, np.concatenate([y, np.zeros((3, 2))]))
        return coef, Ucc @ coef[:k] + P @ coef[k:]  # the coefficients, the fit at the nodes

    def apply(coef, c, q):
        return U(q, c) @ coef[:len(c)] + np.concatenate([np.ones((len(q), 1)), q], 1) @ coef[len(c):]

    out = np.empty(p.shape)
    s = xy / stride
    for i in range(len(p)):
        c, y = s[keep[i]], matched[i][keep[i]] / stride
        if len(c) < 3:
            out[i] = np.nan
            continue
        Ucc = U(c, c)
        coef, at = fit(c, y, Ucc)
        good = np.linalg.norm(at - y, axis=-1) <= trim
        if good.sum() >= 3:
            coef, c = fit(c[good], y[good], Ucc[np.ix_(good, good)])[0], c[good]
        out[i] = apply(coef, c, p[i] / stride) * stride
    return out


def chunked(fn, p, *args, rows: int = 16, **kw) -> np.ndarray:
    """fn over slices of `rows` pairs (p [P, ...] and the per-pair args sliced alike)."""
    out = []
    for s in range(0, len(p), rows):
        sl = slice(s, s + rows)
        out.append(fn(p[sl], args[0], *(a[sl] for a in args[1:]), **kw))
    return np.concatenate(out)


def variants(rec: dict, tps: bool, sigmas=(1.5, 2.0, 3.0, 5.0), lams=(0.1, 1.0)) -> dict[str, np.ndarray]:
    """{row name: frame-j points [P, K, 2]} of every replayed carry but the default (sigma in grid strides)."""
    matched, keep, ratio = pair_geometry(rec)
    p, xy, st = rec["q"].astype(np.float64), rec["xy"].astype(np.float64), float(rec["stride"])
    trim = pf_willow.Config().transfer.trim
    out = {}
    for model, sigma, lam in itertools.product(("affine", "similarity"), sigmas, lams):
        out[f"{model}, sigma {sigma:g}, lam {lam:g}"] = chunked(
            local_fit, p, xy, matched, keep, ratio, sigma=sigma, lam=lam, model=model, trim=trim, stride=st)
    if tps:
        for lam in (1.0, 10.0, 100.0):
            out[f"thin-plate spline, lam {lam:g}"] = tps_fit(p, xy, matched, keep, lam, trim, st)
    return out


def row_cells(pck: dict) -> list[float]:
    """PCK@0.1 per fold (the six, then the two mixed), mean of 6, mean of 8, PCK@0.05 and @0.2 (mean of 6), %."""
    folds = [g for g in pck["0.1"] if g != "mean" and not pf_willow_protocol.is_mixed(g)] + list(MIXED)
    six = [g for g in folds if not pf_willow_protocol.is_mixed(g)]
    return ([100 * pck["0.1"][g] for g in folds] + [100 * np.mean([pck["0.1"][g] for g in six]),
            100 * np.mean([pck["0.1"][g] for g in folds])]
            + [100 * np.mean([pck[a][g] for g in six]) for a in ("0.05", "0.2")])


def loo_summary(pck: dict[str, dict[str, float]], names: list[str], what: str) -> str:
    """`pf_willow_selection.leave_one_out` over the rows `names` (`pck[name]`: PCK@0.1 per fold, "mean" ignored):
    a line of the folds (each fold's left-out score and chosen row) and a line of the six-fold mean, the worst of the
    six and the eight-fold mean (%)."""
    folds = pf_willow_selection.leave_one_out([{"per_class": {k: v for k, v in pck[n].items() if k != "mean"}}
                                               for n in names])
    own = [f["score"] for f in folds if not pf_willow_protocol.is_mixed(f["left_out"])]
    return (f"leave-one-out, {what}: " + "; ".join(f"{f['left_out']} {100 * f['score']:.1f} ({names[f['row']]})"
                                                  for f in folds)
            + f"\nsix-fold {100 * np.mean(own):.1f}, worst {100 * min(own):.1f}, eight-fold "
              f"{100 * np.mean([f['score'] for f in folds]):.1f}")


def main() -> None:
    a = argparse.ArgumentParser()
    a.add_argument("--root", required=True, help="PF-dataset-WILLOW folder")
    a.add_argument("--cache", help=".npz of the recorded matches: read when present, else written")
    a.add_argument("--tps", action="store_true", help="also the thin-plate spline rows")
    a.add_argument("--sigmas", default="1.5,2,3,5", help="the local fits' sigmas (grid strides)")
    a.add_argument("--lams", default="0.1,1", help="the local fits' ridge weights")
    a.add_argument("--loo", action="store_true", help="each family's leave-one-out over its parameters")
    args = a.parse_args()
    print(runinfo.header("bench: local geometric carries on PF-WILLOW", vars(args)))
    with runinfo.timed() as total:
        try:
            rec = dict(np.load(args.cache)) if args.cache else None
        except FileNotFoundError:
            rec = None
        if rec is None:
            with runinfo.timed() as t:
                rec = record(args.root)
            print(f"recorded the default's matches: {t['seconds']:.1f} s")
            if args.cache:
                io.save_npz(args.cache, **rec)  # atomic: never half a file
        with runinfo.timed() as t:
            base = to_image(rec, default_carry(rec))
            pck = score(rec, base)
            ref = np.array([[pck[a][g] for g in sorted(set(rec["groups"]))] for a in ALPHAS])
            assert np.array_equal(ref, rec["pck"]), (ref, rec["pck"])
            assert np.array_equal(np.isnan(base), np.isnan(rec["pred"])) and np.allclose(
                base[~np.isnan(base)], rec["pred"][~np.isnan(base)], rtol=0, atol=1e-9)
            rows = {"the default (replayed; equals the pipeline's)": pck}
            grid = [tuple(float(x) for x in t.split(",")) for t in (args.sigmas, args.lams)]
            rows.update({k: score(rec, to_image(rec, v)) for k, v in variants(rec, args.tps, *grid).items()})
        print(f"replays: {t['seconds']:.1f} s; consistent nodes per pair: mean "
              f"{pair_geometry(rec)[1].sum(1).mean():.0f} of {len(rec['xy'])}")
        six = [g for g in sorted(set(rec["groups"])) if not pf_willow_protocol.is_mixed(g)]
        print("| row | " + " | ".join(six + list(MIXED)) + " | mean of 6 | mean of 8 | PCK@0.05 | PCK@0.2 |")
        print("|---|" + "---:|" * (len(six) + len(MIXED) + 4))
        for name, r in rows.items():
            print(f"| {name} | " + " | ".join(f"{v:.1f}" for v in row_cells(r)) + " |")
        if args.loo:
            for fam in ("affine", "similarity", "thin-plate"):
                names = [n for n in rows if n.startswith(fam)]
                if names:
                    print("\n" + loo_summary({n: rows[n]["0.1"] for n in names}, names, fam))
    print(f"wall time {total['seconds']:.1f} s")


if __name__ == "__main__":
    main()
