"""Every python example of the README and docs/library.md runs, in a new interpreter, and prints what the page says
it prints.

An example is a ```python block followed by a line "Prints...:" and a ```text block. Printed numbers are compared with
the page's within 2 % (or 0.02 absolute): the page rounds them; everything else must match exactly."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from convcorr_jax.core.paths import real_data_root

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = (README, ROOT / "docs" / "library.md", ROOT / "docs" / "extending.md")  # pages of runnable examples
EXAMPLE = re.compile(r"```python\n((?:[^`]|`(?!``))*)```\s*\nPrints\b[^\n]*:\s*\n```text\n((?:[^`]|`(?!``))*)```")
NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")


def examples(pages=PAGES) -> list[tuple[str, str]]:
    return [ex for page in pages for ex in EXAMPLE.findall(page.read_text())]


def same_output(got: str, want: str, rtol: float = 0.02, atol: float = 0.02) -> bool:
    """Lines equal up to the numbers in them, which agree within rtol or atol."""
    g, w = got.strip().splitlines(), want.strip().splitlines()
    if len(g) != len(w):
        return False
    for a, b in zip(g, w):
        if NUMBER.sub("#", a.strip()) != NUMBER.sub("#", b.strip()):
            return False
        for x, y in zip(map(float, NUMBER.findall(a)), map(float, NUMBER.findall(b))):
            if abs(x - y) > max(atol, rtol * abs(y)):
                return False
    return True


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_every_python_example_says_what_it_prints(page):
    blocks = re.findall(r"```python\n", page.read_text())
    assert len(blocks) >= 3 and len(examples([page])) == len(blocks)


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_a_page_whose_examples_need_an_extra_says_which(page):
    """The core install (`pip install -e .`) has no scikit-image: a page whose examples import it says so."""
    text = page.read_text()
    if any("skimage" in code for code, _ in examples([page])):
        assert "pip install -e '.[report]'" in re.sub(r"```.*?```", "", text, flags=re.S), page.name


def test_same_output_compares_numbers_within_tolerance():
    assert same_output("error 0.39 px over 58206 pixels", "error 0.395 px over 58210 pixels")
    assert not same_output("error 0.50 px over 58206 pixels", "error 0.39 px over 58206 pixels")
    assert not same_output("error 0.39 mm", "error 0.39 px")
    assert not same_output("a\nb", "a")


def _name(code: str) -> str:
    calls = re.findall(r"= ([\w.]+)\(", code)
    return calls[1] if len(calls) > 1 else calls[0]


# files the examples read, from the real data beside the repository (PF-WILLOW's car sub-class)
FILES = {"car_a.png": "pf_willow/PF-dataset-WILLOW/car(S)/Cars_000a.png",
         "car_b.png": "pf_willow/PF-dataset-WILLOW/car(S)/Cars_001b.png"}


def _tier(code: str) -> list:
    """The README's example of the shipped pose model runs in `make test`; the others are slow (`make test-all`)."""
    return [] if "convcorr_jax.pose.estimate(image)" in code else [pytest.mark.slow]


@pytest.mark.parametrize("code,want", [pytest.param(c, w, marks=_tier(c)) for c, w in examples()],
                         ids=[_name(c) for c, _ in examples()])
def test_example(code, want, tmp_path):
    for name, rel in FILES.items():
        if f'"{name}"' in code:
            src = real_data_root() / rel if real_data_root() is not None else None
            if src is None or not src.is_file():
                pytest.skip(f"the example reads {name}: {rel} of the real data is absent")
            shutil.copy(src, tmp_path / name)
    env = dict(os.environ, JAX_PLATFORMS="cpu")  # the compilation cache and weights of the tests (conftest)
    r = subprocess.run([sys.executable, "-c", code], check=False, cwd=tmp_path, env=env, capture_output=True,
                       text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    assert same_output(r.stdout, want), f"printed:\n{r.stdout}\nthe page says:\n{want}"
