"""`convcorr` entry point: a thin dispatcher.

Each command lives in a module exposing `add_arguments(parser)` and `run(args) -> int`; only the chosen
command's module is imported, so `convcorr --help` is instant.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# command -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("convcorr_eval.demo", "run every experiment of the three papers on the embedded default and write a report"),
    "run": ("convcorr_eval.runner", "run one experiment (a config, a size, overrides) into runs/<name>/"),
    "classify": ("convcorr_jax.backbones.cli_classify", "top-5 ImageNet classes of images"),
    "features": ("convcorr_jax.backbones.cli_features", "write named activations and receptive-field centres to .npz"),
    "weights": ("convcorr_jax.weights.cli", "fetch, import and inspect pretrained weights"),
    "data": ("convcorr_jax.data.cli", "generate synthetic datasets, fetch real ones, inspect what a loader reads"),
    "align": ("convcorr_jax.flow.cli", "align two images with a BP flow on conv or SIFT features (grid or dense)"),
    "train": ("convcorr_train.cli", "train models (pose cascade, ...)"),
    "eval": ("convcorr_eval.cli", "evaluate predictions and runs (PCKh, PCK, FLIC, MPII, PF-WILLOW)"),
    "launch": ("convcorr_jax.launch", "run a command as N JAX processes on this machine (CPU collectives)"),
}


def _overview() -> str:
    width = max(map(len, COMMANDS))
    rows = "\n".join(f"  {name:<{width}}  {help_}" for name, (_, help_) in COMMANDS.items())
    return f"usage: convcorr COMMAND [ARGS...]\n\ncommands:\n{rows}\n\n'convcorr COMMAND --help' for a command's options."


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_overview())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"convcorr: unknown command {name!r}\n\n{_overview()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    parser = argparse.ArgumentParser(prog=f"convcorr {name}", description=COMMANDS[name][1])
    module.add_arguments(parser)
    args = parser.parse_args(rest)
    from convcorr_jax.errors import InputError

    try:
        return int(module.run(args) or 0)
    except InputError as e:
        print(f"convcorr {name}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
