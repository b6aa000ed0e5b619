"""A projection of frozen hyperpixels learned across known warps, without labels.

    H = frame_warp(np.random.default_rng(0), 224, WarpConfig(scale_min=0.7, scale_max=1.4))
    target, valid = node_targets(grid_xy, H, stride)             # each source node's node in the warped frame
    params, losses = train_projection(fs, ft, target, valid, jax.random.PRNGKey(0), ProjectionTrainConfig())
    g = project(params, feats)                                   # [..., D] L2-normalised, matched instead of feats

A photo's frame and its image under a random homography (scale, rotation, flip, perspective tilt, shift:
`frame_warp`, the ranges of `data.warped_pairs.WarpConfig`) give exact node correspondences (`node_targets`). A
small map of the concatenated frozen hyperpixels is trained so that a source node's projected column is closest to
that of its warped node among all the warped frame's nodes (InfoNCE, temperature `tau`):

- "lowrank": g = f + U V^T f (C -> C, U [C, r] zero at the start: the identity, so matching starts as without it);
- "linear": g = W^T f (C -> D, W [C, D] the top D principal directions of the training columns at the start).

g is L2-normalised per node. A trained projection is an .npz (`save_projection`) read by `_load_projection` (a
file, or the name of one shipped in `projections/` and checked against its sha256); `PointTransferConfig`'s
`projection` applies it before matching (`project_features`).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

from convcorr_jax.core.config import check_fields, check_types
from convcorr_jax.core.errors import InputError, check_shape
from convcorr_jax.core.io import atomic_path, sha256_file
from convcorr_jax.core.knn import l2_normalize
from convcorr_jax.core.progress import bar
from convcorr_jax.data.warped_pairs import WarpConfig, homography_about
from convcorr_jax.weights.fetch import check_sha256

KINDS = ("lowrank", "linear")
# Projections shipped in `projections/` (name -> sha256 of its .npz); none shipped (bench/RESULTS_real.md).
SHIPPED: dict[str, str] = {}
PROJECTIONS_DIR = Path(__file__).with_name("projections")


@dataclasses.dataclass(frozen=True)
class ProjectionTrainConfig:
    """kind: "lowrank" (f + U V^T f) or "linear" (W^T f, PCA start); dim: the rank r or the output D; tau: InfoNCE
    temperature; steps, batch (pairs per step), nodes (source nodes drawn per pair and step), lr (Adam),
    decay: L2 weight on U (lowrank) or on W minus its start (linear)."""

    kind: str = "lowrank"
    dim: int = 64
    tau: float = 0.1
    steps: int = 300
    batch: int = 8
    nodes: int = 128
    lr: float = 1e-3
    decay: float = 0.0

    def __post_init__(self):
        check_types(self, "ProjectionTrainConfig")
        if self.kind not in KINDS:
            raise InputError("ProjectionTrainConfig", "kind", f"one of {list(KINDS)}", self.kind)
        check_fields(self, finite=("dim", "steps", "batch", "nodes"), source="ProjectionTrainConfig")  # int(inf)
        for name in ("dim", "steps", "batch", "nodes"):
            if int(getattr(self, name)) < 1:
                raise InputError("ProjectionTrainConfig", name, "an integer >= 1", getattr(self, name))
        check_fields(self, positive=("tau", "lr"), nonnegative=("decay",), finite=("tau", "lr", "decay"),
                     source="ProjectionTrainConfig")


def frame_warp(rng: np.random.Generator, size: int, cfg: WarpConfig = WarpConfig()) -> np.ndarray:
    """A random homography of a size x size frame onto itself, about the frame's centre.

    H = T(c + d) . R(theta) . S(s) . F . P . T(-c) with c the centre and the ranges of `cfg` (its margin and
    background unused; the tilt is per frame side, as `warped_pairs` scales it per object side).

    Args:
        rng: the numpy Generator (the only randomness); draws scale, rotation, flip, tilt, shift in that order.
        size: the frame's side in pixels.
        cfg: the ranges.

    Returns:
        float64 numpy [3, 3] H: frame pixels -> warped frame pixels ((x, y) 0-based).
    """
    c = (size - 1) / 2
    return homography_about(rng, (c, c), size, (size, size), cfg)


def node_targets(grid_xy: np.ndarray, H: np.ndarray, stride: float) -> tuple[np.ndarray, np.ndarray]:
    """Each node's nearest node after the warp H, and whether it lands on the node grid.

    Args:
        grid_xy: [h, w, 2] (x, y) frame pixels of a separable node grid.
        H: [3, 3] frame -> warped frame pixels.
        stride: pixels between nodes.

    Returns:
        (target int32 numpy [h * w]: row-major index of the nearest warped-frame node; valid bool numpy [h * w]:
        positive homogeneous weight and within half a stride of the grid's outer nodes).
    """
    check_shape(grid_xy, "h w 2", "node_targets", "grid_xy")
    check_shape(H, "3 3", "node_targets", "H")
    grid_xy, H = np.asarray(grid_xy), np.asarray(H, np.float64)  # jax arrays in: `valid` was a jax array
    p = grid_xy.reshape(-1, 2).astype(np.float64)
    w = p @ H[2, :2] + H[2, 2]
    q = (p @ H[:2, :2].T + H[:2, 2]) / np.where(w > 0, w, 1.0)[:, None]
    xs, ys = grid_xy[0, :, 0], grid_xy[:, 0, 1]
    ix = np.abs(q[:, :1] - xs[None]).argmin(1)
    iy = np.abs(q[:, 1:] - ys[None]).argmin(1)
    half = stride / 2
    valid = ((w > 0) & (q[:, 0] >= xs[0] - half) & (q[:, 0] <= xs[-1] + half)
             & (q[:, 1] >= ys[0] - half) & (q[:, 1] <= ys[-1] + half))
    return (iy * len(xs) + ix).astype(np.int32), valid


def _init_projection(feats: np.ndarray, cfg: ProjectionTrainConfig, key: jax.Array) -> dict:
    """The projection's starting parameters.

    Args:
        feats: [M, C] sample feature columns (linear: their principal directions start W).
        cfg: kind and dim.
        key: PRNG key (lowrank: V's random start).

    Returns:
        lowrank: {"u": zeros [C, r], "v": normal / sqrt(C) [C, r]} (the identity); linear: {"w": [C, D]} the top D
        right singular vectors of the centred columns.
    """
    c = check_shape(feats, "M C", "init_projection", "feats", dtype="float")["C"]
    if cfg.kind == "lowrank":
        return {"u": jnp.zeros((c, cfg.dim), jnp.float32),
                "v": jax.random.normal(key, (c, cfg.dim), jnp.float32) / np.float32(np.sqrt(c))}  # float32 (x64)
    if cfg.dim > min(feats.shape):
        raise InputError("init_projection", "dim", f"at most {min(feats.shape)} (columns, channels)", cfg.dim)
    x = np.asarray(feats, np.float64)
    _, _, vt = np.linalg.svd(x - x.mean(0), full_matrices=False)
    return {"w": jnp.asarray(vt[:cfg.dim].T, jnp.float32)}


def project(params: dict, feats: jax.Array | np.ndarray) -> jax.Array:
    """Projected, L2-normalised feature columns.

    Args:
        params: {"u", "v"} (lowrank) or {"w"} (linear), as `_init_projection` / `train_projection` return.
        feats: [..., C] columns (jax or numpy).

    Returns:
        float32 jax array [..., C] (lowrank) or [..., D] (linear), unit norm per column (zero columns stay zero).
    """
    f = jnp.asarray(feats, jnp.float32)
    p = {k: jnp.asarray(v, jnp.float32) for k, v in params.items()}  # float32 under jax_enable_x64 too
    g = f + (f @ p["v"]) @ p["u"].T if "u" in p else f @ p["w"]
    return l2_normalize(g, 1e-12)  # grad-safe at zero columns (an all-zero feature column is common after a ReLU)


def _info_nce(params: dict, fs: jax.Array, ft: jax.Array, target: jax.Array, valid: jax.Array,
             tau: float) -> jax.Array:
    """InfoNCE of source columns against every column of their warped frames, mean over valid ones.

    Args:
        params: the projection (`project`).
        fs: [B, K, C] source node columns; ft: [B, N, C] every node column of the warped frames.
        target: int [B, K] each source column's node in ft; valid: bool [B, K] the columns that count.
        tau: the temperature.

    Returns:
        float32 scalar: -mean log softmax_n(g_s . g_t,n / tau)[target] over the valid columns (0 without any).
    """
    gs, gt = project(params, fs), project(params, ft)
    logits = jnp.einsum("bkc,bnc->bkn", gs, gt) / tau
    logp = jax.nn.log_softmax(logits, -1)
    picked = jnp.take_along_axis(logp, target[..., None], -1)[..., 0]
    v = valid.astype(jnp.float32)
    return -jnp.sum(picked * v) / jnp.maximum(jnp.sum(v), 1.0)


def match_rate(params: dict | None, fs: np.ndarray, ft: np.ndarray, target: np.ndarray, valid: np.ndarray) -> float:
    """Share of valid source nodes whose most similar warped-frame node is their own warped node.

    Args:
        params: the projection, or None (the columns L2-normalised only).
        fs, ft: [P, N, C] source and warped frames' node columns.
        target, valid: int [P, N], bool [P, N] (`node_targets`).

    Returns:
        The top-1 match rate in [0, 1] (NaN without valid nodes).
    """
    dims = check_shape(fs, "P N C", "match_rate", "fs")
    check_shape(ft, "P N C", "match_rate", "ft", dims)
    hits = total = 0
    for p in range(len(fs)):
        a, b = (jnp.asarray(x, jnp.float32) for x in (fs[p], ft[p]))
        if params is None:
            a, b = (x / jnp.maximum(jnp.linalg.norm(x, axis=-1, keepdims=True), 1e-12) for x in (a, b))
        else:
            a, b = project(params, a), project(params, b)
        best = np.asarray(jnp.argmax(a @ b.T, -1))
        hits += int(np.sum((best == target[p]) & valid[p]))
        total += int(np.sum(valid[p]))
    return hits / total if total else float("nan")


def _penalty(params: dict, start: dict, decay: float) -> jax.Array:
    """decay x the squared distance of the parameters from the identity (U) or from the start (W)."""
    d = params["u"] if "u" in params else params["w"] - start["w"]
    return decay * jnp.sum(d * d)


def train_projection(fs: np.ndarray, ft: np.ndarray, target: np.ndarray, valid: np.ndarray, key: jax.Array,
                     cfg: ProjectionTrainConfig = ProjectionTrainConfig(), progress: bool = False
                     ) -> tuple[dict, np.ndarray]:
    """Train the projection with Adam on InfoNCE over warped pairs (`_info_nce`).

    Each step draws `cfg.batch` pairs and `cfg.nodes` source nodes of each (with replacement, invalid ones masked).

    Args:
        fs, ft: [P, N, C] node columns of the source frames and of their warped frames (any float dtype).
        target, valid: int [P, N], bool [P, N] each source node's warped node and whether it counts.
        key: PRNG key (the start, then each step's draws).
        cfg: the settings.
        progress: a progress bar over the steps.

    Returns:
        (params {"u", "v"} or {"w"} of float32 jax arrays, losses float32 numpy [steps]).
    """
    dims = check_shape(fs, "P N C", "train_projection", "fs", dtype="float")
    check_shape(ft, "P N C", "train_projection", "ft", dims, dtype="float")
    check_shape(target, "P N", "train_projection", "target", dims, dtype="int")
    check_shape(valid, "P N", "train_projection", "valid", dims, dtype="bool")
    key, k0, k1 = jax.random.split(key, 3)
    n = dims["P"] * dims["N"]
    flat = np.asarray(jax.random.choice(k1, n, (min(4096, n),), replace=False))
    sample = np.asarray(np.asarray(fs).reshape(n, -1)[flat], np.float32)
    params = _init_projection(sample, cfg, k0)
    start = dict(params)
    opt = optax.adam(cfg.lr)
    state = opt.init(params)
    loss_fn = lambda p, a, b, t, v: _info_nce(p, a, b, t, v, cfg.tau) + _penalty(p, start, cfg.decay)
    step = jax.jit(lambda p, s, *batch: _adam_step(opt, loss_fn, p, s, batch))
    losses = np.zeros(cfg.steps, np.float32)
    for i in bar(range(cfg.steps), desc=f"train {cfg.kind} {cfg.dim}", disable=not progress):
        key, kp, kn = jax.random.split(key, 3)
        pairs = np.asarray(jax.random.randint(kp, (cfg.batch,), 0, dims["P"]))
        nodes = np.asarray(jax.random.randint(kn, (cfg.batch, cfg.nodes), 0, dims["N"]))
        rows = pairs[:, None]
        params, state, loss = step(params, state, jnp.asarray(fs[rows, nodes], jnp.float32),
                                   jnp.asarray(ft[pairs], jnp.float32), jnp.asarray(target[rows, nodes]),
                                   jnp.asarray(valid[rows, nodes]))
        losses[i] = float(loss)
    return params, losses


def _adam_step(opt, loss_fn, params: dict, state, batch: tuple) -> tuple[dict, object, jax.Array]:
    """One optimiser step of loss_fn(params, *batch): (new params, new state, the loss before the step)."""
    loss, grads = jax.value_and_grad(loss_fn)(params, *batch)
    updates, state = opt.update(grads, state, params)
    return optax.apply_updates(params, updates), state, loss


def save_projection(path: str | os.PathLike, params: dict, meta: dict) -> str:
    """Write a projection as .npz (float32 arrays and a JSON "meta" string), atomically.

    Args:
        path: the file (".npz").
        params: {"u", "v"} or {"w"} (other names: InputError).
        meta: JSON-serialisable facts (the networks and taps it was trained on, the data, the settings).

    Returns:
        The file's sha256 (hex).
    """
    if set(params) not in ({"u", "v"}, {"w"}):  # what `_load_projection` reads; never np.savez's file / allow_pickle
        raise InputError("save_projection", "params", "u and v (lowrank) or w (linear)", sorted(params))
    arrays = {k: np.asarray(v, np.float32) for k, v in params.items()}
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        meta_ = np.array(json.dumps(meta, sort_keys=True))
        np.savez(f, meta=meta_, **arrays)  # type: ignore[arg-type]  # numpy's stub: a ** name could be allow_pickle
    return sha256_file(path)


def _load_projection(name: str, sha256: str | None = None) -> tuple[dict, dict]:
    """A projection file's (params, meta); the name of a shipped one is checked against `SHIPPED`.

    Args:
        name: a name of `SHIPPED` (its file in `PROJECTIONS_DIR`) or the path of an .npz.
        sha256: the hash the file must have (None: `SHIPPED`'s for a shipped name, else unchecked).

    Returns:
        ({"u", "v"} or {"w"}: float32 jax arrays, meta dict).

    Raises:
        InputError: an unknown name, a missing file, or a file whose sha256 is not the expected one.
    """
    path = PROJECTIONS_DIR / f"{name}.npz" if name in SHIPPED else Path(name)
    expected = sha256 if sha256 is not None else SHIPPED.get(name)
    if not path.is_file():
        raise InputError("projection", "name", f"a shipped projection {sorted(SHIPPED)} or an .npz file", name)
    if expected is not None:
        check_sha256(path, expected)
    with np.load(path) as z:
        params = {k: jnp.asarray(z[k], jnp.float32) for k in z.files if k != "meta"}
        meta = json.loads(str(z["meta"])) if "meta" in z.files else {}
    if set(params) not in ({"u", "v"}, {"w"}):
        raise InputError(str(path), "arrays", "u and v (lowrank) or w (linear)", sorted(params))
    return params, meta


@functools.lru_cache(maxsize=4)
def _loaded(name: str) -> tuple[dict, dict]:
    return _load_projection(name)


def project_features(feats: np.ndarray, name: str) -> np.ndarray:
    """Frames' node features through the projection `name` (`_load_projection`, read once per process).

    Args:
        feats: [N, h, w, C] concatenated hyperpixels (C: the projection's input channels).
        name: a shipped projection's name or an .npz path.

    Returns:
        float32 numpy [N, h, w, D] projected, L2-normalised per node.

    Raises:
        InputError: a projection trained on another number of channels.
    """
    params, meta = _loaded(str(name))
    lowrank = "u" in params
    c = params["v"].shape[0] if lowrank else params["w"].shape[0]
    d = c if lowrank else params["w"].shape[1]
    check_shape(feats, ["N", "h", "w", c], "projection", "features", note=f"(trained on {meta.get('networks')})")
    out = [np.asarray(project(params, feats[i:i + 16])) for i in range(0, len(feats), 16)]
    return np.concatenate(out) if out else np.zeros((*feats.shape[:3], d), np.float32)
