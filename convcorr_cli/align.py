"""`convcorr align IMG_A IMG_B --features conv4|sift [--backbone B --weights W] --out DIR`: BP flow from image A
(source) to image B.

B is resized to A's size, features are computed on the grid of conv4 receptive-field centres of A (dense SIFT
at the same centres for `--features sift`), and the flow is solved with `flow.bp` (`flow.align.align_images`). Writes:
  DIR/flow.npy     [h, w, 2] float32: displacement (dx, dy) in pixels of A for each grid point
  DIR/grid_xy.npy  [h, w, 2] float32: (x, y) pixel of A at which each grid point sits
  DIR/energy.json  data, deformation and total energy, per-iteration trace, settings, with the config, backbone,
                   versions and seconds
  DIR/warp.png     A, B, B warped onto A; |B - A| before and |B warped - A| after the alignment (one colour
                   bar); the flow in the Middlebury colour code with its key (`convcorr_eval.figures.alignment_figure`)

With `--dense` (`align_images` with a `DenseConfig`, coarse to fine from the conv4 grid down to pixels) the flow is per
pixel instead:
  DIR/flow.npy     [H, W, 2] float32 at A's size as given: pixel p = (x, y) of A corresponds to p + flow[p] in B
                   (B's pixels after B is resized to A's size)
  DIR/energy.json  settings;  DIR/warp.png  as above
A run writes only its mode's files: a grid_xy.npy an earlier grid run left in DIR is removed by a `--dense` run
(once its flow is solved, before anything is written), so DIR never holds the outputs of two runs. Only the names
above are ever removed, and only files: anything else in DIR is left alone.
`--json FILE` also writes the summary (config, backbone, versions, seconds, energies, outputs) to FILE.
The printed line, the figure's title and the summary's "ran" are one text (`describe`): the flow, the backbone
and the taps that ran (its conv4-role tap, e.g. MobileNetV2's block12; dense: the finer taps too) and the pixel
features of the settings that ran (`--set` included).

Every argument, both images (readable, each side giving at least two conv4 columns, A also at its working size)
and the output paths are checked before any work.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from convcorr_cli.options import WHOLE_WEIGHTS, add_set, check_outputs, document
from convcorr_jax.core import config, io, runinfo
from convcorr_jax.backbones.registry import NAMES, get
from convcorr_jax.core.errors import InputError
from convcorr_jax.features.image import read_image
from convcorr_jax.flow import dense
from convcorr_jax.flow.align import FEATURES, GridConfig, align_images, check_image_sizes
from convcorr_jax.flow.bp import BPConfig
from convcorr_jax.flow.dense import PIXEL_FEATURES, DenseConfig
from convcorr_jax.core.optional import require
from convcorr_jax.weights import load_backbone

FLAGS = {"beta": "--beta", "window": "--window", "iters": "--iters", "levels": "--levels"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    document(p, "Read images A and B (B resized to A's size) and solve a BP flow from A to B on conv4 features of "
             "--backbone or dense SIFT: on the grid of conv4 receptive-field centres, or per pixel coarse to fine "
             "with --dense. Writes into the folder --out flow.npy (dx, dy per grid point or pixel of A), grid_xy.npy "
             "(grid only), energy.json (energies, settings, versions, seconds) and warp.png (A, B, B warped onto A, "
             "the flow); --json also writes the summary.",
             "convcorr align LEFT.png RIGHT.png --dense --out DIR",
             "convcorr align a.png b.png --features sift --out ab_sift")
    p.add_argument("image_a", help="source image (any size)")
    p.add_argument("image_b", help="target image (resized to the source's size)")
    p.add_argument("--features", choices=FEATURES, default="conv4",
                   help="conv4: --backbone's conv4-role tap; sift: dense SIFT at the same grid points")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--json", default=None, help="also write the summary (config, backbone, versions, seconds) here")
    p.add_argument("--beta", type=float, default=None, help="smoothness weight (displacements in pixels of a 500 px "
                   "image); default: the paper's (BPConfig) for the grid flow, DenseConfig's for --dense")
    p.add_argument("--window", type=int, default=None,
                   help="grid flow only: max displacement in grid cells (default: whole grid)")
    p.add_argument("--iters", type=int, default=None,
                   help=f"grid flow only: BP iterations per level (default: {GridConfig.iters})")
    p.add_argument("--levels", type=int, default=None,
                   help=f"grid flow only: BP multigrid levels (default: {GridConfig.levels})")
    p.add_argument("--dense", action="store_true",
                   help="per-pixel coarse-to-fine flow (flow.dense; --beta sets its conv4 level, --set changes "
                   "other DenseConfig fields; --window/--iters/--levels apply to the grid flow only and are "
                   "refused)")
    p.add_argument("--pixel-features", choices=PIXEL_FEATURES, default=None,
                   help=f"with --dense only: the finest levels' features (default: {DenseConfig.pixel_features})")
    add_set(p, "with --dense: change a DenseConfig field (e.g. edge_sigma=none: the paper's pairwise term)",
            ("edge_sigma=none", "conv_roles=conv3,conv2"))
    p.add_argument("--max-side", type=int, default=320, help="A is resized so its longer side is at most this")
    p.add_argument("--backbone", default="mobilenet_v2",
                   help=f"feature network (conv4 role): one of {', '.join(NAMES)} (default: {WHOLE_WEIGHTS})")
    p.add_argument("--weights", default=None,
                   help="weight file, or 'random' (default: the backbone's real pretrained weights)")


OUTPUTS = ("flow.npy", "grid_xy.npy", "energy.json", "warp.png")  # every file align writes into --out, either mode


def _outputs(dense_flow: bool) -> tuple[str, ...]:
    """The files a run writes into --out: `OUTPUTS`, less grid_xy.npy for a dense flow."""
    return tuple(n for n in OUTPUTS if not (dense_flow and n == "grid_xy.npy"))


def _prepare_out(folder: Path, written: tuple[str, ...]) -> str:
    """Make `folder` and remove the outputs of the other mode that an earlier run left there: only the names of
    `OUTPUTS` that this run does not write, and only files (or links), never a folder or anything else.

    Returns:
      "" or the words the printed line ends with ("; removed grid_xy.npy of an earlier run").
    """
    folder.mkdir(parents=True, exist_ok=True)
    stale = [folder / n for n in OUTPUTS if n not in written]
    stale = [p for p in stale if p.is_symlink() or p.is_file()]
    for p in stale:
        p.unlink()
    return f"; removed {', '.join(p.name for p in stale)} of an earlier run" if stale else ""


def _save_figure(path: Path, a: np.ndarray, b: np.ndarray, warped: np.ndarray, flow: np.ndarray, title: str,
                 grid_xy: np.ndarray | None = None, scale: float | np.ndarray = 1.0) -> None:
    """warp.png (`alignment_figure`) of images at one size; a grid flow (`grid_xy`, pixels of A as given, `scale`:
    the images' size over A's, one factor or (x, y)) is drawn as cells centred on its grid points."""
    from convcorr_eval.figures import alignment_figure
    from convcorr_eval.report import save_figure

    extent = None
    if grid_xy is not None:
        g = (grid_xy + 0.5) * scale - 0.5  # grid points in the images' pixels
        sx = g[0, 1, 0] - g[0, 0, 0] if g.shape[1] > 1 else 1.0
        sy = g[1, 0, 1] - g[0, 0, 1] if g.shape[0] > 1 else sx
        extent = (g[0, 0, 0] - sx / 2, g[0, -1, 0] + sx / 2, g[-1, 0, 1] + sy / 2, g[0, 0, 1] - sy / 2)
    save_figure(alignment_figure(a, b, warped, flow, title, extent), path)


def _settings(args: argparse.Namespace) -> BPConfig | DenseConfig:
    """The flow config from the arguments, each out-of-range value reported under its flag."""
    if args.set and not args.dense:
        raise InputError(None, "--set", "only with --dense (DenseConfig fields)", " ".join(args.set))
    for name in ("window", "iters", "levels"):
        if args.dense and getattr(args, name) is not None:
            raise InputError(None, FLAGS[name], "no value with --dense: it applies to the grid flow only "
                             "(the dense flow's settings: --beta, --pixel-features, --set)", getattr(args, name))
    if args.dense and args.features == "sift":  # the dense flow's conv levels are conv4 and finer taps
        raise InputError(None, "--features", "conv4 with --dense (its pixel levels' features: --pixel-features)",
                         args.features)
    if args.pixel_features is not None and not args.dense:
        raise InputError(None, "--pixel-features", "only with --dense", args.pixel_features)
    try:
        if args.dense:
            beta = DenseConfig.beta if args.beta is None else args.beta
            pixel = DenseConfig.pixel_features if args.pixel_features is None else args.pixel_features
            return config.override(DenseConfig(beta=beta, pixel_features=pixel), args.set)
        # unset flags: GridConfig's defaults (the grid flow's settings, e.g. 8 iterations), not BPConfig's
        return BPConfig(GridConfig.beta if args.beta is None else args.beta, args.window,
                        GridConfig.iters if args.iters is None else args.iters,
                        GridConfig.levels if args.levels is None else args.levels)
    except InputError as e:
        if e.field in FLAGS and e.source in ("BPConfig", "DenseConfig"):
            raise InputError(None, FLAGS[e.field], e.expected, e.got) from None
        raise


def describe(args: argparse.Namespace, cfg: BPConfig | DenseConfig, backbone) -> str:
    """What `convcorr align` runs, in one line (printed, the figure's title, the summary's "ran").

    Args:
      args: the parsed arguments (--dense, --features).
      cfg: the flow settings that run (`_settings`: the flags and --set applied).
      backbone: the feature network.

    Returns:
      e.g. "BP flow on mobilenet_v2 block12 (its conv4 tap)", "BP flow on dense SIFT at mobilenet_v2 block12's
      grid (stride 16 px)" or "dense flow, coarse to fine: mobilenet_v2 block12 + block6 + block3, then sift pixel
      features".
    """
    tap = backbone.roles["conv4"]
    if isinstance(cfg, DenseConfig):
        taps = dense._taps(backbone, cfg)  # the conv levels dense_flows runs: conv4's tap, one per finer stride
        finest = cfg.finest_features or cfg.pixel_features
        last = "" if finest == cfg.pixel_features else f" ({finest} at the finest level)"
        return (f"dense flow, coarse to fine: {backbone.name} {' + '.join(taps)}, then {cfg.pixel_features} pixel "
                f"features{last}")
    if args.features == "sift":
        return f"BP flow on dense SIFT at {backbone.name} {tap}'s grid (stride {backbone.geometry[tap].stride} px)"
    return f"BP flow on {backbone.name} {tap} (its conv4 tap)"


def run(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    require("matplotlib", "report", "the figure (warp.png)")
    io.check_writable(args.out, "--out", kind="folder")
    written = _outputs(args.dense)
    check_outputs({**{f"--out ({name})": Path(args.out) / name for name in written},
                   **({"--json": args.json} if args.json else {})},
                  {"image_a": args.image_a, "image_b": args.image_b,
                   **({"--weights": args.weights} if args.weights not in (None, "random") else {})})
    if args.backbone not in NAMES:
        raise InputError(None, "--backbone", f"one of {list(NAMES)}", args.backbone)
    cfg = _settings(args)
    a, b = read_image(args.image_a, "image_a"), read_image(args.image_b, "image_b")
    try:
        check_image_sizes(a.shape[:2], b.shape[:2], get(args.backbone), args.max_side, (args.image_a, args.image_b))
    except InputError as e:
        if e.field == "max_side":
            raise InputError(None, "--max-side", e.expected, e.got) from None
        raise
    backbone, params = load_backbone(args.backbone, args.weights)
    ran, names = describe(args, cfg, backbone), f"{Path(args.image_a).name} -> {Path(args.image_b).name}"
    d = Path(args.out)
    info = dict(image_a=args.image_a, image_b=args.image_b, a_size=[int(v) for v in a.shape[:2]])
    header = {"config": dict(config.to_dict(cfg), features=args.features if not args.dense else "dense",
                             max_side=args.max_side, weights=args.weights or "pretrained"),
              "backbone": backbone.name, "ran": ran, "versions": runinfo.versions()}
    if isinstance(cfg, DenseConfig):  # --dense (`_settings`)
        out = align_images(a, b, backbone, params, cfg, args.max_side)
        removed = _prepare_out(d, written)
        io.save_npy(d / "flow.npy", out.flow)
        summary = dict(header, dense=True, **info, work_scale=out.scale, seconds=time.perf_counter() - t0)
        io.write_json(d / "energy.json", summary)
        _save_figure(d / "warp.png", a, out.b_resized, out.warped, out.flow, f"{names}: {ran}")
        if args.json:
            io.write_json(args.json, dict(summary, outputs=[str(d / n) for n in written]))
        print(f"aligned {args.image_a} -> {args.image_b} ({ran}): flow {tuple(int(s) for s in out.flow.shape)}; "
              f"wrote {d}/flow.npy, energy.json, warp.png{removed}")
        return 0
    grid = GridConfig(args.features, cfg.beta, cfg.window, cfg.iters, cfg.levels)
    out = align_images(a, b, backbone, params, grid, args.max_side)
    assert out.grid_xy is not None and out.energy is not None and out.a_work is not None  # a grid flow has them
    _prepare_out(d, written)  # writes every name of OUTPUTS: nothing to remove
    io.save_npy(d / "flow.npy", out.flow)
    io.save_npy(d / "grid_xy.npy", out.grid_xy)
    summary = dict(out.energy, **header, **info, work_scale=out.scale, seconds=time.perf_counter() - t0)
    io.write_json(d / "energy.json", summary)
    _save_figure(d / "warp.png", out.a_work, out.b_resized, out.warped, out.flow,
                 f"{names}: {ran}, grid {' x '.join(map(str, out.energy['grid_hw']))}", out.grid_xy,
                 np.divide(out.a_work.shape[1::-1], a.shape[1::-1]))
    if args.json:
        io.write_json(args.json, dict(summary, outputs=[str(d / n) for n in ("flow.npy", "grid_xy.npy", "energy.json",
                                                                            "warp.png")]))
    energy = out.energy
    print(f"aligned {args.image_a} -> {args.image_b} ({ran}, grid {energy['grid_hw']}): data {energy['data']:.1f}, "
          f"deformation {energy['deformation']:.1f}; wrote {d}/flow.npy, grid_xy.npy, energy.json, warp.png")
    return 0
