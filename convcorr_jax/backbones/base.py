"""The `Backbone` record and helpers shared by the architectures (weight conversion checks)."""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, Mapping, Sequence

import jax
import numpy as np

from convcorr_jax.backbones.receptive_field import RF
from convcorr_jax.core.errors import InputError, check_shape
from convcorr_jax.core.tracing import is_traced

Params = dict[str, Any]

# XLA:CPU compile options of the forward passes: no YNNPACK fusions, so convolutions and matrix products run in
# XLA:CPU's Eigen kernels (bench/RESULTS_backbones.md compares the two).
CPU_FORWARD_OPTIONS = {"xla_cpu_experimental_ynn_fusion_type": ""}


def jit_forward(fn: Callable, static_argnames: tuple[str, ...]) -> Callable:
    """`jax.jit(fn, static_argnames=static_argnames)`, compiled with `CPU_FORWARD_OPTIONS` on a CPU backend.

    When the default backend is a CPU the outputs differ from XLA:CPU's default kernels' by rounding (about 1e-6
    relative). Called on traced values (inside another jit, grad or vmap) it is traced into the enclosing computation,
    compiled with that computation's options.

    Args:
      fn: the forward function to compile.
      static_argnames: names of `fn`'s arguments that are static (hashed into the compilation key).

    Returns:
      A callable with `fn`'s signature (wrapped with `functools.wraps`) returning `fn`'s outputs.
    """
    plain = jax.jit(fn, static_argnames=static_argnames)
    eigen = jax.jit(fn, static_argnames=static_argnames, compiler_options=CPU_FORWARD_OPTIONS)

    @functools.wraps(fn)
    def call(*args, **kwargs):
        return (eigen if not is_traced(args, kwargs) and jax.default_backend() == "cpu" else plain)(*args, **kwargs)

    return call


@dataclasses.dataclass(frozen=True, eq=False)
class Backbone:
    """A pretrained-style network with named taps and receptive-field geometry.

    Fields:
      name: registry name ("caffenet", "bvlc_alexnet", "torchvision_alexnet", "vgg16", "mobilenet_v2").
      taps: every tap name `apply` accepts, in network order.
      geometry: tap -> RF for every spatial tap (vector taps such as fc6/pool/logits are global and absent).
      default_input_size: (h, w) of the original training crop.
      init(key, input_size=None) -> params: random (He-normal) parameters.
      apply(params, x[N, H, W, 3] float preprocessed, taps=(...), relu=True) -> {tap: array}: spatial taps NHWC,
        vector taps [N, D]; x of any float dtype runs in float32. `relu` selects post-activation (True) or
        pre-activation (False) values for taps that are followed by a ReLU; other taps are unaffected. Jit-compiled
        per (shape, taps, relu). A tap whose layers' parameters are absent from `params` (fc taps on conv-only
        params) raises InputError before tracing.
      preprocess(uint8 RGB [N, H, W, 3]) -> f32 in the network's input convention (no resizing).
      convert_torch(state_dict: {torch key: np.ndarray}, source: str) -> params; `load_weights` passes source= (the
        file, for its errors).
      roles: AlexNet role names conv1..conv5, pool5, fc6, fc7 -> this backbone's tap names.
      grid_size(tap, input_hw) -> (h, w) of a spatial tap's feature map.
      resize: (resize_to, crop, keep_aspect) of the standard evaluation transform (see preprocess.resize_and_crop).
      convert_caffe(blobs: {layer: [weight OIHW, bias]}, source: str) -> params, for the Caffe models (else None);
        `load_weights` passes source= too.
      num_classes: width of the "logits" tap.
      conv_keys: top-level parameter keys of the convolution layers in network order (AlexNets conv1..conv5,
        vgg16 conv1_1..conv5_3; empty for mobilenet_v2). A params tree whose top-level keys are exactly these is
        conv-only (no fully connected layers) and serves the taps up to pool5.
    """

    name: str
    taps: tuple[str, ...]
    geometry: dict[str, RF]
    default_input_size: tuple[int, int]
    init: Callable[..., Params]
    apply: Callable[..., dict]
    preprocess: Callable[[np.ndarray], np.ndarray]
    convert_torch: Callable[..., Params]
    roles: dict[str, str]
    grid_size: Callable[[str, tuple[int, int]], tuple[int, int]]
    resize: tuple[int, int, bool]
    convert_caffe: Callable[..., Params] | None = None
    num_classes: int = 1000
    conv_keys: tuple[str, ...] = ()

    @property
    def spatial_taps(self) -> tuple[str, ...]:
        """The taps with a receptive field (feature maps), in network order."""
        return tuple(t for t in self.taps if t in self.geometry)


def param_shapes(backbone: Backbone, conv_only: bool = False) -> Params:
    """Shapes of `backbone`'s parameter tree, traced without computing.

    Args:
      backbone: the network whose `init` is traced (`jax.eval_shape`, no arrays allocated).
      conv_only: keep only its convolution layers (the top-level keys `backbone.conv_keys`).

    Returns:
      The parameter tree with `jax.ShapeDtypeStruct` leaves (float32), all top-level keys or only `conv_keys`.
    """
    import jax

    like = jax.eval_shape(lambda: backbone.init(jax.random.key(0)))
    return {k: like[k] for k in backbone.conv_keys} if conv_only else like


def check_taps(backbone_name: str, taps: str | Sequence[str], known: tuple[str, ...]) -> tuple[str, ...]:
    """`taps` (one name or a sequence) as a tuple of checked names.

    Args:
      backbone_name: the network's name, used in the error.
      taps: one tap name or a sequence of names.
      known: the names allowed.

    Returns:
      tuple[str, ...] of the names, in the order given.

    Raises:
      InputError: naming `backbone_name` for a name not in `known`.
    """
    taps = (taps,) if isinstance(taps, str) else tuple(taps)
    for t in taps:
        if t not in known:
            raise InputError(backbone_name, "taps", f"names from {list(known)}", t)
    return taps


def check_input(x: np.ndarray | jax.Array, source: str = "Backbone.apply", field: str = "x") -> None:
    """Network input must be float `[N, H, W, 3]` (already preprocessed).

    Args:
      x: the network input (numpy or jax array), NHWC.
      source, field: the function that received `x` and the argument it came in, for the error.

    Returns:
      None; it only checks.

    Raises:
      InputError: for another rank or channel count, or a non-float dtype (uint8 images not yet preprocessed).
    """
    check_shape(x, "N H W 3", source, field, dtype="float", note="(NHWC; backbone.preprocess makes it of uint8 images)")


class StateDict:
    """Checked access to a weight dict: every key read must exist with the expected shape; unread keys are errors."""

    def __init__(self, weights: Mapping[str, Any], source: str, ignore_suffixes: tuple[str, ...] = ()):
        self.weights = weights
        self.source = source
        self.used: set[str] = set()
        self.ignore_suffixes = ignore_suffixes

    def take(self, key: str, shape: tuple[int, ...]) -> np.ndarray:
        """The float32 array under `key`, checked to have `shape`; InputError for a missing key or another shape."""
        if key not in self.weights:
            raise InputError(self.source, key, f"an array of shape {shape} (missing key)")
        a = np.asarray(self.weights[key], np.float32)
        if tuple(a.shape) != tuple(shape):
            raise InputError(self.source, key, f"shape {tuple(shape)}", tuple(a.shape))
        self.used.add(key)
        return a

    def finish(self) -> None:
        """InputError naming the first key never read (a weight file of another architecture)."""
        extra = sorted(k for k in self.weights if k not in self.used and not k.endswith(self.ignore_suffixes))
        if extra:
            raise InputError(self.source, extra[0], f"only keys of this architecture ({len(extra)} unexpected keys)",
                             extra[:5])


def oihw_to_hwio(w: np.ndarray) -> np.ndarray:
    """A convolution kernel [O, I, H, W] (torch, Caffe) as [H, W, I, O] (Flax), contiguous.

    Args:
      w: [O, I, kh, kw] kernel.

    Returns:
      [kh, kw, I, O] C-contiguous numpy array, `w`'s dtype.
    """
    return np.ascontiguousarray(np.transpose(w, (2, 3, 1, 0)))
