"""Demo stage for Tompson et al.: train the cascade on synthetic people, print Tables 1-4 beside the paper.

tiny: a 64 px toy model, a few steps (seconds after compilation); default: the default model with a short
schedule (300 / 450 / 50 steps, under 3 minutes on 2 CPU cores); full: the default config's whole schedule. When the real annotation
folder is present, Table 4 gives PCKh of the five published MPII validation prediction files.
"""

from __future__ import annotations

import dataclasses
import time

from convcorr_jax.pose import configs
from convcorr_jax.pose import report
from convcorr_jax.pose import train as T


def _config(size: str, run_dir, seed: int) -> T.TrainConfig:
    if size == "tiny":
        cfg = configs.get_config("tiny")
        cfg = dataclasses.replace(cfg, steps=(4, 2, 2), n_samples=24, eval_limit=8)
    elif size == "default":
        cfg = dataclasses.replace(configs.get_config("default"), steps=(300, 450, 50), checkpoint_every=50,
                                  eval_limit=120)
    else:
        cfg = configs.get_config("default")
    return dataclasses.replace(cfg, out=str(run_dir / "pose_runs"), seed=seed, name=f"pose_{size}")


def demo_stage(ctx):
    from convcorr_jax.demo import StageResult

    t0 = time.time()
    cfg = _config(ctx.size, ctx.run_dir, ctx.seed)
    for name in ("mpii", "flic"):  # --mpii-root / --flic-root: train and evaluate on the user's real data
        if ctx.roots.get(name):
            cfg = dataclasses.replace(cfg, data=name, data_root=str(ctx.roots[name]))
            break
    # one run folder per config: a changed schedule or data trains afresh instead of meeting a foreign checkpoint,
    # and re-running the same config resumes from its checkpoints
    cfg = dataclasses.replace(cfg, name=f"{cfg.name}-{cfg.fingerprint()[:8]}")
    train_set, test_set = T.load_data(cfg)
    if cfg.eval_limit is not None:
        test_set = T._limit(test_set, cfg.eval_limit)
    res = T.train(cfg, (train_set, test_set), progress=True)
    mpii = ctx.real_data / "mpii" if ctx.real_data is not None else None
    md, metrics = report.evaluate_run(cfg, res.params, test_set, figures=ctx.figures, fig_prefix="tompson",
                                      timing=ctx.size != "tiny", real_mpii=mpii)
    metrics["train_images_per_s"] = res.images_per_s
    metrics["wall_s"] = time.time() - t0
    c, f = metrics["pck@0.05"]["coarse"], metrics["pck@0.05"]["cascade"]
    head = (f"Cascade trained in three stages ({cfg.steps} steps, batch {cfg.batch_size}, pool {cfg.model.pool}x) on "
            f"{len(train_set)} {'synthetic people' if cfg.data == 'synthetic' else cfg.data.upper() + ' people'}; test PCK@0.05: coarse {c:.1f}, cascade {f:.1f}.\n\n")
    summary = f"tompson: PCK@0.05 coarse {c:.1f} -> cascade {f:.1f} ({metrics['wall_s']:.0f} s)"
    if "table4_pckh" in metrics:
        tot = {k: v["0.5"]["Total"] for k, v in metrics["table4_pckh"].items()}
        summary += "; MPII PCKh@0.5 " + ", ".join(f"{k} {v:.1f}" for k, v in tot.items())
    return StageResult(summary=summary, markdown=head + md, metrics=metrics)
