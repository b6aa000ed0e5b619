"""One optimisation step of the Tompson et al. cascade: the optimiser of each stage, the parameters it trains and
the per-device step (state, batch shard) -> (state, metrics).

Stages (Sec. 4.2): 1) coarse model alone on E1; 2) fine model alone on E2 with the coarse model frozen;
3) both jointly on E1 + lambda * E2 (lambda = 0.1). The "standard" variant is greedy: its stage 3 keeps training
the fine model alone. Each stage starts a fresh optax state for the parameters it trains. A pretrained trunk
(`ModelConfig.trunk`) trains with the coarse model (stages 1 and 3) from layer `trunk_train` on ("none": frozen),
its updates scaled by `trunk_lr`; its batch-norm statistics stay fixed.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax

from convcorr_jax.core import parallel
from convcorr_jax.core.errors import InputError
from convcorr_jax.pose import augment, losses, model
from convcorr_jax.pose.training.config import TrainConfig

STAGE_PARAMS = {1: ("coarse",), 2: ("fine",), 3: ("coarse", "fine")}


def lr_schedule(cfg: TrainConfig, stage: int) -> optax.Schedule:
    """Learning rate of each step of a stage.

    Linear warm-up from lr / w to lr over w = min(warmup, steps // 2) steps, then cosine decay to 5 % of lr at the
    stage's last step (no warm-up when w is 0).

    Args:
        cfg: the run's TrainConfig (the stage's lr and steps, and warmup).
        stage: 1, 2 or 3.

    Returns:
        An optax schedule: the 0-based step within the stage -> learning rate.
    """
    n = max(1, cfg.steps[stage - 1])
    warm = min(cfg.warmup, n // 2)
    peak = cfg.lr[stage - 1]
    if warm:
        return optax.warmup_cosine_decay_schedule(peak / warm, peak, warm, n, end_value=0.05 * peak)
    return optax.cosine_decay_schedule(peak, n, alpha=0.05)


def _make_optimizer(cfg: TrainConfig, stage: int) -> optax.GradientTransformation:
    """The stage's optax optimiser on `lr_schedule`.

    Args:
        cfg: the run's TrainConfig (`cfg.optimizer`: "adam", or "sgd" with momentum 0.9).
        stage: 1, 2 or 3.

    Returns:
        The optax GradientTransformation.

    Raises:
        InputError: another optimizer.
    """
    sched = lr_schedule(cfg, stage)
    if cfg.optimizer == "adam":
        return optax.adam(sched)
    if cfg.optimizer == "sgd":
        return optax.sgd(sched, momentum=0.9)
    raise InputError("config", "optimizer", "'adam' or 'sgd'", cfg.optimizer)


def _stage_loss_terms(cfg: TrainConfig, stage: int) -> tuple[float, float, tuple[str, ...]]:
    """(weight of E1, weight of E2, trained parameter groups) of a stage.

    Args:
        cfg: the run's TrainConfig (model.variant, lambda_fine).
        stage: 1, 2 or 3.

    Returns:
        (1, 0, ("coarse",)) for stage 1; (0, 1, ("fine",)) for stage 2 and the "standard" variant's stage 3;
        (1, lambda_fine, ("coarse", "fine")) otherwise.
    """
    if stage == 1:
        return 1.0, 0.0, STAGE_PARAMS[1]
    if stage == 2 or cfg.model.variant == "standard":
        return 0.0, 1.0, STAGE_PARAMS[2]
    return 1.0, cfg.lambda_fine, STAGE_PARAMS[3]


def _trunk_trained_layers(cfg: TrainConfig) -> tuple[str, ...]:
    """The trunk layers that train (with the coarse model).

    Args:
        cfg: the run's TrainConfig (model.trunk, trunk_train).

    Returns:
        The names of `model.TRUNK_LAYERS` from trunk_train on; () without a trunk or when it is frozen ("none").
    """
    if not cfg.model.trunk or cfg.trunk_train == "none":
        return ()
    return model.TRUNK_LAYERS[model.TRUNK_LAYERS.index(cfg.trunk_train):]


def _select_trained(cfg: TrainConfig, stage: int, params: dict) -> dict:
    """The sub-tree of `params` that a stage trains.

    Args:
        cfg: the run's TrainConfig.
        stage: 1, 2 or 3.
        params: the model's parameters {"coarse", "fine"[, "trunk"]}.

    Returns:
        {group: params[group]} for the stage's groups and, with the coarse model, "trunk": the trained trunk layers
        (`_trunk_trained_layers`).
    """
    groups = _stage_loss_terms(cfg, stage)[2]
    out = {g: params[g] for g in groups}
    layers = _trunk_trained_layers(cfg)
    if layers and "coarse" in groups:
        out["trunk"] = {k: params["trunk"][k] for k in layers}
    return out


def _merge_trained(params: dict, trained: dict) -> dict:
    """`params` with the leaves of `trained` (`_select_trained`'s layout) put back.

    Args:
        params: the model's parameters.
        trained: a (possibly updated) `_select_trained` sub-tree.

    Returns:
        A new parameter dict (params itself is not changed).
    """
    out = {**params, **{k: v for k, v in trained.items() if k != "trunk"}}
    if "trunk" in trained:
        out["trunk"] = {**params["trunk"], **trained["trunk"]}
    return out


def init_opt(cfg: TrainConfig, stage: int, params: dict) -> optax.OptState:
    """The optimiser state of a stage's start for the parameters it trains.

    Args:
        cfg: the run's TrainConfig.
        stage: 1, 2 or 3.
        params: the model's parameters.

    Returns:
        The optax state of `_make_optimizer(cfg, stage)` over `_select_trained(cfg, stage, params)`.
    """
    return _make_optimizer(cfg, stage).init(_select_trained(cfg, stage, params))


def make_local_step(cfg: TrainConfig, stage: int) -> Callable:
    """Per-device step (state, batch shard) -> (state, metrics); gradients pmean'ed over "data".

    The local loss is (local squared-error sum) * n_devices / (global labelled-joint count), so the pmean of local
    gradients is exactly the gradient of the global-batch loss.

    Args:
        cfg: the run's TrainConfig.
        stage: 1, 2 or 3.

    Returns:
        local_step(state, batch): state {"params", "opt"}; batch {"image": uint8 [B, S, S, 3], "points": [B, K, 2]
        pixels, "visible": bool [B, K], "key": uint32 [B, 2] raw PRNG keys} (this device's shard); it returns the
        new state and metrics {"loss", "e1", "e2" (per labelled joint of the global batch), "joints" (their count)};
        "e2" is 0 in stage 1, which does not run the fine model, and E2 in every stage that trains it (with
        lambda_fine 0 too).
    """
    mcfg = cfg.model
    w1, w2, groups = _stage_loss_terms(cfg, stage)
    tx = _make_optimizer(cfg, stage)

    def local_step(state, batch):
        params = state["params"]
        keys = batch["key"]
        ka = jax.vmap(lambda k: jax.random.fold_in(k, 0))(keys)
        kd = jax.vmap(lambda k: jax.random.fold_in(k, 1))(keys)
        imgs = batch["image"].astype(jnp.float32) / 255.0
        imgs, pts, vis = augment.augment_batch(ka, imgs, batch["points"], batch["visible"], cfg.augment)
        masks = model.dropout_masks(kd, mcfg)
        count = parallel.psum(jnp.sum(vis.astype(jnp.float32)))
        denom = jnp.maximum(count, 1.0)
        n_dev = parallel.num_shards()

        def loss_fn(trained):
            p = _merge_trained(params, trained)
            if "fine" not in groups:  # stage 1: the fine model neither trains nor runs
                hm, _, _ = model.apply_coarse(p, imgs, mcfg, masks)
                s1 = losses.heatmap_sse(hm, losses.coarse_targets(pts, mcfg), vis)[0]
                s2 = jnp.zeros(())
            else:
                out = model.apply(p, imgs, mcfg, masks)
                s1 = losses.e1(out, pts, vis, mcfg)[0]
                s2 = losses.e2(out, pts, vis, mcfg)[0]
            total = w1 * s1 + w2 * s2
            return total * n_dev / denom, (total, s1, s2)

        trained = _select_trained(cfg, stage, params)
        (_, (total, s1, s2)), grads = jax.value_and_grad(loss_fn, has_aux=True)(trained)
        grads = parallel.pmean(grads)
        updates, opt = tx.update(grads, state["opt"], trained)
        if "trunk" in updates:
            updates = {**updates, "trunk": jax.tree_util.tree_map(lambda u: u * cfg.trunk_lr, updates["trunk"])}
        new = optax.apply_updates(trained, updates)
        sums = parallel.psum(jnp.stack([total, s1, s2]))
        metrics = {"loss": sums[0] / denom, "e1": sums[1] / denom, "e2": sums[2] / denom, "joints": count}
        return {"params": _merge_trained(params, new), "opt": opt}, metrics

    return local_step
