"""A trained pose model's coarse heat-map network as an ONNX file, for runtimes without JAX (onnxruntime, ...).

    run = convcorr_jax.pose.load("flic")                     # a shipped model, a model folder or a run folder
    info = export_onnx(run, "flic_coarse.onnx", batch=4)     # {"inputs", "outputs", "stride", "names", ...}

The file computes `model.apply_coarse(params, images, cfg)[0]` with the parameters baked in as constants:
  input  "images"     float32 [batch, S, S, 3], RGB in [0, 1], NHWC (S = cfg.image_size; the batch is fixed)
  output "coarse_hm"  float32 [batch, S / pool, S / pool, K], one heat-map per joint (`info["names"]`, in order)
Heat-map cell (i, j) of joint k is centred on input pixel (x, y) = `heatmaps.map_to_image((j, i), pool)`; the
points are read out in the library: `heatmaps.map_to_image(heatmaps.subpixel_argmax(hm), pool)` gives the sub-cell
arg-max (x, y) of each joint in the input's pixels [batch, K, 2] (`predict`'s "coarse_refined" read-out).

Not exported, and why (`NOT_EXPORTED`): the fine model ("fine_hm", "origin" of `model.apply`). Its crop module cuts
a window around each joint's coarse arg-max with `jax.lax.dynamic_slice`, which `vmap` turns into a batched gather
that jax2onnx 0.17 cannot lower. The read-outs (arg-max, sub-cell refinement, the spatial model) stay in the
library too.

The network is traced by JAX first (`jax.make_jaxpr`) and jax2onnx converts that trace, so it sees JAX's own
primitives: `jax.image.resize` (the coarse models' upsampling), which jax2onnx's own resize lowering refuses with
`antialias=True`, arrives as the matrix products JAX computes it with. Every step of the trace that depends on the
parameters alone (batch-norm folding, kernel reshapes, ...) is computed once before the conversion (`_fold`): the
file holds its results, and jax2onnx, whose time grows with the square of the number of steps, converts the rest.
jax2onnx is an optional dependency (the `onnx` extra), imported only when a file is exported. What it says while
it loads and converts (its plugin loader logs a traceback for each example plugin whose own dependencies, equinox or
dm_pix, are absent: hundreds of lines) never reaches the user (`_foreign_quiet`); a conversion that fails is one
InputError line naming the exception and where in jax2onnx it was raised.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import traceback
import warnings
from contextlib import contextmanager
from io import StringIO
from pathlib import Path
from typing import Any, Callable, Iterator

import jax
import jax.numpy as jnp
from jax.extend.core import ClosedJaxpr, JaxprEqn, Literal

from convcorr_jax.core import io
from convcorr_jax.core.errors import InputError
from convcorr_jax.core.optional import require
from convcorr_jax.pose import model as pose_model
from convcorr_jax.pose.estimation import PoseModel

OPSET = 17  # ONNX opset of the file: onnxruntime >= 1.11 and most other runtimes read it
INPUT, OUTPUT = "images", "coarse_hm"
NOT_EXPORTED = ("fine model (fine_hm, origin) not exported: its crop module (jax.lax.dynamic_slice at each joint's "
                "coarse arg-max, batched by vmap into a gather) has no jax2onnx 0.17 lowering")


_QUIET = threading.RLock()  # held by `_foreign_quiet`: the state it replaces is the process's


@contextmanager
def _foreign_quiet() -> Iterator[StringIO]:
    """Inside the block nothing reaches the user from another library: what is written to sys.stdout and sys.stderr
    goes to the yielded buffer, warnings are ignored, logging is off (every logger, in every thread, for the block's
    seconds), and a handler the block adds to the root logger (jax2onnx's `logging.info` calls
    `logging.basicConfig`) is removed after it. Python's own streams only: output of native code to the file
    descriptors is not caught (jax2onnx's conversion has none). One block at a time in the process (a lock): each
    puts back the streams, filters and logging it found, so blocks overlapping in several threads would put back
    one another's."""
    with _QUIET:
        said, root = StringIO(), logging.getLogger()
        handlers, disabled = list(root.handlers), logging.root.manager.disable
        logging.disable(logging.CRITICAL)
        try:
            with warnings.catch_warnings(), contextlib.redirect_stdout(said), contextlib.redirect_stderr(said):
                warnings.simplefilter("ignore")
                yield said
        finally:
            logging.disable(disabled)
            for h in [h for h in root.handlers if h not in handlers]:
                root.removeHandler(h)


def _failure(e: Exception) -> InputError:
    """A conversion's exception as one line: its type, its message's first line and where in jax2onnx it was
    raised."""
    frames = traceback.extract_tb(e.__traceback__)
    inside = [f for f in frames if "jax2onnx" in f.filename] or frames
    where = ""
    if inside:
        f = inside[-1]
        name = f.filename[f.filename.rfind("jax2onnx"):] if "jax2onnx" in f.filename else os.path.basename(f.filename)
        where = f" (raised at {name}:{f.lineno})"
    first = (str(e).strip().splitlines() or [""])[0][:200]
    return InputError("export_onnx", "run", "a coarse network jax2onnx can convert",
                      f"{type(e).__name__}{': ' + first if first else ''}{where}")


def _bind(eqn: JaxprEqn, read: Callable[[Any], Any]) -> list[Any]:
    """The outputs of one step of a trace, its inputs read by `read` (as `jax.core.eval_jaxpr` runs a step)."""
    out = eqn.primitive.bind(*map(read, eqn.invars), **eqn.primitive.get_bind_params(eqn.params))
    return list(out) if eqn.primitive.multiple_results else [out]


def _fold(traced: ClosedJaxpr) -> Callable[..., list[Any]]:
    """`traced` as a function of its inputs, the steps that read only its constants computed now (constant
    folding): the function runs the other steps alone, on the values computed here."""
    jaxpr = traced.jaxpr
    known: dict[Any, Any] = dict(zip(jaxpr.constvars, traced.consts))
    live = []
    for eqn in jaxpr.eqns:
        if all(isinstance(v, Literal) or v in known for v in eqn.invars):
            known.update(zip(eqn.outvars, _bind(eqn, lambda v: v.val if isinstance(v, Literal) else known[v])))
        else:
            live.append(eqn)

    def run(*args: Any) -> list[Any]:
        env = {**known, **dict(zip(jaxpr.invars, args))}
        read = lambda v: v.val if isinstance(v, Literal) else env[v]
        for eqn in live:
            env.update(zip(eqn.outvars, _bind(eqn, read)))
        return [read(v) for v in jaxpr.outvars]

    return run


def _check_not_theirs(path: Path) -> None:
    """InputError unless `path` is absent or a file `export_onnx` wrote before (one input `INPUT`, one output
    `OUTPUT`): a user's other file is never replaced."""
    if not (path.exists() or path.is_symlink()):
        return
    onnx = require("onnx", "onnx", "convcorr_jax.pose.export.onnx_file")
    try:
        graph = onnx.load_model(str(path), load_external_data=False).graph
        ours = [i.name for i in graph.input] == [INPUT] and [o.name for o in graph.output] == [OUTPUT]
    except Exception:  # noqa: BLE001 (not an ONNX file: whatever the protobuf parser raises)
        ours = False
    if not ours:
        raise InputError(path, "path", "a new file, or an ONNX file export_onnx wrote before",
                         "an existing file that is not one; nothing was written: give another path, or move it")


def export_onnx(run: PoseModel, path: str | os.PathLike, batch: int = 1) -> dict[str, Any]:
    """Write `run`'s coarse heat-map network to `path` as ONNX (atomically; module docstring for the graph) and
    describe it.

    While jax2onnx loads and converts (seconds), the process's sys.stdout and sys.stderr are redirected to a buffer,
    logging is off and warnings are ignored, for every thread of the program; all come back after it, also on an
    error. Exports in several threads convert one at a time.

    Args:
      run: the loaded model (`load`); its parameters are baked into the file as constants.
      path: the .onnx file to write.
      batch: the file's fixed batch size (>= 1).

    Returns:
      {"path", "model" (the run's name or folder), "opset", "batch", "image_size" (S, pixels), "stride" (pool:
      input pixels per heat-map cell), "names" [K], "inputs" {"images": [batch, S, S, 3]}, "outputs"
      {"coarse_hm": [batch, S / pool, S / pool, K]}, "dtype" ("float32"), "bytes" (the file's size),
      "not_exported" [one line per part left out, with the reason]}.

    Raises:
      InputError: a bad batch or path (also one inside the model's own folder, `run.path`: its files are the
        model's, never written over; an existing file that is not an ONNX file this function wrote); a network
        jax2onnx fails to convert (one line: the exception, where in jax2onnx; the exception chained);
        `optional.MissingExtra` (an InputError) without jax2onnx.
    """
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise InputError(None, "batch", "an integer >= 1 (the file's fixed batch size)", batch)
    io.check_writable(path, "path")
    folder, written = Path(run.path).resolve(), Path(path).absolute().parent.resolve() / Path(path).name
    if folder.is_dir() and folder in written.parents:  # (a link at `path` is replaced, not written through)
        raise InputError(path, "path", f"a file outside the model's folder {run.path} (it holds the model's files)",
                         "a path inside it")
    with _foreign_quiet():
        j2o = require("jax2onnx", "onnx", "convcorr_jax.pose.export.onnx_file")
    _check_not_theirs(Path(path))
    cfg = run.config.model
    params = jax.tree_util.tree_map(jnp.asarray, run.params)
    spec = jax.ShapeDtypeStruct((batch, cfg.image_size, cfg.image_size, 3), jnp.float32)
    traced = jax.make_jaxpr(lambda images: pose_model.apply_coarse(params, images, cfg)[0])(spec)
    network = _fold(traced)
    try:
        with _foreign_quiet():  # jax2onnx's plugin loader, onnx_ir's warnings about constants it does not serialise
            proto = j2o.to_onnx(lambda images: network(images)[0], [spec], model_name="convcorr_pose_coarse",
                                opset=OPSET, input_names=[INPUT], output_names=[OUTPUT])
    except Exception as e:  # noqa: BLE001 (whatever the foreign library raises: one line, the cause chained)
        raise _failure(e) from e
    data = proto.SerializeToString()
    io.write_bytes(path, data)  # atomically (`io.atomic_path`): no half-written file at `path`
    s = cfg.map_size
    return {"path": str(path), "model": run.name or str(run.path), "opset": OPSET, "batch": batch,
            "image_size": cfg.image_size, "stride": cfg.pool, "names": list(run.names),
            "inputs": {INPUT: [batch, cfg.image_size, cfg.image_size, 3]},
            "outputs": {OUTPUT: [batch, s, s, cfg.num_joints]}, "dtype": "float32", "bytes": len(data),
            "not_exported": [NOT_EXPORTED]}


__all__ = ["INPUT", "NOT_EXPORTED", "OPSET", "OUTPUT", "export_onnx"]
