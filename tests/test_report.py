"""The reports a person reads: `report.md` and `report.html` of every run (eval/report.py)."""

import html as html_lib
import json
import re

import numpy as np

from convcorr_eval.report import html, is_numeric, markdown_table, percent, pretty_config, write_report

CONFIG = {"backbone": "caffenet", "size": "tiny", "transfer": {"beta": 0.003, "window": None}}
MD = "\n".join([
    "# exp", "", "```", "== exp (exp) ==", "config: " + json.dumps(CONFIG, sort_keys=True), "seed: 0", "```", "",
    markdown_table(["method", "bird", "mean a=0.1", "note"],
                   [["conv4 flow", 10.0, 24.9, "beta 0.1"], ["SIFT flow", None, 28.3, "x"]]), ""])


def _cells(page):
    return re.findall(r"<(td|th)(\s[^>]*)?>(.*?)</\1>", page, re.S)


def test_config_is_pretty_printed_in_markdown_and_html():
    md = pretty_config(MD)
    assert "config: {" not in md and '\n  "backbone": "caffenet",\n' in md
    block = md.split("config:\n", 1)[1].split("\nseed: 0", 1)[0]
    assert json.loads(block) == CONFIG  # the whole config, indented, still valid JSON
    page = html(MD, "exp")
    pre = html_lib.unescape(re.search(r"<pre><code>(.*?)</code></pre>", page, re.S).group(1))
    assert "config:\n{\n" in pre and '\n    "beta": 0.003,\n' in pre


def test_config_outside_a_code_block_and_bad_json_are_left_alone():
    text = 'config: {"a": 1}\n```\nconfig: {not json}\n```'
    assert pretty_config(text) == text


def test_tables_scroll_sideways_on_their_own():
    page = html(MD, "exp")
    assert page.count("<table>") == 1
    assert '<div class="table-scroll"><table>' in page and "</table></div>" in page
    css = re.search(r"<style>(.*?)</style>", page, re.S).group(1)
    assert re.search(r"\.table-scroll\{[^}]*overflow-x:\s*auto", css)


def test_label_column_left_numbers_right():
    page = html(MD, "exp")
    css = re.search(r"<style>(.*?)</style>", page, re.S).group(1)
    assert re.search(r"td,th\{[^}]*text-align:\s*left", css)
    assert re.search(r"td\.num[^{]*\{[^}]*text-align:\s*right", css)
    cells = {body: attrs for _, attrs, body in _cells(page)}
    assert "num" not in cells["method"] and "num" not in cells["conv4 flow"] and "num" not in cells["SIFT flow"]
    assert "num" in cells["24.9"] and "num" in cells["mean a=0.1"] and "num" in cells["10.0"]
    assert "num" not in cells["beta 0.1"] and "num" not in cells["note"]  # text columns stay left
    assert "style=" not in page.split("<body>", 1)[1]  # no inline alignment left to fight the stylesheet


def test_markdown_table_alignment_row():
    t = markdown_table(["layer", "rf", "map"], [["conv1", 11, "55 x 55"], ["conv2", 51, "27 x 27"]], "{}")
    assert t.splitlines()[1] == "|:---|---:|---:|"
    assert "| conv1 | 11 | 55 x 55 |" in t


def test_markdown_table_writes_counts_whole_and_scores_with_the_format():
    """A count passed as an int (Python's or numpy's) read "192.0" under the default "{:.1f}", and a numpy float32
    or int64 skipped the format ("0.33333334", "3"): integers are now whole, floats of either kind formatted."""
    row = ["a", 192, np.int64(3), np.uint8(7), True, np.bool_(False), 100.0, np.float64(0.25), np.float32(1 / 3),
           float("nan"), np.float32("nan"), None]
    t = markdown_table([str(i) for i in range(len(row))], [row])
    assert t.splitlines()[2] == "| a | 192 | 3 | 7 | True | False | 100.0 | 0.2 | 0.3 | - | - | - |"
    t = markdown_table(["x", "n", "pck"], [["b", 12, 0.5]], percent)  # a function formats the floats only
    assert t.splitlines()[2] == "| b | 12 | 50.0 |"


def test_is_numeric():
    for t in ("12.3", "1,016", "45 %", "43.1 / 76.1", "0.28 -> 0.11", "13 x 13", "**85.6**", "3e-3", "-"):
        assert is_numeric(t), t
    for t in ("conv4", "beta 0.1", "", "top-5 (probability)", "ConvNet + ridge"):
        assert not is_numeric(t), t


def test_write_report(tmp_path):
    write_report(tmp_path, "a <title>", MD)
    md = (tmp_path / "report.md").read_text()
    page = (tmp_path / "report.html").read_text()
    assert '\n  "size": "tiny",\n' in md and "<title>a &lt;title&gt;</title>" in page
    assert "<table>" in page and 'class="table-scroll"' in page


def test_html_shows_text_that_looks_like_markup_as_written():
    """Names, paths and messages in a report (`a<b>c`, `<lambda>`, a data root `/data/<root>`) are text: escaped in
    the HTML page, in paragraphs and in table cells, never read as tags that hide or restyle what follows."""
    table = markdown_table(["name", "pck"], [["a<b>c", 1.0], ["<lambda>", 2.0]])
    md = "\n".join(["run on /data/<root> & co", "", table, "", "<div>", "block", "</div>"])
    page = html(md, "t")
    assert "/data/&lt;root&gt; &amp; co" in page and "<root>" not in page
    assert "<td>a&lt;b&gt;c</td>" in page and "<td>&lt;lambda&gt;</td>" in page and "<b>" not in page
    assert "&lt;div&gt;" in page and "<div>" not in page
    assert 'class="table-scroll"' in page and '<td class="num">2.0</td>' in page


def test_a_pipe_in_a_header_or_a_cell_keeps_the_table_whole():
    """A category or joint name holding "|" (a header as well as a row label) is written "/": the table keeps its
    columns in markdown and is still a table in the HTML page."""
    table = markdown_table(["method", "car|bus", "mean"], [["conv|4", 1.0, 2.0]])
    head, rule, row = table.split("\n")
    assert head.count("|") == rule.count("|") == row.count("|") == 4
    assert "car/bus" in head and "conv/4" in row
    page = html(table, "t")
    assert [tag for tag, _, _ in _cells(page)] == ["th"] * 3 + ["td"] * 3
