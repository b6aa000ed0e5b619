"""Reports: metrics and markdown in, `report.md`, `report.html` and figures out. Matplotlib is set up here, once.

    from convcorr_eval.report import plt, save_figure, markdown_table
    fig, ax = plt.subplots(); ...; save_figure(fig, ctx.figures / "fig.png")

The HTML page is for reading: the run's config is pretty-printed, label columns are left-aligned and numbers
right-aligned, and every table scrolls sideways inside its own box, so a wide table never widens the page.
"""

from __future__ import annotations

import html as _html
import json
import numbers
import os
import re
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from convcorr_jax.core.errors import InputError
from convcorr_jax.core.optional import require

_NEEDS = "writing reports and figures (convcorr eval, run, demo, match, align)"
matplotlib = require("matplotlib", "report", _NEEDS)
_markdown = require("markdown", "report", _NEEDS)

matplotlib.use("Agg")  # no display: figures go to files
# titles and labels hold file, model and class names: a "$" in one is a dollar sign, never the start of mathtext
# (which draws "a$1 b$2" in italics, and stops the figure with a ParseFatalException on "x$\y$.png")
matplotlib.rcParams["text.parse_math"] = False
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.backend_bases import FigureCanvasBase  # noqa: E402

from convcorr_jax.core import io  # noqa: E402
from convcorr_jax.core.runinfo import score_about  # noqa: E402  (re-exported: what a score in a JSON is)

__all__ = ["MIN_WIDTH_PX", "plt", "figure_format", "save_figure", "markdown_table", "pretty_config", "html",
           "write_report", "percent", "ran_on", "comparable", "left_out", "ours", "paper_block", "score_about",
           "NOT_COMPARABLE"]

NOT_COMPARABLE = "not comparable to the paper"


def percent(fraction: float | None) -> str:
    """A fraction in [0, 1] (PCK, PCKh, accuracy) as the percentage with one decimal that consoles, reports and
    figure labels show: 0.6734 -> "67.3"; "-" for None or NaN (a score with nothing to average)."""
    if fraction is None or fraction != fraction:
        return "-"
    return f"{100 * fraction:.1f}"


def _tiny(cfg: Any) -> bool:
    """Whether the run is of size tiny (a few samples, plumbing only)."""
    return getattr(cfg, "size", "default") == "tiny"


def _random_weights(cfg: Any, network: bool) -> bool:
    """Whether the numbers come from `cfg.backbone` (`network`) with random weights (`weights=random`)."""
    return network and getattr(cfg, "weights", None) == "random"


def comparable(cfg: Any, network: bool = True) -> bool:
    """Whether a run's numbers may stand beside the paper's: not for size tiny (a few samples, plumbing only), nor
    for random weights (`weights=random`: an untrained network) where the numbers come from the run's backbone
    (`network`; False for an experiment that trains its own network or reads no features)."""
    return not _tiny(cfg) and not _random_weights(cfg, network)


def left_out(cfg: Any, what: str = "the paper's numbers", network: bool = True) -> str:
    """The line a run that is not `comparable` writes where the paper's numbers would be: why ("Size tiny",
    "Random weights" or both), then that `what` are left out."""
    why = [w for w, on in (("size tiny", _tiny(cfg)), ("random weights", _random_weights(cfg, network))) if on]
    return f"{', '.join(why).capitalize()}: {NOT_COMPARABLE}; {what} are left out."


def ran_on(cfg: Any, split: str, backbone: str | None = None) -> str:
    """What a table row ran on: real or synthetic data, size, backbone (and "random weights" where it has them),
    split. `backbone`: the network when it is not `cfg.backbone` (a model trained from scratch, "no network"; its
    weights are not `cfg.weights`). Runs that are not `comparable` (size tiny, random weights) say "not comparable
    to the paper" first.

        "real pf_willow, default size, vgg16, validation split"
        "tiny, synthetic: not comparable to the paper; mobilenet_v2, test split"
        "synthetic, default size: not comparable to the paper; caffenet (random weights), test split"
    """
    data = "synthetic" if cfg.data == "synthetic" else f"real {cfg.data}"
    network = backbone is None or backbone == cfg.backbone
    random = " (random weights)" if _random_weights(cfg, network) else ""
    what = f"{backbone or cfg.backbone}{random}, {split} split"
    if comparable(cfg, network):
        return f"{data}, {cfg.size} size, {what}"
    lead = f"tiny, {data}" if _tiny(cfg) else f"{data}, {cfg.size} size"
    return f"{lead}: {NOT_COMPARABLE}; {what}"


def ours(name: str, on: str | None) -> str:
    """A row name of this run's table with what it ran on (`ran_on`): "conv4 flow (synthetic, default size, ...)"."""
    return f"{name} ({on})" if on else name


def paper_block(cfg: Any, caption: str, table: str) -> list[str]:
    """Markdown lines of a paper's table under its caption, or, for a run that is not comparable (size tiny, random
    weights: `comparable`), one line saying why and that the paper's numbers are left out (`left_out`)."""
    if cfg is not None and not comparable(cfg):
        return [left_out(cfg)]
    return [caption, "", table]


MIN_WIDTH_PX = 800  # every figure written is at least this wide, so that it reads at 100 %


def figure_format(path: str | os.PathLike, field: str = "figure") -> str:
    """The format a figure written to `path` takes: its suffix's, lower-case ("png" for a path without one).

    Args:
      path: the figure's path.
      field: the option or argument that gave it, named in the error (e.g. "--figure").

    Returns:
      a format matplotlib writes ("png", "pdf", "svg", ...).

    Raises:
      InputError: a suffix matplotlib cannot write, naming the path, `field` and the formats it can.
    """
    kind = Path(path).suffix[1:].lower() or "png"
    kinds = FigureCanvasBase.get_supported_filetypes()
    if kind not in kinds:
        raise InputError(path, field, f"a figure file ending in one of {', '.join('.' + k for k in sorted(kinds))}",
                         Path(path).suffix)
    return kind


def save_figure(fig, path: str | os.PathLike, dpi: float = 100) -> None:
    """Write a matplotlib figure atomically (in the format of the path's suffix, `figure_format`: PNG without one;
    trimmed to its content) and close it. The resolution is raised above `dpi` where needed for the written image
    to be at least MIN_WIDTH_PX wide."""
    kind = figure_format(path)
    width_in = fig.get_tightbbox(fig.canvas.get_renderer()).width  # the padding, where added, only widens it
    dpi = max(dpi, (MIN_WIDTH_PX + 2) / width_in)
    with io.atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format=kind)
    plt.close(fig)


_NUMBER = re.compile(r"[-+]?(\d[\d,]*(\.\d*)?|\.\d+)([eE][-+]?\d+)?%?")
_SEPARATORS = {"/", "->", "x", "+/-", "±", "-", "", "(", ")", "~"}


def is_numeric(text: str) -> bool:
    """A table cell that holds numbers: `12.3`, `1,016`, `45 %`, `43.1 / 76.1`, `0.28 -> 0.11`, `13 x 13`, `-`."""
    t = re.sub(r"<[^>]+>|\*\*?", "", str(text)).strip()
    if not t:
        return False
    tokens = t.replace("(", " ( ").replace(")", " ) ").replace("%", "% ").split()
    has_number = False
    for tok in tokens:
        if _NUMBER.fullmatch(tok):
            has_number = True
        elif tok not in _SEPARATORS and tok != "%":
            return False
    return has_number or t in ("-", "n/a")


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]],
                   fmt: Callable[[Any], str] | str = "{:.1f}") -> str:
    """A markdown table; floats (Python's and numpy's) are formatted with `fmt` (a format string or a function),
    integers (Python's and numpy's: a count) are written whole ("192", never "192.0"), booleans as True / False,
    other cells as text; None and NaN (a score with nothing to average) are "-". A score that happens to be whole
    must come as a float (100.0) to read "100.0". A "|" in a text cell or a header (a category or joint name) is
    written "/", so that it never splits the cell. The first column and text columns are left-aligned, columns of
    numbers right-aligned."""
    f = fmt.format if isinstance(fmt, str) else fmt

    def cell(v):
        if v is None or isinstance(v, (bool, np.bool_)):
            return "-" if v is None else str(bool(v))
        if isinstance(v, numbers.Integral):
            return str(int(v))
        if isinstance(v, numbers.Real):
            return "-" if v != v else f(v)
        return str(v).replace("|", "/")

    body = [[cell(v) for v in r] for r in rows]

    def align(j):
        col = [r[j] for r in body if j < len(r) and r[j] not in ("", "-")]
        return "---:" if j > 0 and col and all(is_numeric(c) for c in col) else ":---"

    head = " | ".join(str(h).replace("|", "/") for h in header)
    lines = ["| " + head + " |", "|" + "".join(align(j) + "|" for j in range(len(header)))]
    lines += ["| " + " | ".join(r) + " |" for r in body]
    return "\n".join(lines)


_CONFIG_LINE = re.compile(r"^(\s*)config: (\{.*\})\s*$")


def config_json(value: Any, pad: str = "") -> str:
    """`value` as indented JSON, one field a line; lists of plain values stay on their field's line."""
    if isinstance(value, dict) and value:
        inner = pad + "  "
        rows = [f"{inner}{json.dumps(k)}: {config_json(v, inner)}" for k, v in sorted(value.items())]
        return "{\n" + ",\n".join(rows) + f"\n{pad}}}"
    if isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value):
        inner = pad + "  "
        return "[\n" + ",\n".join(inner + config_json(v, inner) for v in value) + f"\n{pad}]"
    return json.dumps(value)


def pretty_config(md: str) -> str:
    """Each `config: {...}` line of a fenced code block (the run header) as indented JSON, one field a line
    (`config_json`)."""
    out, fenced = [], False
    for line in md.split("\n"):
        if line.lstrip().startswith("```"):
            fenced = not fenced
        m = _CONFIG_LINE.match(line) if fenced else None
        if m:
            try:
                cfg = json.loads(m.group(2))
            except ValueError:
                cfg = None
            if isinstance(cfg, dict):
                pad = m.group(1)
                out.append(f"{pad}config:")
                out += [pad + ln for ln in config_json(cfg).split("\n")]
                continue
        out.append(line)
    return "\n".join(out)


_CSS = """body{font-family:system-ui,sans-serif;max-width:70em;margin:2em auto;padding:0 1em;line-height:1.4;color:#222}
h1,h2{border-bottom:1px solid #ddd;padding-bottom:.2em}
.table-scroll{overflow-x:auto;max-width:100%;margin:1em 0}
table{border-collapse:collapse;margin:0}
td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#f4f4f4}tr:nth-child(even) td{background:#fafafa}
td:first-child{white-space:nowrap}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
img{max-width:100%;height:auto;display:block;margin:.6em 0}
pre{background:#f7f7f7;padding:.6em;overflow-x:auto;white-space:pre-wrap;overflow-wrap:anywhere}
code{font-size:.92em}"""

_TABLE = re.compile(r"<table>.*?</table>", re.S)
_ROW = re.compile(r"<tr>(.*?)</tr>", re.S)
_CELL = re.compile(r"<(td|th)(\s[^>]*)?>(.*?)</\1>", re.S)


def _align_table(table: str) -> str:
    """Left-align the first column and text, right-align numbers (a header over a column of numbers too)."""
    rows = [[(tag, body) for tag, _, body in _CELL.findall(r)] for r in _ROW.findall(table)]
    ncol = max((len(r) for r in rows), default=0)
    numeric_col = []
    for j in range(ncol):
        col = [b for r in rows for tag, b in r[j:j + 1] if tag == "td" and b.strip() not in ("", "-")]
        numeric_col.append(j > 0 and bool(col) and sum(map(is_numeric, col)) * 2 >= len(col))

    def row(m):
        cells = iter(range(ncol))

        def cell(c):
            tag, body = c.group(1), c.group(3)
            j = next(cells, 0)
            num = j > 0 and ((tag == "th" and numeric_col[j]) or (tag == "td" and is_numeric(body)))
            attr = ' class="num"' if num else ""
            return f"<{tag}{attr}>{body}</{tag}>"

        return "<tr>" + _CELL.sub(cell, m.group(1)) + "</tr>"

    return '<div class="table-scroll">' + _ROW.sub(row, table) + "</div>"


def _to_html():
    """A markdown converter (tables, fenced code) that shows raw HTML as text: a name, path or error message in a
    report (`a<b>`, `<lambda>`) is printed as written, never read as a tag."""
    converter = _markdown.Markdown(extensions=["tables", "fenced_code"])
    converter.preprocessors.deregister("html_block")
    converter.inlinePatterns.deregister("html")
    return converter


def html(md: str, title: str) -> str:
    """A markdown report as one HTML page; figures stay relative links, shown inline. The config is
    pretty-printed, and each table sits in its own horizontally scrolling box. Text that looks like HTML (`<x>`)
    is shown as written (escaped), not read as markup."""
    body = _to_html().convert(pretty_config(md))
    body = _TABLE.sub(lambda m: _align_table(m.group(0)), body)
    return (f"<!doctype html><html><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{_html.escape(title)}</title><style>{_CSS}</style></head><body>{body}</body></html>\n")


def write_report(run_dir: str | os.PathLike, title: str, md: str) -> None:
    """`report.md` and `report.html` in `run_dir`, both written atomically (the config pretty-printed in both)."""
    md = pretty_config(md)
    io.write_text(os.path.join(run_dir, "report.md"), md)
    io.write_text(os.path.join(run_dir, "report.html"), html(md, title))
