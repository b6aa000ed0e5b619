"""What a finished run folder says, said the same way everywhere: report.md's run header against config.json and
metrics.json (config, seed, versions, devices, wall time, summary), report.html's tables against report.md's, and
each number of report.md's tables against metrics.json (to the digits printed; a table in percent against a
metrics.json that names the unit of its scores). Used by tests/test_experiments.py on every experiment it runs."""

from __future__ import annotations

import html
import json
import math
import re
from pathlib import Path

NUMBER = re.compile(r"[-+]?\d+(\.(\d+))?")
SEPARATOR = re.compile(r"\|(\s*:?-+:?\s*\|)+")


def md_tables(md: str) -> list[tuple[str, list[str], list[list[str]]]]:
    """(caption: the last non-empty line above it, header cells, body rows) of each markdown table of `md`."""
    lines, out, i = md.split("\n"), [], 0
    while i < len(lines):
        if lines[i].startswith("|") and i + 1 < len(lines) and SEPARATOR.fullmatch(lines[i + 1].strip()):
            caption = next((ln for ln in reversed(lines[:i]) if ln.strip()), "")
            head, rows, i = _cells(lines[i]), [], i + 2
            while i < len(lines) and lines[i].startswith("|"):
                rows.append(_cells(lines[i]))
                i += 1
            out.append((caption, head, rows))
        else:
            i += 1
    return out


def _cells(line: str) -> list[str]:
    return [_plain(c) for c in line.strip().strip("|").split("|")]


def _plain(text: str) -> str:
    """A cell as read: markup (tags, bold, code marks) and surrounding space removed, entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>|\*\*?|`", "", text)).strip()


def html_tables(page: str) -> list[list[list[str]]]:
    """The rows (header first) of each table of an HTML page, as plain cell text."""
    return [[[_plain(c) for _, c in re.findall(r"<(td|th)[^>]*>(.*?)</\1>", row, re.S)]
             for row in re.findall(r"<tr>(.*?)</tr>", table, re.S)]
            for table in re.findall(r"<table>(.*?)</table>", page, re.S)]


def _leaves(value, units: set[str]) -> list[float]:
    """Every finite number in a metrics value (the units its "unit" fields name are added to `units`)."""
    if isinstance(value, dict):
        if isinstance(value.get("unit"), str):
            units.add(value["unit"])
        return [x for v in value.values() for x in _leaves(v, units)]
    if isinstance(value, list):
        return [x for v in value for x in _leaves(v, units)]
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return [float(value)] if ok else []


def _printed_as(cell: str, values: list[float], scale: float) -> bool:
    """Whether a table cell is one of `values` times `scale`, to the decimals it shows (metrics.json keeps six
    significant digits)."""
    m = NUMBER.fullmatch(cell)
    shown, digits = float(cell), len(m.group(2) or "")
    return any(abs(scale * v - shown) <= 0.5 * 10 ** -digits + 1e-6 * max(1.0, abs(scale * v)) for v in values)


def check_header(md: str, config: dict, record: dict) -> None:
    """The run block of report.md states config.json's config, its seed, versions, devices and metrics.json's wall
    time; the summary line is metrics.json's."""
    run = md.split("\n## Run\n", 1)[1]
    shown = re.search(r"^config:\n(\{.*?\n\})$", run, re.S | re.M)
    assert shown and json.loads(shown.group(1)) == config["config"], "the report's config is not config.json's"
    assert re.search(rf"^seed: {config['config']['seed']}$", run, re.M), "no seed line, or another seed"
    assert re.search(r"^versions: python \S+, convcorr-jax ", run, re.M) and re.search(r"^devices: \S", run, re.M)
    assert re.search(rf"^wall time: {record['seconds']:.1f} s$", run, re.M), "wall time is not metrics.json's"
    assert md.startswith(f"# {config['experiment']}\n\n**{record['summary']}**\n"), "summary is not metrics.json's"


def _says_percent(text: str) -> bool:
    return "%" in text or "percent" in text


def check_numbers(tables: list, metrics: dict, free: tuple[str, ...] = ()) -> None:
    """Each number of our rows (not the paper's) is in metrics.json as printed: as it is, or, in a column in
    percent (its header says "%" or "percent", or the table's caption does and no header does), as a percentage of a
    fraction or as a percentage, whichever unit metrics.json names for its scores (a whole number there, a count,
    as it is). `free`: column headers of numbers that are no scores (sizes, counts)."""
    units: set[str] = set()
    values = _leaves(metrics, units)
    scaled = ([100.0] if "fraction in [0, 1]" in units else []) + ([1.0] if "percent" in units else [])
    for caption, head, rows in tables:
        if caption.lower().startswith("paper"):
            continue
        by_header = any(_says_percent(h) for h in head[1:])
        percent = [_says_percent(h) if by_header else _says_percent(caption) for h in head]
        if any(percent[1:]):
            assert scaled, f"metrics.json names no unit for {caption[:60]!r}"
        for row in rows:
            if row[0].lower().startswith("paper"):
                continue
            for name, cell, in_percent in zip(head[1:], row[1:], percent[1:]):
                if name in free or not NUMBER.fullmatch(cell):
                    continue
                scales = scaled + [1.0] * ("." not in cell) if in_percent else [1.0]  # a count beside percentages
                assert any(_printed_as(cell, values, s) for s in scales), \
                    f"{caption[:60]!r}, row {row[0][:40]!r}, column {name!r}: {cell} is in no unit metrics.json names"


def check_run_folder(run_dir: Path, free: tuple[str, ...] = ()) -> None:
    """Everything this module checks, on a finished run folder."""
    md = (run_dir / "report.md").read_text()
    config = json.loads((run_dir / "config.json").read_text())
    record = json.loads((run_dir / "metrics.json").read_text())
    check_header(md, config, record)
    tables = md_tables(md)
    assert [[h, *r] for _, h, r in tables] == html_tables((run_dir / "report.html").read_text()), \
        "report.html's tables are not report.md's"
    second = re.search(r"the (.+?) is shown as a labelled second row", md)
    if second:  # the report announces a second descriptor's row: it is there
        assert any(second.group(1) in r[0] for _, _, rows in tables for r in rows), f"no row of {second.group(1)}"
    check_numbers(tables, record["metrics"], free)
