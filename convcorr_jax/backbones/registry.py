"""The backbone registry: one `BackboneSpec` per network (`spec`), `get(name) -> Backbone`, a user's own network
in one call (`register`), a backbone's declared taps checked against its traced network (`check_trace`), tap names from
paper role names (`resolve_tap`), and the smallest input a tap can be computed on (`min_input_side`).

Built-in networks are found, not listed: every module of this package that declares `SPECS` (a tuple of
`BackboneSpec`) is read on first use (alexnet.py: caffenet, bvlc_alexnet, torchvision_alexnet; vgg16.py;
mobilenet_v2.py; efficientnet_lite.py: efficientnet_lite2). A new built-in backbone is one new module with its
`SPECS`; a user's is one `register` call.

A user's network is traced when it is registered (`trace.trace`: shapes only, nothing computed); built-in ones are
not traced on import or use, only by `check_trace(name)` (the tests check every one: 0.1 to 0.7 s each on a CPU).
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
import threading
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from convcorr_jax.backbones.base import Backbone, Params
from convcorr_jax.backbones.receptive_field import RF
from convcorr_jax.backbones.spec import POINT_TRANSFER, BackboneSpec, FileSource, custom_backbone
from convcorr_jax.backbones.trace import TRACED, geometry, trace
from convcorr_jax.core.errors import InputError
from convcorr_jax.core.registry import Names, Registry

MAX_SIDE_SEARCHED = 4096  # px; `min_input_side` looks no further
_SPECS: Registry[BackboneSpec] = Registry("backbone")
_BUILT: dict[str, Backbone] = {}  # name -> its Backbone, made once per registration
_found = False  # every built-in module's SPECS registered
_started = False  # the search has begun (in the thread holding _FINDING)
_FINDING = threading.RLock()


def _discover() -> Registry[BackboneSpec]:
    """The registry, after reading the `SPECS` of every module of this package once. Another thread's call waits
    for a search in progress; a call from a module the search is importing gets the backbones found so far."""
    global _found, _started
    if not _found:
        with _FINDING:
            if not _started:
                _started = True
                import convcorr_jax.backbones as package

                for info in pkgutil.iter_modules(package.__path__):
                    module = importlib.import_module(f"{package.__name__}.{info.name}")
                    for s in getattr(module, "SPECS", ()):
                        if s.name not in _SPECS:
                            _SPECS.register(s.name, s)
                _found = True
    return _SPECS


NAMES = Names(lambda: tuple(_discover()))  # every registered name, built-in first, then the users'


def spec(name: str) -> BackboneSpec:
    """The `BackboneSpec` registered under `name`.

    Args:
      name: a registered backbone name (`NAMES`).

    Returns:
      Its `BackboneSpec` (maker, weight sources with sha256, default taps per method).

    Raises:
      InputError: listing the names, for any other name.
    """
    if name not in NAMES:
        raise InputError("backbone", "name", f"one of {list(NAMES)}", name)
    return _SPECS[name]


def get(name: str) -> Backbone:
    """The backbone registered under `name`, made once per registration.

    Args:
      name: one of `NAMES`.

    Returns:
      The `Backbone` (init, apply, taps, geometry, roles, preprocessing).

    Raises:
      InputError: for an unknown name.
    """
    s = spec(name)
    if name not in _BUILT:
        _BUILT[name] = s.make()
    return _BUILT[name]


def default_taps(name: str, method: str = POINT_TRANSFER) -> tuple[str, ...]:
    """The taps `method` reads on backbone `name` when its config leaves them unset.

    Args:
      name: a registered backbone name.
      method: the method whose default is wanted (`POINT_TRANSFER`, ...).

    Returns:
      The spec's `default_taps[method]`, else a 1-tuple of the backbone's last spatial tap.
    """
    s = spec(name)
    return tuple(s.default_taps[method]) if method in s.default_taps else get(name).spatial_taps[-1:]


def register(name: str, model: Any, params: Params | None = None, *, taps: Mapping[str, Any] | Sequence[str],
             preprocess: str | Callable[[np.ndarray], np.ndarray] = "torchvision",
             weights: str | None = None, sha256: str | None = None, input_size: tuple[int, int] = (224, 224),
             roles: Mapping[str, str] | None = None, default_taps: Mapping[str, tuple[str, ...]] | None = None,
             replace: bool = False) -> Backbone:
    """Register a user's network under `name`: `transfer_points`, `features.extract`, the experiments and the
    command line (`--backbone NAME`, after `--backbone-module` imports the file that calls this) then use it.

    The network is traced once here on a [1, h, w, 3] input of `input_size` (`trace.trace`: shapes only, nothing
    computed; its parameters' shapes from `params` or the module's init): the taps it returns and their names,
    each map's stride from the output shapes (a second trace on a larger input), and each receptive field's size
    and offset from the traced convolutions, pools, pads and slices (the recurrences of `receptive_field`). What
    `taps` leaves out is taken from the trace; what it gives is checked, and each mismatch (a tap the network does
    not return, an output that is not a dict of taps, a map declared a vector, a stride, size or offset other than
    the network's) is one InputError line naming the backbone and the tap. Not traced: an apply function
    registered with a weight file and no `params` (its parameter shapes are in the file); its taps then need
    (size, stride[, offset]).

    Args:
      name: the new backbone name.
      model: a `flax.linen.Module` returning {tap: array} from preprocessed float32 images [N, H, W, 3], or an
        apply function `apply(params, x) -> {tap: array}` (`spec.custom_backbone`).
      params: its parameters (for a Flax module: the variables `model.init` returns); None: from `weights`, or
        the module's own initialisation (weights="random" draws it too).
      taps: the taps to use, in network order: their names alone (a sequence: maps or vectors, strides and
        receptive fields all from the trace), or tap -> None (a vector tap), a stride in input pixels (int: size
        and offset traced), (size, stride[, offset]) or an `RF` (offset left out: traced, else (size - 1) / 2).
      preprocess: "torchvision", "caffe" or a function uint8 RGB [N, H, W, 3] -> float32 [N, H, W, 3].
      weights: a weight file instead of `params`: an orbax folder (`weights.save_params`) or a Flax msgpack file
        (`flax.serialization.to_bytes`), read when first used.
      sha256: the weight file's sha256 (checked when read; None: not checked).
      input_size: (h, w) of its training crop, in pixels.
      roles: paper role names -> tap names (optional; each a tap of `taps`, else InputError).
      default_taps: method -> taps or roles (`spec.POINT_TRANSFER`: point transfer's hyperpixels; default the
        last spatial tap; an unknown name: InputError).
      replace: replace a backbone of the same name.

    Returns:
      The registered `Backbone`.
    """
    _discover()
    if params is not None and weights is not None:
        raise InputError(name, "weights", "none when params are given", weights)
    declared = dict(taps) if isinstance(taps, Mapping) else {t: TRACED for t in ([taps] if isinstance(taps, str)
                                                                                 else taps)}
    held = None if params is None else (lambda: params)
    bb = custom_backbone(name, model, _traced_geometry(name, model, params, declared,
                                                         (input_size[0], input_size[1])),
                         preprocess, input_size, roles, params=held)
    _check_names(bb, default_taps or {})
    _SPECS.register(name, BackboneSpec(name, lambda: bb, (FileSource(str(weights), sha256),) if weights else (),
                                       dict(default_taps or {}), held), replace)
    _BUILT.pop(name, None)
    return get(name)


def _check_names(bb: Backbone, default_taps: Mapping[str, Sequence[str]]) -> None:
    """InputError naming the backbone and the entry for a role mapped to no tap of `bb`, or a default tap that is
    neither a tap nor a role (else refused only when first used, naming the tap a role stands for)."""
    for role, tap in bb.roles.items():
        if tap not in bb.taps:
            raise InputError(bb.name, f"roles[{role!r}]", f"a tap of {bb.name} ({', '.join(bb.taps)})", tap)
    for method, names in default_taps.items():
        resolve_taps(bb, names, f"default_taps[{method!r}]")


def _traced_geometry(name: str, model, params: Params | None, taps: dict[str, Any],
                     input_size: tuple[int, int]) -> dict[str, Any]:
    """`taps` completed and checked by a trace of `model` (`trace.geometry`); as given when it cannot be traced
    (an apply function without `params`)."""
    import jax
    import jax.numpy as jnp

    is_module = hasattr(model, "init") and hasattr(model, "apply")
    if params is None and not is_module:
        for tap, value in taps.items():
            if value is not None and (isinstance(value, (int, str)) or len(value) < 2):
                raise InputError(name, f"taps[{tap!r}]", "(size, stride[, offset]) in pixels (an apply function "
                                 "registered without params is not traced)", value)
        return taps
    if params is None:
        x = jnp.zeros((1, *input_size, 3), jnp.float32)
        try:
            params = jax.eval_shape(lambda: model.init(jax.random.key(0), x))
        except Exception as e:  # noqa: BLE001 (the module's own error, reported in one line)
            raise InputError(name, "model", f"a Flax module whose init runs on a float32 {list(x.shape)} input",
                             f"{type(e).__name__}: {e}") from None
    return geometry(name, taps, trace(name, model.apply if is_module else model, params, input_size))


def check_trace(name: str) -> dict[str, RF | None]:
    """Backbone `name`'s taps and receptive fields checked against its traced network (`trace.trace` on its
    default input size; parameter shapes from its registered params or its init: nothing drawn or read).

    Args:
      name: a registered backbone name.

    Returns:
      tap -> its traced `RF` (None for a vector tap), equal to `get(name).geometry`.

    Raises:
      InputError: naming the backbone and the tap for any mismatch (`trace.geometry`), and for a user's apply
        function registered with a weight file alone (no init to take shapes from).
    """
    import jax

    bb, s = get(name), spec(name)
    params = s.params() if s.params is not None else jax.eval_shape(lambda: bb.init(jax.random.key(0)))
    traced = trace(name, lambda p, x: bb.apply(p, x, taps=bb.taps), params, bb.default_input_size)
    return geometry(name, {t: bb.geometry.get(t) for t in bb.taps}, traced)


def unregister(name: str) -> None:
    """Remove a user's backbone (a built-in one comes back on the next lookup only in a new process).

    Args:
      name: the registered name (nothing happens for an unknown one).

    Returns:
      None.
    """
    _SPECS.unregister(name)
    _BUILT.pop(name, None)


def _backbone(backbone: Backbone | str) -> Backbone:
    return get(backbone) if isinstance(backbone, str) else backbone


def resolve_tap(backbone: Backbone | str, name: str, field: str = "tap") -> str:
    """The tap of `backbone` for `name`: a paper role name mapped through `backbone.roles`, or one of its own taps.

    Args:
      backbone: a `Backbone` or a registered name.
      name: a role (conv1..conv5, pool5, fc6, fc7) or one of the backbone's tap names.
      field: the field errors name.

    Returns:
      The backbone's tap name.

    Raises:
      InputError: naming `field` and listing the roles and taps, for any other name.
    """
    bb = _backbone(backbone)
    if name in bb.roles:
        return bb.roles[name]
    if name in bb.taps:
        return name
    raise InputError(bb.name, field, f"a role ({', '.join(bb.roles)}) or a tap of {bb.name} ({', '.join(bb.taps)})",
                     name)


def resolve_taps(backbone: Backbone | str, names: str | Sequence[str], field: str = "taps") -> tuple[str, ...]:
    """`resolve_tap` for each of `names`; order kept, duplicates removed.

    Args:
      backbone: a `Backbone` or a registered name.
      names: a sequence of role or tap names, or one comma-separated string.
      field: the field errors name.

    Returns:
      The backbone's tap names, in order, each once.
    """
    if isinstance(names, str):
        names = [n for n in names.split(",") if n.strip()]
    taps = tuple(dict.fromkeys(resolve_tap(backbone, n.strip(), field) for n in names))
    if not taps:
        raise InputError(_backbone(backbone).name, field, "at least one role or tap name", "none")
    return taps


def _spatial_for(bb: Backbone, tap: str) -> str:
    """`tap` if spatial, else the last spatial tap before it (a global vector is computed from that map)."""
    if tap in bb.geometry:
        return tap
    before = [t for t in bb.taps[: bb.taps.index(tap)] if t in bb.geometry]
    return before[-1] if before else bb.spatial_taps[-1]


@functools.cache
def _min_side(bb: Backbone, tap: str) -> int:
    spatial = _spatial_for(bb, tap)
    lo, hi = 1, MAX_SIDE_SEARCHED
    if min(bb.grid_size(spatial, (hi, hi))) < 1:
        return hi
    while lo < hi:  # the map side grows with the input side: bisect for the first side giving a 1 x 1 map
        mid = (lo + hi) // 2
        if min(bb.grid_size(spatial, (mid, mid))) >= 1:
            hi = mid
        else:
            lo = mid + 1
    return lo


def min_input_side(backbone: Backbone | str, tap: str) -> int:
    """Smallest input side on which `tap` gives at least a 1 x 1 map (geometry only: nothing is compiled).

    For a vector tap, that of the last spatial tap before it. Fixed-size layers (Caffe fc6 on a 227 px flattened
    pool5) are not accounted for.

    Args:
      backbone: a `Backbone` or a registered name.
      tap: a tap or role name.

    Returns:
      The side in pixels of a square input.
    """
    bb = _backbone(backbone)
    return _min_side(bb, resolve_tap(bb, tap))


def check_input_side(backbone: Backbone | str, tap: str, side: int, source: str, field: str) -> None:
    """InputError naming `source` / `field` unless a `side` px input is at least `min_input_side(backbone, tap)`.

    Args:
      backbone: a `Backbone` or a registered name.
      tap: a tap or role name.
      side: the input side in pixels.
      source, field: where the side came from, for the error.

    Returns:
      None.
    """
    bb = _backbone(backbone)
    need = min_input_side(bb, tap)
    if need >= MAX_SIDE_SEARCHED and min(bb.grid_size(_spatial_for(bb, resolve_tap(bb, tap)), (need, need))) < 1:
        raise InputError(bb.name, "map sizes", f"the sizes of {bb.name}'s maps, to check {field} against (register "
                         "it with its params, or as a flax.linen.Module: an apply function with a weight file alone "
                         "has none until loaded)", "unknown")
    if int(side) < need:
        raise InputError(source, field, f">= {need} px (the smallest input of {bb.name} {tap})", side)
