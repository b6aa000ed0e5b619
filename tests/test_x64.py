"""The library under `jax_enable_x64` (set before the library is imported, as many scientific users run): the same
dtypes and numbers as without it. One subprocess, x64 on from its start (the flag cannot be toggled safely within
the suite's process), runs small calls of several modules; this process runs the same calls without x64."""

import json
import subprocess
import sys
import textwrap

import numpy as np
from test_pose_train import TESTS, _env

CALLS = textwrap.dedent("""
    import json
    import jax
    import numpy as np
    import jax.numpy as jnp
    from convcorr_jax.core import knn
    from convcorr_jax.correspondence import warp_projection
    from convcorr_jax.flow import warp
    from convcorr_jax.linear import ridge, svm
    from convcorr_jax.pose import crop_module
    from convcorr_jax.pose.model_config import ModelConfig
    from convcorr_jax.regression import fit_points

    def calls():
        rng = np.random.default_rng(0)
        cfg = ModelConfig()
        feats = jnp.asarray(rng.normal(size=(1, 16, 16, 2)), jnp.float32)
        origin = crop_module.window_origin(jnp.asarray([[[30.0, 50.0], [100.0, 8.0]]]), cfg)
        levels = [jnp.asarray(rng.normal(size=(1, 128 // 2 ** lv, 128 // 2 ** lv, 1)), jnp.float32)
                  for lv in range(cfg.levels)]
        X = rng.normal(size=(24, 6)).astype(np.float32)
        Y = X @ rng.normal(size=(6, 2)).astype(np.float32)
        y = np.where(X[:, 0] > 0, 1, -1)[None]
        model, _ = ridge.fit_cv(X, Y, lambdas=[0.1, 1.0], folds=3)
        points = fit_points(X, rng.uniform(0, 50, (24, 2, 2)), rng.uniform(size=(24, 2)) > 0.2, lambdas=[1.0],
                            folds=3)
        out = {"crop": crop_module.crop(feats, origin, 1, cfg),
               "image_crops": crop_module.image_crops_levels(levels, origin, cfg)[2],
               "ridge": ridge.predict(model, X), "svm_dcd": svm.fit_binary(X, y, C=1.0, solver="dcd").W,
               "svm_newton": svm.fit_binary(X, y, C=1.0, solver="newton").W, "points": points.W,
               "knn": knn.topk_cosine(X[:3], X, 4, block=8, qblock=2)[1]}
        cols = rng.normal(size=(2, 16, 6)).astype(np.float32)
        proj, _ = warp_projection.train_projection(
            cols, cols, np.tile(np.arange(16), (2, 1)), np.ones((2, 16), bool), jax.random.PRNGKey(0),
            warp_projection.ProjectionTrainConfig(dim=3, steps=2, batch=2, nodes=4))
        flow = rng.normal(size=(5, 6, 2))  # float64 flows and coordinates: float32 samples all the same
        w = rng.normal(size=(6, 3))  # float64 parameters: a float32 projection all the same
        out.update(projection_v=proj["v"], projected=warp_projection.project({"w": w}, cols[0]),
                   warp_image=warp.warp_image(rng.integers(0, 255, (5, 6, 3)).astype(np.uint8), flow),
                   bilinear=warp.bilinear_sample_jit(flow, rng.uniform(0, 4, 7), rng.uniform(0, 4, 7)))
        return {k: [str(np.asarray(v).dtype), np.asarray(v).tolist()] for k, v in out.items()}
""")


# dtypes compared, not numbers: the trained projection's random draws differ under x64 (int64 indices)
DTYPE_ONLY = ("projection_v",)


def test_same_dtypes_and_numbers_with_x64_enabled():
    """Under `jax.config.update("jax_enable_x64", True)` the pose model's crop module (a Python 0 among int32 slice
    starts was int64: a TypeError in every `pose.estimate`), ridge, the SVM's two solvers, fit_points, the
    nearest-neighbour search, the warp projection (its start was float64, and so every projection) and the flow's
    warp and sampling of float64 flows and coordinates (float64 samples) give this process's dtypes and numbers."""
    child = "import jax\njax.config.update('jax_enable_x64', True)\n" + CALLS + "print(json.dumps(calls()))\n"
    r = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=300, cwd=TESTS.parent,
                       env=_env())
    assert r.returncode == 0, r.stderr[-3000:]
    got = json.loads(r.stdout.strip().splitlines()[-1])
    scope: dict = {}
    exec(CALLS, scope)
    want = scope["calls"]()
    for name, (dtype, values) in want.items():
        assert got[name][0] == dtype, (name, got[name][0], dtype)
        if name in DTYPE_ONLY:
            continue
        np.testing.assert_allclose(np.asarray(got[name][1]), np.asarray(values), rtol=1e-5, atol=1e-5, err_msg=name)
