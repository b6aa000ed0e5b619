"""Ridge CV over a lambda grid: convcorr_jax.linear.ridge vs scikit-learn GridSearchCV(Ridge) with the same grid,
the same folds and the same criterion (mean squared error), then a refit on all data.

    python bench/ridge.py --only A                # one problem size; --out FILE also writes the table
    python bench/ridge.py --quick                 # small sizes, seconds

Every row runs ours and scikit-learn back to back in the same process and reports their ratio (ours / scikit-learn
time) first, so both sides see the same machine load. --method forces a route of `ridge.fit_cv` (default: auto).

Problem A (landmarks): n = 8,000, d = 4,096, T = 136 targets (68 landmarks x 2).
Problem B (segmentation): T = 18,900 targets (30 x 30 x 21) at n, d given by --seg-n/--seg-d (default
n = 4,000, d = 2,048: scikit-learn's 4 x L refits at n = 8,000, d = 4,096 take far too long on 2 shared cores).
Features: ReLU of Gaussian projections, l2-normalised (like a pooled convnet descriptor); targets linear in a
different random projection of the same latent plus noise.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from convcorr_jax.core import runinfo  # noqa: E402
from convcorr_jax.core.io import write_text  # noqa: E402
from convcorr_jax.linear import ridge  # noqa: E402


def make_problem(n, d, t, seed=0, latent=64):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, latent))
    X = np.maximum(z @ rng.normal(size=(latent, d)) + 0.3 * rng.normal(size=(n, d)), 0)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    Y = z @ rng.normal(size=(latent, t)) + 2.0 * rng.normal(size=(n, t))
    return X.astype(np.float32), Y.astype(np.float32)


def bench(n, d, t, lambdas, seed=0, method="auto"):
    """One row: ours (`ridge.fit_cv`, 1st and 2nd call) and scikit-learn's GridSearchCV(Ridge) incl. refit, same folds,
    same grid, run back to back. Returns the timings (s), their ratio (ours 2nd call / scikit-learn), the route taken,
    the chosen lambdas and the agreement of coefficients, predictions and CV errors."""
    X, Y = make_problem(n, d, t, seed)
    folds = ridge.make_folds(n, 4, seed)
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    ridge.fit_cv(X, Y, lambdas, folds, method=method)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    model, cv = ridge.fit_cv(X, Y, lambdas, folds, method=method)
    ours = time.perf_counter() - t0
    err = cv.errors

    from sklearn.linear_model import Ridge
    from sklearn.model_selection import GridSearchCV

    splits = [(np.setdiff1d(np.arange(n), v), v) for v in folds]
    t0 = time.perf_counter()
    gs = GridSearchCV(Ridge(), {"alpha": list(lambdas)}, cv=splits, scoring="neg_mean_squared_error", refit=True,
                      n_jobs=1).fit(X, Y)
    theirs = time.perf_counter() - t0
    load1 = os.getloadavg()[0]
    sk_err = -gs.cv_results_["mean_test_score"]
    coef = gs.best_estimator_.coef_.T
    pred, sk_pred = ridge.predict(model, X), gs.best_estimator_.predict(X)
    route = ridge.choose_route(n, d, t, len(lambdas), [len(f) for f in folds], method)
    return {
        "n": n, "d": d, "T": t, "L": len(lambdas), "route": route, "ratio": ours / theirs, "ours_s": ours,
        "ours_first_call_s": first, "sklearn_s": theirs, "lam_ours": float(model.lam),
        "lam_sklearn": float(gs.best_params_["alpha"]),
        "equal_lambda": float(model.lam) == float(gs.best_params_["alpha"]),
        "coef_rel_err": float(np.abs(model.W - coef).max() / np.abs(coef).max()),
        "pred_rel_err": float(np.abs(pred - sk_pred).max() / np.abs(sk_pred).max()),
        "cv_err_rel_diff": float(np.max(np.abs(err - sk_err) / sk_err)), "load": (load0, load1),
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--seg-n", type=int, default=4000)
    p.add_argument("--seg-d", type=int, default=2048)
    p.add_argument("--only", choices=("A", "B"), default=None)
    p.add_argument("--method", choices=ridge.METHODS, default="auto")
    p.add_argument("--out", default="", help="also write the markdown table to this file (default: print only; "
                   "bench/RESULTS_ridge.md is curated by hand from these tables)")
    args = p.parse_args(argv)
    import jax

    header = runinfo.header("bench: ridge CV, ours vs scikit-learn GridSearchCV(Ridge)", vars(args), 0)
    print(header, flush=True)
    with runinfo.timed() as total:
        lambdas = [float(x) for x in np.logspace(-4, 3, 8)]
        cases = {"A": (8000, 4096, 136), "B": (args.seg_n, args.seg_d, 18900)}
        if args.quick:
            cases = {"A": (800, 256, 136), "B": (400, 128, 18900)}
        rows = []
        for name, (n, d, t) in cases.items():
            if args.only and name != args.only:
                continue
            r = bench(n, d, t, lambdas, method=args.method)
            r["case"] = name
            rows.append(r)
            print(f"[{name}] n={n} d={d} T={t} L={len(lambdas)}: ratio {r['ratio']:.3f} (ours / scikit-learn); route "
                  f"{r['route']}; ours {r['ours_s']:.2f} s (first call {r['ours_first_call_s']:.2f} s), scikit-learn "
                  f"{r['sklearn_s']:.2f} s; lambda {r['lam_ours']:.3g} vs {r['lam_sklearn']:.3g} (equal: "
                  f"{r['equal_lambda']}); prediction rel err {r['pred_rel_err']:.2e}; coef rel err {r['coef_rel_err']:.2e}; "
                  f"CV error rel diff {r['cv_err_rel_diff']:.2e}; load average {r['load'][0]:.1f} -> {r['load'][1]:.1f}",
                  flush=True)
    machine = (f"{jax.devices()[0].device_kind} ({jax.default_backend()}), {platform.machine()}, "
               f"{os.cpu_count()} cores")
    lines = ["# Ridge CV benchmark", "",
             f"Machine: {machine}. Command: `python bench/ridge.py {' '.join(sys.argv[1:] if argv is None else argv)}`. "
             "float32, "
             f"4 folds, {len(lambdas)} lambdas (logspace(-4, 3, 8)), scikit-learn `GridSearchCV(Ridge(), cv=<same "
             "folds>, scoring='neg_mean_squared_error', n_jobs=1)` incl. refit vs `ridge.fit_cv` (second call), run "
             "back to back; ratio = ours / scikit-learn time.", "",
             "| case | n | d | T | ratio | route | ours (s) | ours 1st call (s) | scikit-learn (s) | lambda ours / sklearn "
             "| equal | pred rel err | coef rel err | CV err rel diff | load avg (1 min) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['case']} | {r['n']} | {r['d']} | {r['T']} | **{r['ratio']:.3f}** | {r['route']} | "
                     f"{r['ours_s']:.2f} | {r['ours_first_call_s']:.2f} | {r['sklearn_s']:.2f} | "
                     f"{r['lam_ours']:.3g} / {r['lam_sklearn']:.3g} | {r['equal_lambda']} | {r['pred_rel_err']:.1e} | "
                     f"{r['coef_rel_err']:.1e} | {r['cv_err_rel_diff']:.1e} | {r['load'][0]:.1f} -> {r['load'][1]:.1f} |")
    if args.out:  # the header (config, seed, versions, devices) under the title, as bench/backbone.py writes it
        write_text(args.out, "\n".join([*lines[:2], "```", header, "```", "", *lines[2:]]) + "\n")
    print("\n".join(lines))
    print(f"wall time {total['seconds']:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
