"""The Flax modules of the pose model (`convcorr_jax.pose.model`): the resolution banks and the coarse heat-map
network on them, the head on a MobileNetV2 trunk, and the Siamese fine network on the crop module's windows.
"""

from __future__ import annotations

import functools
import math
import operator
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from convcorr_jax.backbones import mobilenet_v2 as mnv2
from convcorr_jax.pose.model_config import TRUNK_DEEP_TAP, TRUNK_FINE_TAPS, ModelConfig

def _pool2(x):
    """2x2 max-pool, stride 2 (even H, W), as a reshape and max: its gradient is elementwise, not the
    select-and-scatter of a pooling op (timings: bench/RESULTS_pose.md). An odd last row/column is dropped (VALID)."""
    n, h, w, c = x.shape
    h, w = h // 2, w // 2
    return jnp.max(x[:, :2 * h, :2 * w].reshape(n, h, 2, w, 2, c), axis=(2, 4))


class Bank(nn.Module):
    """One resolution bank. Returns (output at stride pool * 2^L of its level, features of the first two layers
    at stride 2 of its level)."""

    widths: Sequence[int]
    kernel: int
    extra_pools: int

    @nn.compact
    def __call__(self, x):
        """[N, H, W, C] -> (output [N, H / (4 * 2^extra_pools), ..., widths[3]], features [N, H / 2, W / 2,
        widths[1]])."""
        k = (self.kernel, self.kernel)
        f1 = nn.relu(nn.Conv(self.widths[0], k, name="conv1")(x))
        f2 = nn.relu(nn.Conv(self.widths[1], k, name="conv2")(_pool2(f1)))
        y = nn.relu(nn.Conv(self.widths[2], k, name="conv3")(_pool2(f2)))
        for _ in range(self.extra_pools):
            y = _pool2(y)
        y = nn.relu(nn.Conv(self.widths[3], k, name="conv4")(y))
        return y, f2


class FirstTwo(nn.Module):
    """The first two layers of a bank (conv-relu-pool-conv-relu), used by the standard cascade on image crops."""

    widths: Sequence[int]
    kernel: int

    @nn.compact
    def __call__(self, x):
        """[N, H, W, C] -> [N, H / 2, W / 2, widths[1]]."""
        k = (self.kernel, self.kernel)
        f1 = nn.relu(nn.Conv(self.widths[0], k, name="conv1")(x))
        return nn.relu(nn.Conv(self.widths[1], k, name="conv2")(_pool2(f1)))


class Coarse(nn.Module):
    """The coarse multi-resolution heat-map model (Sec. 3): one `Bank` per level, summed at the coarse stride."""

    cfg: ModelConfig

    @nn.compact
    def __call__(self, levels: list[jax.Array], drop_mask: jax.Array | None = None):
        """The LCN pyramid (`preprocess`: level l [N, H / 2^l, W / 2^l, 3]) -> (heat-maps [N, S, S, K], each
        level's first-two-layer features at stride 2 of its level). drop_mask: SpatialDropout's [N, 1, 1, C] of 0
        and 1 / (1 - p), or None."""
        cfg = self.cfg
        extra = int(round(math.log2(cfg.pool))) - 2
        outs, feats = [], []
        n = levels[0].shape[0]
        size = cfg.map_size
        for lv, x in enumerate(levels):
            y, f2 = Bank(cfg.bank, cfg.kernel, extra, name=f"bank{lv}")(x)
            if lv:
                y = jax.image.resize(y, (n, size, size, y.shape[-1]), "linear")
            outs.append(y)
            feats.append(f2)
        z = sum(outs)
        if drop_mask is not None:  # SpatialDropout: [N, 1, 1, C] of 0 / 1/(1-p)
            z = z * drop_mask
        z = nn.relu(nn.Conv(cfg.head, (1, 1), name="fc1")(z))
        return nn.Conv(cfg.num_joints, (1, 1), name="fc2")(z), feats


class TrunkHead(nn.Module):
    """Coarse heat-maps [N, S, S, K] from the trunk's stride-8 and stride-16 features (module docstring)."""

    cfg: ModelConfig

    @nn.compact
    def __call__(self, mid: jax.Array, deep: jax.Array, drop_mask: jax.Array | None = None):
        """mid: stride-8 features [N, S, S, C]; deep: stride-16 features, resized to S x S -> heat-maps
        [N, S, S, K]; drop_mask as `Coarse`."""
        cfg = self.cfg
        n, s = mid.shape[0], cfg.map_size
        z = jnp.concatenate([jax.image.resize(deep, (n, s, s, deep.shape[-1]), "linear"), mid], axis=-1)
        z = nn.relu(nn.Conv(cfg.trunk_head, (3, 3), name="conv")(z))
        if drop_mask is not None:
            z = z * drop_mask
        z = nn.relu(nn.Conv(cfg.head, (1, 1), name="fc1")(z))
        return nn.Conv(cfg.num_joints, (1, 1), name="fc2")(z)


def trunk_features(trunk: dict, x: jax.Array) -> dict:
    """The trunk's taps {block1, block3, block6, block13} of normalised images x [N, H, W, 3].

    The batch-norm running statistics are constants (no gradient).

    Args:
      trunk: MobileNetV2's parameters stem..block13 (`params["trunk"]`).
      x: float32 [N, H, W, 3] ImageNet-normalised RGB (`preprocess` with a trunk).

    Returns:
      {"block1", "block3", "block6", "block13"}: float32 [N, h, w, C] feature maps at strides 2, 4, 8 and 16.
    """
    return mnv2.forward(_stop_bn_stats(trunk), x, TRUNK_FINE_TAPS + (TRUNK_DEEP_TAP,))


def _stop_bn_stats(tree):
    """`tree` with stop_gradient on every batch-norm "mean" and "var" leaf."""
    def leaf(path, v):
        return jax.lax.stop_gradient(v) if str(getattr(path[-1], "key", "")) in ("mean", "var") else v

    return jax.tree_util.tree_map_with_path(leaf, tree)


class Fine(nn.Module):
    """Siamese fine network on crops [N, K, w_L, w_L, C_L] per level -> fine heat-maps [N, w0, w0, K]."""

    cfg: ModelConfig

    @nn.compact
    def __call__(self, crops: list[jax.Array]):
        """Crops [N, K, w_l, w_l, C_l] per level -> fine heat-maps [N, w0, w0, K]."""
        cfg = self.cfg
        n, k, w0 = crops[0].shape[0], crops[0].shape[1], cfg.window
        if cfg.variant == "standard":
            # own first two layers on the LCN image crops (stride 2^L -> 2^(L+1))
            crops = [FirstTwo(cfg.bank[:2], cfg.kernel, name=f"img_bank{lv}")(c.reshape((n * k,) + c.shape[2:]))
                     for lv, c in enumerate(crops)]
        else:
            crops = [c.reshape((n * k,) + c.shape[2:]) for c in crops]
        banks = []
        for lv, c in enumerate(crops):
            y = nn.relu(nn.Conv(cfg.fine[0], (3, 3), name=f"b{lv}_conv1")(c))
            y = nn.relu(nn.Conv(cfg.fine[1], (3, 3), name=f"b{lv}_conv2")(y))
            if lv:
                y = jnp.repeat(jnp.repeat(y, 2**lv, axis=1), 2**lv, axis=2)
            banks.append(y)
        y = nn.relu(nn.Conv(cfg.fine[2], (3, 3), name="conv3")(functools.reduce(operator.add, banks)))
        y = nn.relu(nn.Conv(cfg.fine[3], (1, 1), name="conv4")(y))
        y = y.reshape((n, k, w0, w0, cfg.fine[3]))
        wj = self.param("joint_w", nn.initializers.lecun_normal(), (k, cfg.fine[3], 1))[..., 0]
        bj = self.param("joint_b", nn.initializers.zeros, (k,))
        return jnp.einsum("nkhwc,kc->nhwk", y, wj) + bj
