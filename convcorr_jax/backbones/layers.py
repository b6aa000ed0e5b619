"""Pure NHWC layer functions shared by the backbones (params are plain dicts of arrays).

Conventions: images/features `[N, H, W, C]` float32; conv kernels HWIO (`[kh, kw, C/groups, O]`); dense kernels
`[in, out]`. Every spatial op takes a `geometry.Step`, so the network's layer list also defines its geometry.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from convcorr_jax.backbones.receptive_field import Step, output_size


def conv(p: dict, x: jax.Array, step: Step) -> jax.Array:
    """2-D convolution (cross-correlation, like Caffe/PyTorch) with symmetric zero padding.

    The number of groups is `C / I` of the HWIO kernel: groups split input and output channels into contiguous blocks
    (Caffe `group`, PyTorch `groups`). Depthwise (I = 1) runs as `_depthwise_conv`, other groups as one convolution
    each, concatenated, in place of XLA's grouped convolution (slower on XLA:CPU; timings in bench/RESULTS_flow.md).
    On the CPU backend a 3 x 3, stride 1, pad 1 dense convolution of `WINOGRAD_MIN_CHANNELS` or more input channels
    per group runs as `_winograd_conv` (fewer multiplications; bench/RESULTS_backbones.md).

    Args:
      p: {"kernel": [kh, kw, C / groups, O] HWIO, optional "bias": [O]}.
      x: float32 [N, H, W, C] features.
      step: kernel size, stride and padding (`step.pad` zeros each side).

    Returns:
      float32 [N, H', W', O], H' = `output_size(H, step)` (floor mode), likewise W'.
    """
    k = p["kernel"]
    groups = x.shape[-1] // k.shape[2]
    if groups > 1 and k.shape[2] == 1 and k.shape[3] == x.shape[-1]:
        y = _depthwise_conv(x, k[:, :, 0, :], step)
    else:
        ci, co = k.shape[2], k.shape[3] // groups
        y = jnp.concatenate([_dense_conv(x[..., g * ci:(g + 1) * ci], k[..., g * co:(g + 1) * co], step)
                             for g in range(groups)], -1) if groups > 1 else _dense_conv(x, k, step)
    return y + p["bias"] if "bias" in p else y


def _dense_conv(x: jax.Array, kernel: jax.Array, step: Step) -> jax.Array:
    if (kernel.shape[:2] == (3, 3) and (step.stride, step.pad) == (1, 1) and kernel.shape[2] >= WINOGRAD_MIN_CHANNELS
            and jax.default_backend() == "cpu"):
        return _winograd_conv(x, kernel)
    return lax.conv_general_dilated(x, kernel, window_strides=(step.stride, step.stride),
                                    padding=((step.pad, step.pad), (step.pad, step.pad)),
                                    dimension_numbers=("NHWC", "HWIO", "NHWC"))


# Input channels from which a 3 x 3 stride-1 convolution runs as `_winograd_conv` on the CPU (below them the
# transforms cost more than the multiplications they save; bench/RESULTS_backbones.md).
WINOGRAD_MIN_CHANNELS = 128
_BT = ((1, 0, -1, 0), (0, 1, 1, 0), (0, -1, 1, 0), (0, 1, 0, -1))  # input transform B^T of F(2 x 2, 3 x 3)
_G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], np.float32)  # kernel transform G
_AT = ((1, 1, 1, 0), (0, 1, -1, -1))  # output transform A^T


def _combine(rows: list, coeffs: tuple) -> list:
    """[sum_i c[a][i] rows[i] for each row a of coeffs] with the 0 / +-1 coefficients of Winograd's transforms."""
    out = []
    for c in coeffs:
        terms = [r if k == 1 else -r for r, k in zip(rows, c) if k]
        acc = terms[0]
        for t in terms[1:]:
            acc = acc + t
        out.append(acc)
    return out


def _winograd_conv(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """3 x 3 convolution, stride 1, one zero of padding each side (no bias), by Winograd's minimal filtering F(2 x 2,
    3 x 3) (Lavin and Gray, CVPR 2016): 16 multiplications per 2 x 2 output tile and channel pair in place of 36.

    The frame is cut into overlapping 4 x 4 input tiles at stride 2; each is transformed (B^T d B), multiplied with
    the transformed kernel (G g G^T) as 16 matrix products over the channels, and transformed back (A^T m A). The
    result equals `lax.conv_general_dilated`'s up to float rounding (about 1e-6 relative).

    Args:
      x: float32 [N, H, W, C] features.
      kernel: [3, 3, C, O] HWIO weights.

    Returns:
      float32 [N, H, W, O].
    """
    n, h, w, _ = x.shape
    th, tw = -(-h // 2), -(-w // 2)
    xp = jnp.pad(x, ((0, 0), (1, 2 * th + 1 - h), (1, 2 * tw + 1 - w), (0, 0)))
    d = [[xp[:, i:i + 2 * th:2, j:j + 2 * tw:2] for j in range(4)] for i in range(4)]  # [4][4] [N, th, tw, C]
    cols = [_combine([d[i][j] for i in range(4)], _BT) for j in range(4)]  # B^T d: cols[j][a]
    v = jnp.stack([jnp.stack(_combine([cols[j][a] for j in range(4)], _BT)) for a in range(4)])  # [4, 4, N, th, tw, C]
    u = jnp.einsum("ai,ijco,bj->abco", _G, kernel, _G)  # G g G^T: [4, 4, C, O]
    m = jnp.einsum("abntuc,abco->abntuo", v, u)
    rows = _combine([m[a] for a in range(4)], _AT)  # A^T m: [2][4, N, th, tw, O]
    y = jnp.stack([jnp.stack(_combine([r[b] for b in range(4)], _AT), 3) for r in rows], 2)  # [N, th, 2, tw, 2, O]
    return y.reshape(n, 2 * th, 2 * tw, -1)[:, :h, :w]


def _depthwise_conv(x: jax.Array, kernel: jax.Array, step: Step) -> jax.Array:
    """Depthwise convolution of x with one filter per channel, zero padding `step.pad`, stride `step.stride`.

    The sum over the kh * kw taps of strided slices times the tap's weights, one elementwise XLA fusion, in place of a
    grouped `conv_general_dilated` with C groups (slower on XLA:CPU, bench/RESULTS_flow.md); the result differs from it
    only by float summation order. No bias.

    Args:
      x: float32 [N, H, W, C] features.
      kernel: [kh, kw, C] weights.
      step: stride and padding (the kernel size comes from `kernel`).

    Returns:
      float32 [N, H', W', C], H' = `output_size(H, step)`, likewise W'.
    """
    kh, kw = kernel.shape[:2]
    n, h, w, c = x.shape
    oh, ow = output_size(h, step), output_size(w, step)
    s = step.stride
    xp = jnp.pad(x, ((0, 0), (step.pad, step.pad), (step.pad, step.pad), (0, 0)))
    y = None
    for i in range(kh):
        for j in range(kw):
            tap = lax.slice(xp, (0, i, j, 0), (n, i + (oh - 1) * s + 1, j + (ow - 1) * s + 1, c), (1, s, s, 1))
            y = tap * kernel[i, j] if y is None else y + tap * kernel[i, j]
    assert y is not None, "a kernel has at least one tap"
    return y


def max_pool(x: jax.Array, step: Step) -> jax.Array:
    """Max pooling; `step.ceil` gives Caffe's round-up output size (windows clipped at the border).

    Args:
      x: float32 [N, H, W, C] features.
      step: window, stride, padding (-inf each side) and rounding mode.

    Returns:
      [N, H', W', C], H' = `output_size(H, step)`, likewise W'.
    """
    h, w = x.shape[1:3]
    oh, ow = output_size(h, step), output_size(w, step)
    # Extra -inf padding at the bottom/right so that the last (clipped) window exists.
    ph = (oh - 1) * step.stride + step.kernel - h - step.pad
    pw = (ow - 1) * step.stride + step.kernel - w - step.pad
    y = lax.reduce_window(
        x,
        -jnp.inf,
        lax.max,
        (1, step.kernel, step.kernel, 1),
        (1, step.stride, step.stride, 1),
        ((0, 0), (step.pad, max(ph, 0)), (step.pad, max(pw, 0)), (0, 0)),
    )
    return y[:, :oh, :ow]


def lrn(x: jax.Array, size: int = 5, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0) -> jax.Array:
    """Caffe ACROSS_CHANNELS local response normalisation; equals `torch.nn.LocalResponseNorm`.

    `x * (k + alpha/size * sum_window x^2) ** -beta`, window of `size` channels centred on each channel (zero beyond
    the ends).

    Args:
      x: float32 [N, H, W, C] features.
      size: window width in channels.
      alpha, beta, k: the normalisation's scale, exponent and additive constant.

    Returns:
      x's shape and dtype.
    """
    sq = lax.reduce_window(
        x * x, 0.0, lax.add, (1, 1, 1, size), (1, 1, 1, 1), ((0, 0), (0, 0), (0, 0), (size // 2, (size - 1) // 2))
    )
    return x * (k + (alpha / size) * sq) ** (-beta)


def _adaptive_bins(n_in: int, n_out: int) -> np.ndarray:
    """PyTorch adaptive average pooling as an averaging matrix.

    Bin i covers `[floor(i*n_in/n_out), ceil((i+1)*n_in/n_out))`.

    Args:
      n_in: input length.
      n_out: number of bins.

    Returns:
      float32 [n_out, n_in]; row i holds 1 / (bin length) over bin i, 0 elsewhere.
    """
    a = np.zeros((n_out, n_in), np.float32)
    for i in range(n_out):
        s, e = (i * n_in) // n_out, -(-((i + 1) * n_in) // n_out)
        a[i, s:e] = 1.0 / (e - s)
    return a


def adaptive_avg_pool(x: jax.Array, out_hw: tuple[int, int]) -> jax.Array:
    """`torch.nn.AdaptiveAvgPool2d(out_hw)` on NHWC (exact bins, static shapes).

    Args:
      x: float32 [N, H, W, C] features.
      out_hw: (h, w) of the output.

    Returns:
      float32 [N, h, w, C], each cell the mean of its `_adaptive_bins` window (computed at HIGHEST precision).
    """
    ah = jnp.asarray(_adaptive_bins(x.shape[1], out_hw[0]))
    aw = jnp.asarray(_adaptive_bins(x.shape[2], out_hw[1]))
    return jnp.einsum("ih,jw,nhwc->nijc", ah, aw, x, precision=lax.Precision.HIGHEST)


def dense(p: dict, x: jax.Array) -> jax.Array:
    """Fully connected layer: x @ p['kernel'] + p['bias'].

    Args:
      p: {"kernel": [D_in, D_out], "bias": [D_out]}.
      x: float32 [N, D_in].

    Returns:
      float32 [N, D_out].
    """
    return x @ p["kernel"] + p["bias"]


def batch_norm(p: dict, x: jax.Array, eps: float = 1e-5) -> jax.Array:
    """Inference-mode batch norm with running statistics (`scale`, `bias`, `mean`, `var`).

    Args:
      p: {"scale", "bias", "mean", "var"}: [C] each.
      x: float32 [..., C] features (channels last).
      eps: added to the variance.

    Returns:
      x's shape: `(x - mean) * scale / sqrt(var + eps) + bias`.
    """
    inv = p["scale"] * lax.rsqrt(p["var"] + eps)
    return x * inv + (p["bias"] - p["mean"] * inv)


def init_tree(key: jax.Array, shapes: dict[str, Any], ones: tuple[str, ...] = ("scale", "var")) -> dict[str, Any]:
    """Random parameters for a pytree of shape tuples.

    Leaves named "kernel" are He-normal (fan_in = prod of all but the last axis), leaves named in `ones` 1, others 0.
    One RNG draw for all kernels (fast to compile).

    Args:
      key: a `jax.random` key.
      shapes: a pytree (nested dicts) whose leaves are shape tuples.
      ones: leaf names filled with 1.

    Returns:
      The same tree with float32 jax arrays of those shapes as leaves.
    """
    flat, treedef = jax.tree_util.tree_flatten_with_path(shapes, is_leaf=lambda s: isinstance(s, tuple))
    sizes = [int(np.prod(s)) for p, s in flat if p[-1].key == "kernel"]
    z = jax.random.normal(key, (sum(sizes),), jnp.float32)
    leaves, pos = [], 0
    for path, shape in flat:
        name = path[-1].key
        if name == "kernel":
            n = int(np.prod(shape))
            leaves.append(z[pos : pos + n].reshape(shape) * np.float32(np.sqrt(2.0 / np.prod(shape[:-1]))))
            pos += n
        else:
            leaves.append(jnp.full(shape, 1.0 if name in ones else 0.0, jnp.float32))
    return jax.tree_util.tree_unflatten(treedef, leaves)
