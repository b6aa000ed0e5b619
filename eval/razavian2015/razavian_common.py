"""Shared command-line plumbing of the eval/razavian_*.py table scripts."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--size", choices=("tiny", "default", "full"), default="default")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="run folder (default runs/<script name>)")
    p.add_argument("--weights", default=None, help="backbone weight file (default: fetched MobileNetV2)")
    return p


def setup(args, name: str):
    """(config, main featurizer, fc6-role featurizer, descriptor text, run folder, figures folder)."""
    from convcorr_jax.regression import demo

    cfg = demo.config_for(args.size, args.seed)
    featurize, featurize_fc6, desc = demo.make_featurizers(cfg, args.weights)
    out = Path(args.out or f"runs/{name}")
    figs = out / "figures"
    figs.mkdir(parents=True, exist_ok=True)
    return cfg, featurize, featurize_fc6, desc, out, figs


def finish(out: Path, title: str, header: str, markdown: str, metrics: dict) -> None:
    from convcorr_jax import io

    print(markdown)
    io.write_text(out / "report.md", f"# {title}\n\n```\n{header}\n```\n\n{markdown}\n")
    io.write_json(out / "metrics.json", metrics)
    print(f"report: {out / 'report.md'}")
