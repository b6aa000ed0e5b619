"""Reports: metrics and markdown in, `report.md`, `report.html` and figures out. Matplotlib is set up here, once.

    from convcorr_eval.report import plt, save_figure, markdown_table
    fig, ax = plt.subplots(); ...; save_figure(fig, ctx.figures / "fig.png")
"""

from __future__ import annotations

import os
from typing import Any, Callable, Sequence

import markdown as _markdown
import matplotlib

matplotlib.use("Agg")  # no display: figures go to files
import matplotlib.pyplot as plt  # noqa: E402

from convcorr_jax import io  # noqa: E402

__all__ = ["plt", "save_figure", "markdown_table", "html", "write_report"]


def save_figure(fig, path: str | os.PathLike, dpi: int = 100) -> None:
    """Write a matplotlib figure atomically (PNG by the path's suffix) and close it."""
    with io.atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight")
    plt.close(fig)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]],
                   fmt: Callable[[Any], str] | str = "{:.1f}") -> str:
    """A markdown table; numbers are formatted with `fmt` (a format string or a function), other cells as text."""
    f = fmt.format if isinstance(fmt, str) else fmt

    def cell(v):
        if isinstance(v, bool) or v is None:
            return "-" if v is None else str(v)
        return f(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else str(v).replace("|", "/")

    lines = ["| " + " | ".join(map(str, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in r) + " |" for r in rows]
    return "\n".join(lines)


_CSS = """body{font-family:system-ui,sans-serif;max-width:70em;margin:2em auto;padding:0 1em;line-height:1.4}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.2em .6em;text-align:right}
th{background:#f4f4f4}img{max-width:100%}pre{background:#f7f7f7;padding:.6em;overflow-x:auto}"""


def html(md: str, title: str) -> str:
    """A markdown report as one HTML page; figures stay relative links, shown inline."""
    body = _markdown.markdown(md, extensions=["tables", "fenced_code"])
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title><style>{_CSS}</style>"
            f"</head><body>{body}</body></html>\n")


def write_report(run_dir: str | os.PathLike, title: str, md: str) -> None:
    """`report.md` and `report.html` in `run_dir`, both written atomically."""
    io.write_text(os.path.join(run_dir, "report.md"), md)
    io.write_text(os.path.join(run_dir, "report.html"), html(md, title))
