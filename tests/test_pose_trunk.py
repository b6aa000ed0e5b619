"""The generic-feature coarse model (`ModelConfig.trunk`): its trunk is MobileNetV2 as the backbone computes it, the
fine model crops the trunk's stride-2/4/8 features, and training moves exactly the parameters it should (trained
trunk layers, scaled by trunk_lr; never the frozen layers or the batch-norm statistics)."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from convcorr_jax.core import parallel
from convcorr_jax.backbones import get
from convcorr_jax.core.errors import InputError
from convcorr_jax.pose import model as pose_model
from convcorr_jax.pose.training import stages
from convcorr_jax.pose.training.config import TrainConfig
from test_pose_helpers import stick_people

TRUNK = pose_model.ModelConfig(image_size=64, num_joints=16, trunk="mobilenet_v2", trunk_weights="random", trunk_head=8,
                      head=8, fine=(4, 4, 4, 4), context=16)


def _leaves(tree) -> dict:
    return {jax.tree_util.keystr(k): np.asarray(v) for k, v in jax.tree_util.tree_leaves_with_path(tree)}


@pytest.mark.slow
def test_trunk_features_are_the_backbones_taps_and_feed_the_crops():
    params = pose_model.init(jax.random.PRNGKey(0), TRUNK)
    assert set(params) == {"coarse", "fine", "trunk"} and set(params["trunk"]) == set(pose_model.TRUNK_LAYERS)
    rng = np.random.default_rng(0)
    u8 = rng.integers(0, 256, (2, 64, 64, 3), dtype=np.uint8)
    bb = get("mobilenet_v2")
    taps = pose_model.TRUNK_FINE_TAPS + (pose_model.TRUNK_DEEP_TAP,)
    # the backbone and the cascade jitted: one compilation each, not one per operation
    want = jax.jit(lambda p, x: bb.apply(p, x, taps=taps))(params["trunk"], jnp.asarray(bb.preprocess(u8)))
    hm, feats, out = jax.jit(lambda p, x: (*pose_model.apply_coarse(p, x, TRUNK)[:2], pose_model.apply(p, x, TRUNK)))(
        params, jnp.asarray(u8, jnp.float32) / 255.0)
    for f, t in zip(feats, pose_model.TRUNK_FINE_TAPS):
        np.testing.assert_allclose(np.asarray(f), np.asarray(want[t]), rtol=1e-4, atol=1e-4)
    # strides 2, 4, 8 of the 64 px input: the crop module's levels 0, 1, 2
    assert [f.shape[1] for f in feats] == [32, 16, 8] and hm.shape == (2, 8, 8, 16)
    assert out["fine_hm"].shape == (2, TRUNK.window, TRUNK.window, 16) and np.all(np.isfinite(np.asarray(out["xy"])))


def test_pretrained_trunk_holds_the_imagenet_weights():
    from convcorr_jax.weights.load import load_pretrained

    cfg = dataclasses.replace(TRUNK, trunk_weights="imagenet")
    params = pose_model.init(jax.random.PRNGKey(0), cfg)
    ref = load_pretrained("mobilenet_v2", progress=False)[1]
    for layer in ("stem", "block7", "block13"):
        for k, v in _leaves(params["trunk"][layer]).items():
            np.testing.assert_array_equal(v, _leaves(ref[layer])[k])


@pytest.mark.parametrize("field,value", [("pool", 4), ("levels", 2), ("variant", "standard"),
                                         ("trunk", "resnet50"), ("trunk_weights", "hub")])
def test_trunk_config_refused(field, value):
    with pytest.raises(InputError, match=field):
        dataclasses.replace(TRUNK, **{field: value}).validate()


def _one_step(cfg: TrainConfig, stage: int, params: dict) -> dict:
    mesh = parallel.make_mesh(1)
    step = parallel.data_parallel_step(stages.make_local_step(cfg, stage), mesh)
    data = stick_people(4, 64, 0)
    batch = {"image": jnp.asarray(data.images), "points": jnp.asarray(data.points, jnp.float32),
             "visible": jnp.asarray(data.visible), "key": jax.random.split(jax.random.PRNGKey(1), 4)}
    state = parallel.replicate({"params": params, "opt": stages.init_opt(cfg, stage, params)}, mesh)
    new, m = step(state, parallel.shard_batch(batch, mesh, 4))
    assert np.isfinite(float(m["loss"]))
    return jax.device_get(new["params"])


@pytest.mark.slow
def test_training_moves_only_the_trained_trunk_layers_scaled_by_trunk_lr():
    params = pose_model.init(jax.random.PRNGKey(0), TRUNK)
    base = TrainConfig(model=TRUNK, batch_size=4, steps=(1, 1, 1), warmup=0, trunk_train="block7", trunk_lr=1.0)
    before = _leaves(params["trunk"])
    after = {}
    for lr in (1.0, 0.25):
        after[lr] = _leaves(_one_step(dataclasses.replace(base, trunk_lr=lr), 1, params)["trunk"])
    moved = set()
    for k, v in before.items():
        d1, d4 = after[1.0][k] - v, after[0.25][k] - v
        if "'mean'" in k or "'var'" in k or any(f"['{l}']" in k for l in ("stem",) + pose_model.TRUNK_LAYERS[1:7]):
            assert np.all(d1 == 0) and np.all(d4 == 0), k  # frozen layers and batch-norm statistics
        elif np.any(d1 != 0):
            moved.add(k.split("]")[0])
            # Adam's first step is lr * g / (|g| + eps): the trunk factor scales it exactly
            np.testing.assert_allclose(d4, 0.25 * d1, rtol=1e-4, atol=3e-7)  # float32 weights near 1
    assert moved == {f"['block{i}'" for i in range(7, 14)}
    # frozen trunk: stage 1 trains the head alone; stage 2 (fine model) never touches the trunk
    frozen = _one_step(dataclasses.replace(base, trunk_train="none"), 1, params)
    fine_only = _one_step(base, 2, params)
    for p in (frozen, fine_only):
        assert all(np.array_equal(v, before[k]) for k, v in _leaves(p["trunk"]).items())
    assert not np.array_equal(frozen["coarse"]["fc2"]["kernel"], params["coarse"]["fc2"]["kernel"])


def test_trunk_train_names_a_trunk_layer():
    with pytest.raises(InputError, match="trunk_train"):
        from convcorr_jax.core.config import validate

        validate(TrainConfig(model=TRUNK, trunk_train="block20"))


def test_table2_times_a_trunk_model_at_its_own_stride():
    from convcorr_eval.tompson2015.tables import forward_times

    ft = forward_times(TRUNK, batch=1, repeats=1)
    assert list(ft) == [8] and set(ft[8]) == {"Coarse-Model", "Fine-Model", "Cascade"}
    assert all(v > 0 for v in ft[8].values())
