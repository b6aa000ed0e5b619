"""Ridge CV over a lambda grid: convcorr_jax.linear.ridge vs scikit-learn GridSearchCV(Ridge) with the same grid,
the same folds and the same criterion (mean squared error), then a refit on all data.

    python bench/ridge.py                  # both problem sizes below, writes bench/RESULTS_ridge.md
    python bench/ridge.py --quick          # small sizes, seconds

Problem A (landmarks): n = 8,000, d = 4,096, T = 136 targets (68 landmarks x 2).
Problem B (segmentation): T = 18,900 targets (30 x 30 x 21) at n, d given by --seg-n/--seg-d (default
n = 4,000, d = 2,048: scikit-learn's 4 x L refits at n = 8,000, d = 4,096 take far too long on 2 shared cores).
Features: ReLU of Gaussian projections, l2-normalised (like a pooled convnet descriptor); targets linear in a
different random projection of the same latent plus noise.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from convcorr_jax.io import write_text  # noqa: E402
from convcorr_jax.linear import ridge  # noqa: E402


def make_problem(n, d, t, seed=0, latent=64):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, latent))
    X = np.maximum(z @ rng.normal(size=(latent, d)) + 0.3 * rng.normal(size=(n, d)), 0)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    Y = z @ rng.normal(size=(latent, t)) + 2.0 * rng.normal(size=(n, t))
    return X.astype(np.float32), Y.astype(np.float32)


def bench(n, d, t, lambdas, seed=0):
    X, Y = make_problem(n, d, t, seed)
    folds = ridge.make_folds(n, 4, seed)
    # warm-up compile on the same shapes (jit caches by shape), reported separately
    t0 = time.perf_counter()
    ridge.fit_cv(X, Y, lambdas, folds)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    model, cv = ridge.fit_cv(X, Y, lambdas, folds)
    ours = time.perf_counter() - t0
    err = cv.errors

    from sklearn.linear_model import Ridge
    from sklearn.model_selection import GridSearchCV

    cv = [(np.setdiff1d(np.arange(n), v), v) for v in folds]
    t0 = time.perf_counter()
    gs = GridSearchCV(Ridge(), {"alpha": list(lambdas)}, cv=cv, scoring="neg_mean_squared_error", refit=True,
                      n_jobs=1).fit(X, Y)
    theirs = time.perf_counter() - t0
    sk_err = -gs.cv_results_["mean_test_score"]
    coef = gs.best_estimator_.coef_.T
    rel_coef = float(np.abs(model.W - coef).max() / np.abs(coef).max())
    rel_err = float(np.max(np.abs(err - sk_err) / sk_err))
    return {
        "n": n, "d": d, "T": t, "L": len(lambdas), "ours_s": ours, "ours_first_call_s": first, "sklearn_s": theirs,
        "ratio": theirs / ours, "lam_ours": float(model.lam), "lam_sklearn": float(gs.best_params_["alpha"]),
        "equal_lambda": float(model.lam) == float(gs.best_params_["alpha"]), "coef_rel_err": rel_coef,
        "cv_err_rel_diff": rel_err,
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--seg-n", type=int, default=4000)
    p.add_argument("--seg-d", type=int, default=2048)
    p.add_argument("--only", choices=("A", "B"), default=None)
    p.add_argument("--out", default=str(Path(__file__).with_name("RESULTS_ridge.md")))
    args = p.parse_args(argv)
    import jax

    lambdas = [float(x) for x in np.logspace(-4, 3, 8)]
    cases = {"A": (8000, 4096, 136), "B": (args.seg_n, args.seg_d, 18900)}
    if args.quick:
        cases = {"A": (800, 256, 136), "B": (400, 128, 18900)}
    rows = []
    for name, (n, d, t) in cases.items():
        if args.only and name != args.only:
            continue
        r = bench(n, d, t, lambdas)
        r["case"] = name
        rows.append(r)
        print(f"[{name}] n={n} d={d} T={t} L={len(lambdas)}: ours {r['ours_s']:.2f} s (first call "
              f"{r['ours_first_call_s']:.2f} s), scikit-learn {r['sklearn_s']:.2f} s, ratio {r['ratio']:.1f}x; "
              f"lambda {r['lam_ours']:.3g} vs {r['lam_sklearn']:.3g} (equal: {r['equal_lambda']}); coef rel err "
              f"{r['coef_rel_err']:.2e}; CV error rel diff {r['cv_err_rel_diff']:.2e}", flush=True)
    machine = f"{jax.devices()[0].device_kind} ({jax.default_backend()}), {platform.machine()}"
    lines = ["# Ridge CV benchmark", "",
             f"Machine: {machine}. Command: `python bench/ridge.py{' --quick' if args.quick else ''}`. float32, "
             f"4 folds, {len(lambdas)} lambdas (logspace(-4, 3, 8)), scikit-learn `GridSearchCV(Ridge(), cv=<same "
             "folds>, scoring='neg_mean_squared_error', n_jobs=1)` incl. refit vs `ridge.fit_cv` (second call; the "
             "first call includes jit compilation).", "",
             "| case | n | d | T | ours (s) | ours 1st call (s) | scikit-learn (s) | speed-up | lambda ours / sklearn | "
             "equal | coef rel err | CV err rel diff |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['case']} | {r['n']} | {r['d']} | {r['T']} | {r['ours_s']:.2f} | {r['ours_first_call_s']:.2f} | "
                     f"{r['sklearn_s']:.2f} | {r['ratio']:.1f}x | {r['lam_ours']:.3g} / {r['lam_sklearn']:.3g} | "
                     f"{r['equal_lambda']} | {r['coef_rel_err']:.1e} | {r['cv_err_rel_diff']:.1e} |")
    if args.out:
        prev = Path(args.out).read_text() if Path(args.out).exists() else ""
        write_text(args.out, "\n".join(lines) + "\n\n" + ("<!-- previous -->\n" + prev if prev and args.quick else ""))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
