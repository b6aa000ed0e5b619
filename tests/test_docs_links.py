"""Every relative link of the README, docs/*.md and the papers' eval/*/README.md points to a file that exists, and a
`#section` of a markdown file to one of its headings (GitHub's anchors); every module a paper's README names
(`name.py`) is a file of its folder."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAPERS = sorted((ROOT / "eval").glob("*/README.md"))
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *PAPERS]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^```.*?^```", re.DOTALL | re.MULTILINE)
CODE = re.compile(r"`[^`\n]*`")


def links(text: str) -> list[str]:
    """Targets of the markdown links `[..](target)` and images `![..](target)`, outside code."""
    text = FENCE.sub("", text)
    text = CODE.sub("code", text)
    return LINK.findall(text)


def relative(target: str) -> bool:
    return not re.match(r"[a-z][a-z0-9+.-]*:", target, re.IGNORECASE) and not target.startswith("#")


def anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    headings = re.findall(r"^#{1,6}\s+(.+?)\s*#*$", FENCE.sub("", page.read_text()), re.MULTILINE)
    seen: dict[str, int] = {}
    out = set()
    for h in headings:
        a = anchor(h)
        out.add(a if a not in seen else f"{a}-{seen[a]}")
        seen[a] = seen.get(a, 0) + 1
    return out


def test_links_and_anchors_are_read_as_github_does():
    assert links("[a](x.md) ![b](f.png) `[c](y.md)` [d](https://e.org) [e](#top)\n```\n[f](z.md)\n```\n") == [
        "x.md", "f.png", "https://e.org", "#top"]
    assert [t for t in ["x.md#a", "http://a", "mailto:b", "#c"] if relative(t)] == ["x.md#a"]
    assert anchor("Long et al.'s Table 2 question on PF-WILLOW (keypoint transfer)") == \
        "long-et-als-table-2-question-on-pf-willow-keypoint-transfer"
    assert anchor("Results of `make demo` (synthetic data)") == "results-of-make-demo-synthetic-data"


def broken(page: Path) -> list[str]:
    """The relative links of a page whose file, or whose heading in a markdown file, is missing."""
    out = []
    for target in filter(relative, links(page.read_text())):
        path, _, section = target.partition("#")
        file = (page.parent / path).resolve()
        if not file.exists():
            out.append(f"{target}: no such file")
        elif section and file.suffix == ".md" and section not in anchors(file):
            out.append(f"{target}: no heading with anchor #{section}")
    return out


def test_broken_links_are_found(tmp_path):
    (tmp_path / "a.md").write_text("# Top\n\n## Top\n")
    page = tmp_path / "page.md"
    page.write_text("[ok](a.md#top) [ok](a.md#top-1) [gone](b.md) [no heading](a.md#bottom) [web](https://x.org/b)")
    assert broken(page) == ["b.md: no such file", "a.md#bottom: no heading with anchor #bottom"]


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_every_relative_link_points_to_a_file(page):
    assert not broken(page), f"{page.relative_to(ROOT)}: " + "; ".join(broken(page))


@pytest.mark.parametrize("page", PAPERS, ids=[p.parent.name for p in PAPERS])
def test_every_module_a_paper_readme_names_is_in_its_folder(page):
    """`table2.py`, `configs.py`: a module named without a folder is one of the paper's own (others name theirs, as
    `train/pose_configs.py`)."""
    names = set(re.findall(r"`([\w]+\.py)`", FENCE.sub("", page.read_text())))
    assert names, page
    missing = sorted(n for n in names if not (page.parent / n).is_file())
    assert not missing, f"{page.relative_to(ROOT)} names modules its folder lacks: {missing}"


@pytest.mark.parametrize("page", PAPERS, ids=[p.parent.name for p in PAPERS])
def test_the_data_a_paper_readme_lists_is_what_the_experiment_accepts(page):
    """A table row `| ... | `convcorr run EXPERIMENT` | data |` names the datasets `convcorr run --list` gives."""
    from convcorr_eval.registry import ACCEPTED_DATA

    rows = re.findall(r"^\|.*\| `convcorr run ([\w.]+)` \| ([^|]+) \|$", page.read_text(), re.MULTILINE)
    for exp_id, data in rows:
        if exp_id in ACCEPTED_DATA and ACCEPTED_DATA[exp_id]:
            assert data.strip().split(", ") == list(ACCEPTED_DATA[exp_id]), (page.parent.name, exp_id)
