"""Tompson et al. 2015: coarse multi-resolution heat-map ConvNet, crop module, Siamese fine model, cascade.

One module for one network: the coarse model, the crop module and the fine model share their layer definitions
and the cascade wires them, so they are read (and changed) together.

Functional API (Flax Linen inside):
  params = init(key, cfg)                                   # {"coarse": ..., "fine": ...}
  out = apply(params, images, cfg, drop_masks=None)         # dict of heat-maps and (x, y) predictions
Images are float32 [N, H, W, 3] in [0, 1] (NHWC). Points are image pixels (x, y), 0-based, centres at integers.

Architecture (Sections 3.1, 4.1):
  * input: RGB Gaussian pyramid of `levels` levels (stride-2 binomial blur), each level local-contrast-normalised
    with the same kernel;
  * one bank per level: conv-relu-pool, conv-relu-pool, conv-relu (+ extra pools), conv-relu; the output of bank L
    (stride pool * 2^L) is upsampled to the level-0 output grid and the banks are added;
  * SpatialDropout (whole feature maps, one Bernoulli draw per sample and channel) before the first 1x1 conv,
    then 1x1-relu-1x1 to one heat-map per joint (stride `pool` = 4, 8 or 16);
  * crop module: at each joint's coarse arg-max, a window of `context` image pixels is cut from the output of
    the first two conv layers of every bank (so level L's window has context / 2^(L+1) cells: constant context);
    `jax.lax.dynamic_slice` is differentiable, so gradients reach the coarse banks at the sampled locations;
  * fine model: a Siamese network shared by all joints (per bank conv3x3-relu, conv3x3-relu, upsample to the
    level-0 window and add, conv3x3-relu, conv1x1-relu: 4 layers), then an unshared 1x1 conv per joint gives a
    fine heat-map per joint at stride 2;
  * prediction: the window's position plus the fine arg-max, refined to sub-cell precision (parabola fit, see
    `heatmaps.subpixel_argmax`). This equals "coarse location + (dx, dy) offset" of the paper, with the offset
    measured from the window origin.
Generic-feature coarse model (`trunk="mobilenet_v2"`, beyond the paper): the pyramid and banks are replaced by a
pretrained MobileNetV2 trunk (torchvision ImageNet weights, `weights.load.load_pretrained`; inference-mode batch
norm whose running statistics never train) on the ImageNet-normalised RGB image. Its block13 output (stride 16) is
upsampled to the stride-8 grid and concatenated with block6 (stride 8), then conv3x3-relu (`trunk_head` wide),
SpatialDropout and the same 1x1-relu-1x1 read-out give the coarse heat-maps; the fine model crops the shared
trunk features block1, block3 and block6 (strides 2, 4, 8: the three levels of the crop module). The trunk's
parameters are `params["trunk"]` (stem..block13); which of them train is a training setting (`pose.train`).
Variant "standard" (Fig. 13): the fine model sees image crops (of the LCN pyramid) instead of shared features and
has its own copy of the first two conv layers per bank, which makes its trainable parameter count match the
shared model's fine path (which also trains those layers).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from convcorr_jax.backbones import mobilenet_v2 as mnv2
from convcorr_jax.backbones.preprocess import TORCH_MEAN_RGB, TORCH_STD_RGB
from convcorr_jax.errors import InputError
from convcorr_jax.pose import heatmaps as hmap
from convcorr_jax.weights.load import load_pretrained

TRUNKS = ("", "mobilenet_v2")  # "": the paper's multi-resolution banks
TRUNK_FINE_TAPS = ("block1", "block3", "block6")  # strides 2, 4, 8: crop-module levels 0, 1, 2
TRUNK_DEEP_TAP = "block13"  # stride 16
TRUNK_LAYERS = ("stem",) + tuple(f"block{i}" for i in range(1, 14))  # the trunk's parameters, network order
# the product read-out ("xy_product"): fine map x coarse map ** this, both clipped at 0; chosen on FLIC's validation
# movies (bench/RESULTS_pose.md, bench/cascade_diagnosis.py)
PRODUCT_POWER = 4.0


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Model hyper-parameters. Defaults are the small CPU model; `full_model()` gives the paper's widths."""

    num_joints: int = 16
    image_size: int = 128  # square input, multiple of pool * 2^(levels-1)
    pool: int = 8  # total pooling factor of the coarse model: 4, 8 or 16
    levels: int = 3  # Gaussian pyramid levels
    kernel: int = 5  # coarse conv kernel
    bank: tuple[int, int, int, int] = (16, 24, 32, 48)  # conv widths of each resolution bank
    head: int = 64  # width of the first 1x1 conv
    spatial_dropout: float = 0.2  # 0 switches SpatialDropout off
    fine: tuple[int, int, int, int] = (16, 16, 24, 24)  # Siamese widths (2 per bank, 2 after fusion)
    context: int = 40  # fine window side in image pixels (multiple of 2^levels)
    sigma: float = 1.0  # target Gaussian std in heat-map cells (coarse and fine)
    variant: str = "shared"  # "shared" (the paper's cascade) or "standard" (image crops)
    lcn_sigma: float = 2.0  # std (pixels) of the LCN Gaussian
    trunk: str = ""  # "" (the paper's banks) or "mobilenet_v2" (pretrained trunk, module docstring)
    trunk_weights: str = "imagenet"  # "imagenet" (real pretrained weights) or "random" (seeded, for tests)
    trunk_head: int = 128  # width of the trunk model's conv3x3 before SpatialDropout
    out_init_std: float = 1e-3  # std of the heat-map output layers' initial weights (coarse fc2, fine joint_w):
    # near-zero initial heat-maps start E1/E2 at the all-zero value, so the first Adam steps do not silence most
    # ReLU units
    fine_coarse: bool = False  # the fine model also reads its joint's coarse heat-map (no gradient), cropped
    # with its coarsest level: the coarse evidence enters the fine map (beyond the paper; `fine_inputs`)

    def validate(self, prefix: str = "") -> "ModelConfig":
        """self, or InputError naming the first bad field (as `prefix` + name, e.g. "model.pool" in a config)."""
        def bad(field, expected, got):
            raise InputError("config" if prefix else "model config", prefix + field, expected, got)

        if self.pool not in (4, 8, 16):
            bad("pool", "4, 8 or 16", self.pool)
        if self.variant not in ("shared", "standard"):
            bad("variant", "'shared' or 'standard'", self.variant)
        if self.image_size < self.size_multiple or self.image_size % self.size_multiple:
            bad("image_size", f"a positive multiple of pool * 2^(levels-1) = {self.size_multiple}", self.image_size)
        if self.context % (2**self.levels):
            bad("context", f"a multiple of 2^levels = {2 ** self.levels}", self.context)
        if self.trunk not in TRUNKS:
            bad("trunk", "'' (the paper's banks) or 'mobilenet_v2'", self.trunk)
        if self.trunk_weights not in ("imagenet", "random"):
            bad("trunk_weights", "'imagenet' or 'random'", self.trunk_weights)
        if self.fine_coarse and self.variant != "shared":
            bad("fine_coarse", "False with variant 'standard' (its fine model reads image crops)", self.fine_coarse)
        if self.trunk:
            for field, want in (("pool", 8), ("levels", 3), ("variant", "shared")):
                if getattr(self, field) != want:
                    bad(field, f"{want!r} with trunk {self.trunk!r} (its features are at strides 2, 4, 8)",
                        getattr(self, field))
        return self

    @property
    def size_multiple(self) -> int:
        """The input side is a multiple of this: pool * 2^(levels-1), the coarsest bank's stride."""
        return self.pool * 2 ** max(self.levels - 1, 0)

    @property
    def drop_channels(self) -> int:
        """Channels SpatialDropout acts on."""
        return self.trunk_head if self.trunk else self.bank[3]

    @property
    def map_size(self) -> int:
        """S, the side of the coarse heat-map: image_size / pool."""
        return self.image_size // self.pool

    @property
    def window(self) -> int:
        """Side of the level-0 (canonical) fine window in cells of stride 2."""
        return self.context // 2


def full_model(**kw) -> ModelConfig:
    """Widths close to the paper's FLIC model (128-feature banks, 512-wide 1x1), 256x256 input, the paper's target
    sigma of 1.5 heat-map pixels."""
    base = dict(image_size=256, bank=(128, 128, 128, 512), head=256, fine=(128, 128, 128, 128), kernel=5, sigma=1.5,
                context=72 if kw.get("pool", 8) != 16 else 80)
    base.update(kw)
    return ModelConfig(**base)


# --- fixed preprocessing: Gaussian pyramid + local contrast normalisation ------------------------------------

def _separable(x: jax.Array, mh: np.ndarray, mw: np.ndarray) -> jax.Array:
    """Per-channel separable linear filter as two matrix products: x [N, H, W, C] -> [N, h, w, C] with
    out[n, i, j, c] = sum_{y, x'} mh[i, y] x[n, y, x', c] mw[j, x']. A banded matrix is a zero-padded convolution
    (with a stride if it has fewer rows than columns), used in place of a depthwise convolution, which XLA:CPU
    runs slowly (timings: bench/RESULTS_pose.md)."""
    return jnp.einsum("iy,nyxc,jx->nijc", jnp.asarray(mh, x.dtype), x, jnp.asarray(mw, x.dtype))


def _band(m: int, taps: np.ndarray, stride: int = 1, offset: int = 0, edge: bool = False) -> np.ndarray:
    """[ceil(m / stride), m] matrix of the 1-D filter `taps`: row i holds taps[t] at column
    stride * i + t - offset. Columns outside 0..m-1 are dropped (zero padding) or, with `edge`, moved to the
    nearest edge (edge-replicated borders)."""
    rows = np.arange(0, m, stride)
    out = np.zeros((len(rows), m))
    for t, v in enumerate(taps):
        cols = rows + t - offset
        keep = np.full(len(rows), True) if edge else (cols >= 0) & (cols < m)
        np.add.at(out, (np.arange(len(rows))[keep], np.clip(cols, 0, m - 1)[keep]), v)
    return out


def pyramid(images: jax.Array, levels: int) -> list[jax.Array]:
    """Gaussian pyramid [N, H/2^L, W/2^L, 3]: binomial [1,3,3,1]/8 blur, stride 2 (level-L pixel k is centred on
    level-0 pixel 2^L k + (2^L - 1)/2), edge-replicated borders."""
    b = np.array([1.0, 3.0, 3.0, 1.0]) / 8.0
    out = [images]
    for _ in range(levels - 1):
        h, w = out[-1].shape[1:3]
        out.append(_separable(out[-1], _band(h, b, 2, 1, edge=True), _band(w, b, 2, 1, edge=True)))
    return out


def lcn(x: jax.Array, sigma: float = 2.0) -> jax.Array:
    """Local contrast normalisation per channel: subtract the Gaussian-weighted local mean, divide by
    max(local std, its image mean). Border weights are renormalised. x: [N, H, W, C]."""
    r = int(math.ceil(2 * sigma))
    g = np.exp(-np.arange(-r, r + 1) ** 2 / (2 * sigma**2))
    g = g / g.sum()
    h, w = x.shape[1:3]
    bh, bw = _band(h, g, offset=r), _band(w, g, offset=r)
    # border renormaliser: the kernel mass inside the image (fixed, computed on the host)
    norm = jnp.asarray(np.outer(bh.sum(1), bw.sum(1))[None, :, :, None], x.dtype)
    mean = _separable(x, bh, bw) / norm
    v = x - mean
    std = jnp.sqrt(_separable(v * v, bh, bw) / norm + 1e-8)
    floor = jnp.mean(std, axis=(1, 2), keepdims=True)
    return v / jnp.maximum(std, jnp.maximum(floor, 1e-4))


def preprocess(images: jax.Array, cfg: ModelConfig) -> list[jax.Array]:
    """Images [N, H, W, 3] in [0, 1] -> list of LCN'd pyramid levels; with a trunk, [the ImageNet-normalised
    image] (torchvision's mean and std)."""
    if images.ndim != 4 or images.shape[1:] != (cfg.image_size, cfg.image_size, 3):
        raise InputError("images", "shape", f"[N, {cfg.image_size}, {cfg.image_size}, 3]", tuple(images.shape))
    x = images.astype(jnp.float32)
    if cfg.trunk:
        return [(x - jnp.asarray(TORCH_MEAN_RGB)) / jnp.asarray(TORCH_STD_RGB)]
    return [lcn(v, cfg.lcn_sigma) for v in pyramid(x, cfg.levels)]


# --- networks ----------------------------------------------------------------------------------------------

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
    """The trunk's taps {block1, block3, block6, block13} of normalised images x [N, H, W, 3]; the batch-norm
    running statistics are constants (no gradient)."""
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
        acc = 0.0
        for lv, c in enumerate(crops):
            y = nn.relu(nn.Conv(cfg.fine[0], (3, 3), name=f"b{lv}_conv1")(c))
            y = nn.relu(nn.Conv(cfg.fine[1], (3, 3), name=f"b{lv}_conv2")(y))
            if lv:
                y = jnp.repeat(jnp.repeat(y, 2**lv, axis=1), 2**lv, axis=2)
            acc = acc + y
        y = nn.relu(nn.Conv(cfg.fine[2], (3, 3), name="conv3")(acc))
        y = nn.relu(nn.Conv(cfg.fine[3], (1, 1), name="conv4")(y))
        y = y.reshape((n, k, w0, w0, cfg.fine[3]))
        wj = self.param("joint_w", nn.initializers.lecun_normal(), (k, cfg.fine[3], 1))[..., 0]
        bj = self.param("joint_b", nn.initializers.zeros, (k,))
        return jnp.einsum("nkhwc,kc->nhwk", y, wj) + bj


# --- crop module ---------------------------------------------------------------------------------------------

def window_origin(centers: jax.Array, cfg: ModelConfig) -> jax.Array:
    """Level-0 window origin (stride-2 cells, int [..., 2]) for crop centres in image pixels [..., 2].

    The origin is rounded to a multiple of 2^(levels-1) cells so that every level's window starts on a whole
    cell; the centre then lies within +-2^(levels-2) cells of the window's middle.
    """
    q = 2 ** (cfg.levels - 1)
    c = jnp.clip(centers, 0, cfg.image_size - 1)
    ideal = hmap.image_to_map(c, 2.0) - (cfg.window - 1) / 2
    return (q * jnp.round(ideal / q)).astype(jnp.int32)


def crop(features: jax.Array, origin0: jax.Array, level: int, cfg: ModelConfig) -> jax.Array:
    """Windows [N, K, w_L, w_L, C] from features [N, h, w, C] (stride 2^(L+1)) at level-0 origins [N, K, 2].

    Features are zero-padded so no window is clamped; the slice is differentiable in `features`."""
    f = 2**level
    w = cfg.window // f
    pad = (cfg.window + 2 ** (cfg.levels - 1)) // f + 1
    x = jnp.pad(features, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    start = origin0 // f + pad  # exact: origin0 is a multiple of 2^(levels-1)

    def one(img, st):
        return jax.lax.dynamic_slice(img, (st[1], st[0], 0), (w, w, img.shape[-1]))

    return jax.vmap(lambda img, sts: jax.vmap(lambda s: one(img, s))(sts))(x, start)


def image_crops_levels(levels: list[jax.Array], origin0: jax.Array, cfg: ModelConfig) -> list[jax.Array]:
    """Standard-cascade input: windows of the LCN pyramid itself (level L at stride 2^L, side context/2^L)."""
    out = []
    for lv, x in enumerate(levels):
        f = 2**lv
        w = cfg.context // f
        pad = (cfg.context + 2**cfg.levels) // f + 2
        xp = jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
        start = origin0 * 2 // f + pad
        one = lambda img, st: jax.lax.dynamic_slice(img, (st[1], st[0], 0), (w, w, img.shape[-1]))
        out.append(jax.vmap(lambda img, sts: jax.vmap(lambda s: one(img, s))(sts))(xp, start))
    return out


def fine_inputs(feats: list[jax.Array], hm: jax.Array, origin0: jax.Array, cfg: ModelConfig) -> list[jax.Array]:
    """The fine model's windows per level [N, K, w_L, w_L, C_L] of the shared features `feats` at level-0 origins
    [N, K, 2]; with `cfg.fine_coarse`, each joint's window of the coarsest level also holds that joint's coarse
    heat-map hm [N, S, S, K] (resized to the level's grid, gradient stopped) as one more channel."""
    crops = [crop(f, origin0, lv, cfg) for lv, f in enumerate(feats)]
    if not cfg.fine_coarse:
        return crops
    last = feats[-1]
    n, h, w = last.shape[:3]
    maps = jax.lax.stop_gradient(hm)
    if maps.shape[1:3] != (h, w):
        maps = jax.image.resize(maps, (n, h, w, maps.shape[-1]), "linear")
    own = jnp.diagonal(crop(maps, origin0, len(feats) - 1, cfg), axis1=1, axis2=4)  # [N, wL, wL, K]
    own = jnp.moveaxis(own, -1, 1)[..., None]  # [N, K, wL, wL, 1]
    return crops[:-1] + [jnp.concatenate([crops[-1], own], axis=-1)]


# --- public functional API -----------------------------------------------------------------------------------

def init(key: jax.Array, cfg: ModelConfig) -> dict:
    """Parameters {"coarse": ..., "fine": ...} for `cfg` (deterministic in `key`); with a trunk also "trunk":
    MobileNetV2's stem..block13, ImageNet weights (`trunk_weights="imagenet"`) or, with "random", kernels drawn as
    below and identity batch norm.

    Shapes come from tracing the Flax modules (no compilation); values are drawn on the host: kernels from a
    normal of std 1/sqrt(fan_in) truncated at 2 std (LeCun normal), biases zero, except the heat-map output
    layers (coarse fc2, fine joint_w): normal of std `cfg.out_init_std`. Host drawing avoids compiling the
    random-number kernels of a Flax `init`, which dominates start-up time on CPU.
    """
    shapes = param_shapes(cfg)
    pretrained = bool(cfg.trunk) and cfg.trunk_weights == "imagenet"
    seed = np.asarray(jax.random.key_data(key) if jnp.issubdtype(key.dtype, jax.dtypes.prng_key) else key).ravel()
    rng = np.random.default_rng([int(v) for v in seed])

    def draw(path, sd):
        name = str(getattr(path[-1], "key", path[-1]))
        if name in ("scale", "var"):  # trunk batch norm (random trunk): identity
            return jnp.ones(sd.shape, sd.dtype)
        if name in ("bias", "joint_b", "mean"):
            return jnp.zeros(sd.shape, sd.dtype)
        if name == "joint_w" or (name == "kernel" and str(getattr(path[-2], "key", "")) == "fc2"):
            return jnp.asarray(rng.standard_normal(sd.shape) * cfg.out_init_std, sd.dtype)
        fan_in = int(np.prod(sd.shape[:-1]))
        w = rng.standard_normal(sd.shape)
        w = np.where(np.abs(w) > 2, rng.standard_normal(sd.shape), w)
        w = np.clip(w, -2, 2) / 0.8796 / np.sqrt(fan_in)
        return jnp.asarray(w, sd.dtype)

    # a pretrained trunk is not drawn ("trunk" sorts last, so the other groups' draws are the same either way)
    params = jax.tree_util.tree_map_with_path(draw, {k: v for k, v in shapes.items()
                                                      if not (pretrained and k == "trunk")})
    if pretrained:
        weights = load_pretrained(cfg.trunk, progress=False)[1]
        params["trunk"] = {k: jax.tree_util.tree_map(jnp.asarray, weights[k]) for k in TRUNK_LAYERS}
    return params


def param_shapes(cfg: ModelConfig) -> dict:
    """Shapes and dtypes (`jax.ShapeDtypeStruct`) of the tree `init` returns for `cfg`, traced without computing
    and without reading any weights."""
    return jax.eval_shape(_init_jit, jax.random.PRNGKey(0), cfg.validate())


def trunk_shapes() -> dict:
    """Shapes of the trunk's parameters (stem..block13 of MobileNetV2) as zero arrays (traced, never filled)."""
    shapes = mnv2.param_shapes()
    return jax.tree_util.tree_map(lambda s: jnp.zeros(s, jnp.float32), {k: shapes[k] for k in TRUNK_LAYERS},
                                  is_leaf=lambda s: isinstance(s, tuple))


@functools.partial(jax.jit, static_argnums=1)
def _init_jit(key: jax.Array, cfg: ModelConfig) -> dict:
    kc, kf = jax.random.split(key)
    x = jnp.zeros((1, cfg.image_size, cfg.image_size, 3), jnp.float32)
    levels = preprocess(x, cfg)
    if cfg.trunk:
        trunk = trunk_shapes()
        t = trunk_features(trunk, levels[0])
        pc = TrunkHead(cfg).init(kc, t["block6"], t[TRUNK_DEEP_TAP])["params"]
        feats = [t[k] for k in TRUNK_FINE_TAPS]
        hm = jnp.zeros((1, cfg.map_size, cfg.map_size, cfg.num_joints), jnp.float32)
        pf = Fine(cfg).init(kf, fine_inputs(feats, hm, jnp.zeros((1, cfg.num_joints, 2), jnp.int32), cfg))["params"]
        return {"coarse": pc, "fine": pf, "trunk": trunk}
    pc = Coarse(cfg).init(kc, levels)["params"]
    hm, feats = Coarse(cfg).apply({"params": pc}, levels)
    o = jnp.zeros((1, cfg.num_joints, 2), jnp.int32)
    crops = image_crops_levels(levels, o, cfg) if cfg.variant == "standard" else fine_inputs(feats, hm, o, cfg)
    pf = Fine(cfg).init(kf, crops)["params"]
    return {"coarse": pc, "fine": pf}


def dropout_masks(keys: jax.Array, cfg: ModelConfig) -> jax.Array | None:
    """Per-sample SpatialDropout masks [N, 1, 1, C] (inverted scaling) from per-sample keys [N]."""
    p = cfg.spatial_dropout
    if p <= 0:
        return None
    keep = jax.vmap(lambda k: jax.random.bernoulli(k, 1 - p, (1, 1, cfg.drop_channels)))(keys)
    return keep.astype(jnp.float32) / (1 - p)


def apply_coarse(params: dict, images: jax.Array, cfg: ModelConfig, drop_mask=None):
    """Coarse heat-maps [N, S, S, K] (S = image_size / pool), the features the fine model crops (per level) and
    the preprocessed input (`preprocess`)."""
    levels = preprocess(images, cfg)
    if cfg.trunk:
        t = trunk_features(params["trunk"], levels[0])
        hm = TrunkHead(cfg).apply({"params": params["coarse"]}, t["block6"], t[TRUNK_DEEP_TAP], drop_mask)
        return hm, [t[k] for k in TRUNK_FINE_TAPS], levels
    hm, feats = Coarse(cfg).apply({"params": params["coarse"]}, levels, drop_mask)
    return hm, feats, levels


def coarse_points(hm: jax.Array, cfg: ModelConfig) -> jax.Array:
    """Coarse prediction: integer arg-max cell centre in image pixels [N, K, 2] (quantised, as in the paper)."""
    return hmap.map_to_image(hmap.argmax_2d(hm).astype(jnp.float32), cfg.pool)


def apply(params: dict, images: jax.Array, cfg: ModelConfig, drop_mask=None, centers: jax.Array | None = None) -> dict:
    """Full cascade. Returns {"coarse_hm" [N,S,S,K], "fine_hm" [N,w0,w0,K], "origin" int [N,K,2] (level-0 window
    origin, stride-2 cells), "coarse_xy" [N,K,2], "xy" [N,K,2] (cascade prediction, pixels), "xy_product" [N,K,2]
    (the sub-cell arg-max of the fine map times the coarse map ** `PRODUCT_POWER` in each window, both clipped at
    0: the coarse evidence weighs the fine map's candidates)}.

    centers: crop centres in pixels [N, K, 2]; default the coarse arg-max (the paper's inference and training).
    """
    hm, feats, levels = apply_coarse(params, images, cfg, drop_mask)
    cxy = coarse_points(hm, cfg)
    c = jax.lax.stop_gradient(cxy if centers is None else centers)
    origin = window_origin(c, cfg)
    if cfg.variant == "standard":
        crops = image_crops_levels(levels, origin, cfg)
    else:
        crops = fine_inputs(feats, hm, origin, cfg)
    fine = Fine(cfg).apply({"params": params["fine"]}, crops)
    local = hmap.subpixel_argmax(fine)  # [N, K, 2] cells in the window
    xy = hmap.map_to_image(origin.astype(jnp.float32) + local, 2.0)
    prior = jnp.maximum(coarse_in_windows(hm, origin, cfg), 0.0) ** PRODUCT_POWER
    product = hmap.subpixel_argmax(jnp.maximum(fine, 0.0) * prior)
    return {"coarse_hm": hm, "fine_hm": fine, "origin": origin, "coarse_xy": cxy, "xy": xy,
            "xy_product": hmap.map_to_image(origin.astype(jnp.float32) + product, 2.0)}


def coarse_in_windows(hm: jax.Array, origin0: jax.Array, cfg: ModelConfig) -> jax.Array:
    """The coarse heat-maps hm [N, S, S, K] sampled bilinearly (edge-clamped) at the image position of every fine
    cell of each joint's own window (level-0 origins [N, K, 2], stride 2): [N, w0, w0, K]."""
    u = jnp.arange(cfg.window, dtype=jnp.float32)
    s = hm.shape[1]

    def one(m, o):  # m [S, S] one joint's map, o [2] its window origin -> [w0, w0]
        cx = hmap.image_to_map(hmap.map_to_image(o[0] + u, 2.0), cfg.pool)
        cy = hmap.image_to_map(hmap.map_to_image(o[1] + u, 2.0), cfg.pool)
        yy, xx = jnp.meshgrid(jnp.clip(cy, 0, s - 1), jnp.clip(cx, 0, s - 1), indexing="ij")
        return jax.scipy.ndimage.map_coordinates(m, [yy, xx], order=1)

    per = jax.vmap(jax.vmap(one, in_axes=(-1, 0), out_axes=-1), in_axes=(0, 0))
    return per(hm, origin0.astype(jnp.float32))


def fine_target_points(points: jax.Array, origin: jax.Array) -> jax.Array:
    """Ground-truth pixels [N, K, 2] -> coordinates in the fine window (stride-2 cells from the origin)."""
    return hmap.image_to_map(points, 2.0) - origin.astype(jnp.float32)


def count_params(tree) -> int:
    """The number of scalars in a parameter tree."""
    return int(sum(np.prod(x.shape) for x in jax.tree_util.tree_leaves(tree)))
