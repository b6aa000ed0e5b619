"""Feature locality visualisations (Long et al. section 2, Figures 1 and 2).

A patch database holds, for every image of a dataset and one layer, each feature column (dense over the
layer's grid) tied to the receptive-field centre it came from. It lives on disk:

    <dir>/features.npy  float32 [N, C]  (memory-mapped for `knn.topk_cosine_mmap`)
    <dir>/where.npy     int32 [N, 3]    (image index, col, row)
    <dir>/images.npy    uint8 [n_img, H, W, 3]
    <dir>/meta.json     backbone, role, tap, rf (size, stride, offset), grid size, count

Figure 1 replaces every stride x stride patch of a query image by the average of the centre patches of its
top-k database neighbours (cosine similarity); the "uniform rf" control instead averages k patches drawn
uniformly from the conv3-sized neighbourhood of the patch in the query itself. Figure 2 averages the whole
receptive fields of the k nearest neighbours of random seed features, then stretches the contrast.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
from PIL import Image

from convcorr_jax.core import io, knn
from convcorr_jax.backbones.base import Backbone, Params
from convcorr_jax.backbones.registry import resolve_tap
from convcorr_jax.core.errors import InputError, check, check_shape, is_int
from convcorr_jax.features.columns import extract_grids
from convcorr_jax.features.extract import extract
from convcorr_jax.core.optional import require
from convcorr_jax.core.parallel import pad_rows
from convcorr_jax.core.progress import bar as progress_bar

log = logging.getLogger(__name__)


def _build_database(images: np.ndarray, backbone, params, role: str, out_dir, batch_size: int = 16,
                   progress: bool = False) -> Path:
    """Dense features of `role` for the images written to `out_dir` (format in module doc).

    Features are written batch by batch into a memory-mapped .npy (renamed into place when complete).

    Args:
      images: uint8 RGB [n, H, W, 3].
      backbone, params: the network.
      role: a conv role (or tap name) of a spatial tap.
      out_dir: the database folder (created or overwritten).
      batch_size: images per forward pass.
      progress: a progress bar over the batches.

    Returns:
      out_dir, as a Path.
    """
    return build_databases(images, backbone, params, {role: out_dir}, batch_size, progress)[role]


def build_databases(images: np.ndarray, backbone: Backbone, params: Params, out_dirs: dict, batch_size: int = 16,
                    progress: bool = False) -> dict[str, Path]:
    """One database per role from a single forward pass per batch over all the roles' taps.

    Each folder gets the module-doc format; images.npy is written once and hard-linked into the other folders (copied
    where links are unsupported).

    Args:
      images: uint8 RGB [n, H, W, 3].
      backbone, params: the network.
      out_dirs: {role: folder}, each role a conv role (or tap name) of a spatial tap.
      batch_size: images per forward pass.
      progress: a progress bar over the batches.

    Returns:
      {role: folder Path}.

    Raises:
      InputError: images not uint8 [n, H, W, 3], a role that is not a spatial tap.
    """
    check_shape(images, "n H W 3", "build_databases", "images", dtype="uint8")
    images = np.asarray(images)
    taps = {role: resolve_tap(backbone, role, "roles") for role in out_dirs}
    for role, tap in taps.items():
        check(tap in backbone.geometry, backbone.name, "role", "a spatial tap", role)
    outs = {role: Path(d) for role, d in out_dirs.items()}
    n, h, w = images.shape[:3]
    grids = {role: backbone.grid_size(tap, (h, w)) for role, tap in taps.items()}
    unique_taps = tuple(dict.fromkeys(taps.values()))
    bs = max(1, min(batch_size, n))
    with contextlib.ExitStack() as stack:
        tmps = {role: stack.enter_context(io.atomic_path(out / "features.npy")) for role, out in outs.items()}
        mms: dict = {}
        bar = progress_bar(range(0, n, bs), desc=f"patch database {'+'.join(outs)}", unit="batch", disable=not progress)
        for s in bar:
            batch = images[s:s + bs]
            batch, real = pad_rows(batch, bs)  # keep one compiled shape
            feats = extract(backbone, params, batch, unique_taps, batch_size=bs, progress=False)
            for role, tap in taps.items():
                g = feats[tap][:real]
                per = g.shape[1] * g.shape[2]
                if role not in mms:
                    mms[role] = np.lib.format.open_memmap(tmps[role], mode="w+", dtype=np.float32,
                                                          shape=(n * per, g.shape[-1]))
                mms[role][s * per:(s + real) * per] = g.reshape(-1, g.shape[-1])
        for mm in mms.values():
            mm.flush()
        del mms
    first = None
    for role, out in outs.items():
        gh, gw = grids[role]
        img_idx, rows, cols = np.meshgrid(np.arange(n), np.arange(gh), np.arange(gw), indexing="ij")
        io.save_npy(out / "where.npy", np.stack([img_idx.ravel(), cols.ravel(), rows.ravel()], 1).astype(np.int32))
        _store_images(out / "images.npy", images, first)
        first = first or out / "images.npy"
        rf = backbone.geometry[taps[role]]
        io.write_json(out / "meta.json", {"backbone": backbone.name, "role": role, "tap": taps[role], "rf": {
            "size": rf.size, "stride": rf.stride, "offset": rf.offset}, "grid": [gh, gw], "count": n * gh * gw,
            "image_size": [h, w]})
        log.info("patch database %s: %d patches from %d images (%dx%d each) -> %s", role, n * gh * gw, n, gh, gw,
                 out)
    return outs


def _store_images(path: Path, images: np.ndarray, existing: Path | None) -> None:
    """images.npy at path: a hard link to `existing` (same content) when possible, else written."""
    if existing is not None and existing.resolve() != path.resolve():
        with io.atomic_path(path) as tmp:
            try:
                tmp.unlink()
                os.link(existing, tmp)
            except OSError:
                np.save(tmp, images)
        return
    io.save_npy(path, images)


def _load_database(path) -> dict:
    """Open a database folder.

    Args:
      path: the folder (`_build_database`).

    Returns:
      {"features": float32 [N, C] memmap, "where": int32 [N, 3] (image index, col, row), "images": uint8
      [n_img, H, W, 3] memmap, "meta": the meta.json dict, "path": Path}.

    Raises:
      InputError: no meta.json in the folder.
    """
    path = Path(path)
    meta_file = path / "meta.json"
    check(meta_file.is_file(), path, "meta.json", "a patch database folder (build_database)", "missing")
    meta = json.loads(meta_file.read_text())
    return {"features": np.load(path / "features.npy", mmap_mode="r"), "where": np.load(path / "where.npy"),
            "images": np.load(path / "images.npy", mmap_mode="r"), "meta": meta, "path": path}


def _centre(meta, col_row) -> np.ndarray:
    rf = meta["rf"]
    return rf["offset"] + np.asarray(col_row, np.float64) * rf["stride"]


def _extract_patches(images, img_idx, centres, size: int) -> np.ndarray:
    """size x size patches centred (nearest pixel) at the given points of the images; pixels outside repeat the edge.

    Args:
      images: uint8 [n, H, W, 3] (an array or a memmap).
      img_idx: int [M] the image of each patch.
      centres: [M, 2] (x, y) pixels.
      size: the patch side in pixels.

    Returns:
      float32 [M, size, size, 3] in 0..255.
    """
    images = np.asarray(images)
    h, w = images.shape[1:3]
    half = size // 2
    offs = np.arange(size) - half
    xs = np.clip(np.rint(centres[:, 0])[:, None].astype(int) + offs[None], 0, w - 1)  # [M, size]
    ys = np.clip(np.rint(centres[:, 1])[:, None].astype(int) + offs[None], 0, h - 1)
    out = np.empty((len(img_idx), size, size, 3), np.float32)
    for j, i in enumerate(img_idx):
        out[j] = images[i][ys[j][:, None], xs[j][None, :]]
    return out


def _reconstruct(query: np.ndarray, db: dict, backbone, params, k: int, batch_size: int = 8,
                progress: bool = False) -> np.ndarray:
    """Figure 1: a query rebuilt from stride-sized centre patches of its k nearest database features (cosine).

    Args:
      query: uint8 RGB [H, W, 3].
      db: an open database (`_load_database`).
      backbone, params: the network of the database.
      k: neighbours averaged per patch.
      batch_size: images per forward pass.
      progress: a progress bar over the kNN pass.

    Returns:
      float32 [H, W, 3] in 0..255 (pixels no patch covers stay 0).
    """
    return _reconstruct_many([query], db, backbone, params, (k,), batch_size, progress)[k][0]


def _reconstruct_many(queries: Sequence[np.ndarray], db: dict, backbone, params, ks: Sequence[int],
                     batch_size: int = 8, progress: bool = False) -> dict[int, list]:
    """`_reconstruct` for several query images and several k with one streamed kNN pass over the database.

    The pass finds the top max(ks); each top-k list is a prefix of it.

    Args:
      queries: uint8 RGB images [H, W, 3].
      db: an open database (`_load_database`).
      backbone, params: the network of the database.
      ks: the neighbour counts k.
      batch_size: images per forward pass.
      progress: a progress bar over the kNN pass.

    Returns:
      {k: [float32 [H, W, 3] in 0..255 per query]}.
    """
    meta = db["meta"]
    tap, stride = meta["tap"], meta["rf"]["stride"]
    grids = extract_grids(backbone, params, list(queries), [tap], batch_size)[tap]
    flat = np.concatenate([g.reshape(-1, g.shape[-1]) for g in grids])
    kmax = max(ks)
    _, idx = knn.topk_cosine_mmap(flat, db["path"] / "features.npy", kmax, progress=progress)
    idx = np.asarray(idx)
    out: dict[int, list] = {k: [] for k in ks}
    start = 0
    for q, g in zip(queries, grids):
        gh, gw = g.shape[:2]
        rows_idx = idx[start:start + gh * gw]
        start += gh * gw
        cols, rows = np.meshgrid(np.arange(gw), np.arange(gh))
        centres = _centre(meta, np.stack([cols.ravel(), rows.ravel()], 1))
        for k in ks:
            where = db["where"][rows_idx[:, :k].ravel()]
            patches = _extract_patches(db["images"], where[:, 0], _centre(meta, where[:, 1:]), stride)
            out[k].append(_paste(q.shape, centres, patches.reshape(gh * gw, k, stride, stride, 3).mean(1)))
    return out


def _uniform_rf_control(query: np.ndarray, rf_size: int, stride: int, offset: float, k: int, seed: int = 0,
                        grid_hw: tuple[int, int] | None = None):
    """The "uniform rf" column: each stride-sized patch replaced by the mean of k patches of the same image.

    The k patch centres are drawn uniformly from the rf_size x rf_size neighbourhood around the patch. The patches
    are those of a reconstruction's grid (`grid_hw`: the tap's feature map on the query), so the two leave the same
    pixels uncovered and their errors compare.

    Args:
      query: uint8 RGB [H, W, 3].
      rf_size: the neighbourhood side in pixels.
      stride, offset: the patch grid (pixels): centres offset + i * stride.
      k: patches averaged per patch.
      seed: the random seed.
      grid_hw: (rows, cols) of the patch grid; None: every centre inside the image.

    Returns:
      float32 [H, W, 3] in 0..255 (pixels no patch covers stay 0).
    """
    rng = np.random.default_rng(seed)
    h, w = query.shape[:2]
    gw = int(np.floor((w - 1 - offset) / stride)) + 1
    gh = int(np.floor((h - 1 - offset) / stride)) + 1
    if grid_hw is not None:
        gh, gw = grid_hw
    cols, rows = np.meshgrid(np.arange(gw), np.arange(gh))
    centres = offset + np.stack([cols.ravel(), rows.ravel()], 1) * float(stride)
    half = (rf_size - 1) / 2
    draws = centres[:, None, :] + rng.uniform(-half, half, (len(centres), k, 2))
    patches = _extract_patches(query[None], np.zeros(len(centres) * k, int), draws.reshape(-1, 2), stride)
    return _paste(query.shape, centres, patches.reshape(len(centres), k, stride, stride, 3).mean(1))


def _paste(shape, centres, patches) -> np.ndarray:
    h, w = shape[:2]
    size = patches.shape[1]
    out = np.zeros((h, w, 3), np.float32)
    half = size // 2
    for (x, y), p in zip(np.rint(centres).astype(int), patches):
        x0, y0 = x - half, y - half
        xa, ya = max(x0, 0), max(y0, 0)
        xb, yb = min(x0 + size, w), min(y0 + size, h)
        if xb > xa and yb > ya:
            out[ya:yb, xa:xb] = p[ya - y0:yb - y0, xa - x0:xa - x0 + (xb - xa)]
    return out


def rf_average(db: dict, seeds: Sequence[int] | np.ndarray, ks: Sequence[int]) -> np.ndarray:
    """Figure 2: for seed rows of the database, the mean receptive field of their k nearest neighbours.

    The seed itself is included, as rank 1; each mean is contrast-stretched to 0..1 (`_contrast_stretch`).

    Args:
      db: an open database (`_load_database`).
      seeds: int [S] rows of the database.
      ks: neighbour counts k (capped at the database's size).

    Returns:
      float32 [S, len(ks), r, r, 3] in 0..1, r the receptive-field size (pixels).

    Raises:
      InputError: a seed that is not an integer row of the database, ks empty or not integers >= 1.
    """
    meta = db["meta"]
    size = int(meta["rf"]["size"])
    _check_counts(ks, "rf_average", "ks")
    check(np.asarray(seeds).dtype.kind in "iu" and bool(np.all((np.asarray(seeds) >= 0)
          & (np.asarray(seeds) < meta["count"]))), "rf_average", "seeds",
          f"integer rows of the database in [0, {meta['count']})", np.asarray(seeds).tolist())
    q = np.asarray(db["features"][np.asarray(seeds)], np.float32)
    kmax = min(max(ks), meta["count"])
    _, idx = knn.topk_cosine_mmap(q, db["path"] / "features.npy", kmax)
    idx = np.asarray(idx)
    out = np.zeros((len(seeds), len(ks), size, size, 3), np.float32)
    for s in range(len(seeds)):
        where = db["where"][idx[s]]
        cen = _centre(meta, where[:, 1:])
        for j, k in enumerate(ks):
            kk = min(k, kmax)
            acc = np.zeros((size, size, 3), np.float64)
            for a in range(0, kk, 256):  # bounded memory for large k and rf
                acc += _extract_patches(db["images"], where[a:kk][:256, 0], cen[a:kk][:256], size).sum(0)
            out[s, j] = _contrast_stretch(acc / kk)
    return out


def _check_counts(ks, source: str, field: str) -> None:
    """InputError unless `ks` is a non-empty sequence of integers >= 1 (neighbour counts; a 0 averaged no patch)."""
    ok = isinstance(ks, (tuple, list, np.ndarray)) and len(ks) > 0 and all(is_int(k, 1) for k in ks)
    check(ok, source, field, "a non-empty list of integers >= 1 (neighbour counts)", ks)


def _contrast_stretch(img: np.ndarray, low: float = 1.0, high: float = 99.0) -> np.ndarray:
    """Linear stretch of the [low, high] percentiles to [0, 1] (clipped); a flat image maps to 0.5.

    Args:
      img: an image of any shape.
      low, high: the percentiles mapped to 0 and 1.

    Returns:
      float32 like img.
    """
    lo, hi = np.percentile(img, [low, high])
    if hi - lo < 1e-9:
        return np.full_like(img, 0.5, dtype=np.float32)
    return np.clip((img - lo) / (hi - lo), 0, 1).astype(np.float32)


def query_images(size: int = 192, names: Iterable[str] = ("chelsea", "astronaut", "coffee", "rocket")) -> list:
    """scikit-image's bundled real photographs, centre-cropped square and resized to size x size.

    Args:
      size: the side in pixels.
      names: the `skimage.data` images (grey ones are made RGB).

    Returns:
      A list of uint8 RGB [size, size, 3] images.

    Raises:
      InputError: size not an integer >= 1, names a str or holding a name that is not a bundled image.
    """
    check(is_int(size, 1), "query_images", "size", "an integer >= 1 (pixels)", size)
    check(not isinstance(names, str), "query_images", "names", "a list of image names (one name: a list of one)",
          repr(names))
    data = require("skimage.data", "report", "query_images (scikit-image's bundled photographs)")

    out = []
    for name in names:
        load = getattr(data, name, None) if isinstance(name, str) and not name.startswith("_") else None
        im = load() if callable(load) else None
        if not (isinstance(im, np.ndarray) and (im.ndim == 2 or (im.ndim == 3 and im.shape[-1] in (3, 4)))):
            raise InputError("query_images", "names", "names of scikit-image's bundled photographs (skimage.data: "
                             "chelsea, astronaut, coffee, rocket, ...)", repr(name))
        if im.ndim == 2:
            im = np.stack([im] * 3, -1)
        im = im[..., :3]
        h, w = im.shape[:2]
        s = min(h, w)
        im = im[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
        out.append(np.asarray(Image.fromarray(im).resize((size, size), Image.Resampling.BILINEAR)))
    return out


def run_locality(dbs: dict[str, Path], queries: list, backbone: Backbone, params: Params,
                 ks1: Sequence[int] = (1, 5), ks2: Sequence[int] = (5, 50, 500), n_seeds: int = 3, seed: int = 0,
                 progress: bool = False) -> dict:
    """Figures 1 and 2 from one patch database per role.

    Args:
      dbs: {role: folder} (`build_databases`); the first role's grid is the uniform-rf control's.
      queries: uint8 RGB images [H, W, 3] (Figure 1).
      backbone, params: the network of the databases.
      ks1, ks2: the k of Figure 1's panels and of Figure 2's averages.
      n_seeds: random seed features per role (Figure 2).
      seed: the random seed (seed rows, the control's draws).
      progress: progress bars over the kNN passes.

    Returns:
      {"sizes": {role: patches}, "seconds": {phase: s}, "panels": {panel name: [float32 [H, W, 3] per query]}
      (Figure 1), "averages": {role: [n_seeds, len(ks2), r, r, 3]} (Figure 2)}.

    Raises:
      InputError: ks1 or ks2 not integers >= 1, a k of ks1 or n_seeds above a database's patch count.
    """
    _check_counts(ks1, "run_locality", "ks1")
    _check_counts(ks2, "run_locality", "ks2")
    roles = list(dbs)
    opened = {role: _load_database(d) for role, d in dbs.items()}
    for role, db in opened.items():  # unlike Figure 2's k, these are not capped
        for field, most in (("ks1", max(ks1)), ("n_seeds", n_seeds)):
            check(most <= db["meta"]["count"], "run_locality", field, f"at most the {db['meta']['count']} patches of "
                  f"the {role} database ({db['path']})", most)
    seconds: dict[str, float] = {}
    panels: dict[str, list] = {}
    for role in roles:
        t0 = time.perf_counter()
        rec = _reconstruct_many(queries, opened[role], backbone, params, ks1, progress=progress)
        seconds[f"figure1 {role}"] = time.perf_counter() - t0
        for k in ks1:
            panels[f"{role} k={k}"] = rec[k]
    first = opened[roles[0]]["meta"]
    ref = first["rf"]  # patch grid of the control = the first role's reconstruction's
    c3_tap = backbone.roles.get("conv3", "conv3")
    ctl_size = backbone.geometry[c3_tap].size if c3_tap in backbone.geometry else ref["size"]
    grids = [backbone.grid_size(first["tap"], q.shape[:2]) for q in queries]
    for k in ks1:
        panels[f"uniform rf k={k}"] = [_uniform_rf_control(q, ctl_size, ref["stride"], ref["offset"], k, seed, g)
                                       for q, g in zip(queries, grids)]
    rng = np.random.default_rng(seed)
    averages = {}
    for role in roles:
        n = opened[role]["meta"]["count"]
        t0 = time.perf_counter()
        averages[role] = rf_average(opened[role], rng.choice(n, n_seeds, replace=False), ks2)
        seconds[f"figure2 {role}"] = time.perf_counter() - t0
    log.info("locality phase seconds: %s", {k: round(v, 1) for k, v in seconds.items()})
    return {"sizes": {r: opened[r]["meta"]["count"] for r in roles}, "seconds": seconds, "panels": panels,
            "averages": averages}
