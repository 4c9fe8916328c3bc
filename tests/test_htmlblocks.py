"""Finished HTML blocks in generated Markdown (runbook.outputs.htmlblocks): passed through as
written.

The site pages write their tables and wizard screens as HTML between two marker lines. With
the extension the block is stashed before any parser reads it; without it, the same page is
still correct, as a raw HTML block. Neither a topology value nor a code block can open one.
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

import markdown
import pytest
from mkdocs.config import load_config

from runbook.outputs.htmlblocks import END, START, HtmlBlocks, NotAnHtmlBlock, wrap
from runbook.outputs.templating import (
    TemplateFailed,
    cell,
    code,
    html,
    html_block,
    html_code,
)
from tests.conftest import ROOT, examples_and_corpus

CONFIG = load_config(config_file=str(ROOT / "mkdocs.yml"))
EXTENSIONS: list[Any] = list(CONFIG.markdown_extensions)
CONFIGS: dict[str, Any] = dict(CONFIG.mdx_configs)


def convert(text: str, *, blocks: bool = True) -> str:
    extensions = [*EXTENSIONS, HtmlBlocks()] if blocks else EXTENSIONS
    return markdown.Markdown(extensions=extensions, extension_configs=CONFIGS).convert(text)


BLOCK = ('<ol>\n<li>\n<p><strong>A *not emphasis* &amp; `not code`</strong></p>\n'
         '<ul class="task-list">\n<li class="task-list-item">Type <code>x_y_z</code></li>\n'
         '</ul>\n</li>\n</ol>')


def test_a_marked_block_comes_out_exactly_as_written() -> None:
    text = f"# Title\n\nBefore *this*.\n\n{wrap(BLOCK)}\nAfter **that**.\n"
    out = convert(text)
    assert out == (f'<h1 id="title">Title<a class="headerlink" href="#title" '
                   f'title="Permanent link">&para;</a></h1>\n<p>Before <em>this</em>.</p>\n'
                   f"{BLOCK}\n<p>After <strong>that</strong>.</p>")


def test_several_blocks_on_one_page_each_keep_their_place() -> None:
    first, second = "<p>one</p>", "<div>two</div>"
    out = convert(f"{wrap(first)}\nmiddle\n\n{wrap(second)}\nend\n")
    assert out == "<p>one</p>\n<p>middle</p>\n<div>two</div>\n<p>end</p>"


@pytest.fixture(scope="module")
def generated_pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Every generated Markdown page of the examples and of five corpus sites."""
    _, generated = examples_and_corpus(tmp_path_factory.mktemp("htmlblocks"))
    return {uri: (content.read_bytes() if isinstance(content, Path) else content).decode()
            for uri, content in generated.items() if uri.endswith(".md")}


def test_pages_read_the_same_without_the_extension_but_for_the_marker_comments(
        generated_pages: dict[str, str]) -> None:
    with_blocks = [uri for uri, text in generated_pages.items() if START in text]
    # Every site page has its tables or wizard screens as blocks, and so does the home page
    # (its table of sites).
    assert "index.md" in with_blocks
    assert {uri.rsplit("/", 1)[-1] for uri in with_blocks} == {
        "index.md", "addressing.md", "runbook.md", "certificates.md", "dns.md", "firewall.md",
        "pic.md", "load-balancer.md", "reverse-proxy.md", "change-request.md", "pool.md",
        "federation.md"}
    for uri in with_blocks:
        fast = convert(generated_pages[uri])
        plain = convert(generated_pages[uri], blocks=False)
        assert START not in fast and "wzxhzdk" not in fast, uri
        # Python-Markdown keeps the markers as comments, and a blank line after the block.
        plain = re.sub(f"{START}\n|\n{END}\n?", "", plain)
        assert plain == fast, uri


@pytest.mark.parametrize("text", [
    # A fenced code block holding the markers: stashed as code before the blocks are looked for.
    f"```\n{START}\n<script>alert(1)</script>\n{END}\n```\n",
    f"~~~\n{START}\n<script>alert(1)</script>\n{END}\n~~~\n",
    # A fence nested in a list keeps its indentation, so its lines are not markers.
    f"- item\n\n    ```\n    {START}\n    <script>alert(1)</script>\n    {END}\n    ```\n",
])
def test_markers_inside_code_show_as_code(text: str) -> None:
    out = convert(text)
    assert "<script>" not in out
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out
    assert "&lt;!-- runbook:html --&gt;" in out


def test_a_start_marker_without_its_end_is_left_to_markdown() -> None:
    out = convert(f"{START}\n<p>x</p>\n\ntext *here*\n")
    assert "<em>here</em>" in out
    assert out == convert(f"{START}\n<p>x</p>\n\ntext *here*\n", blocks=False)


@pytest.mark.parametrize("block", [
    "<p>a</p>\ntext that is not a tag",
    "<p>a</p>\n\n<p>b</p>",
    f"<div>\n{END}\n<script>x</script>",
    "```\n<p>fenced</p>",
    "    <p>indented</p>",
])
def test_wrap_refuses_anything_but_one_tag_per_line(block: str) -> None:
    with pytest.raises(NotAnHtmlBlock):
        wrap(block)
    with pytest.raises(TemplateFailed, match="must start with a tag"):
        html_block(block)


@pytest.mark.parametrize("value, shown", [
    ("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"),
    ('say "hi" & it\'s', "say &quot;hi&quot; &amp; it's"),
    ("{{ 7*7 }} **bold** `tick`", "{{ 7*7 }} **bold** `tick`"),
    ("two\nlines\u2028and  spaces", "two lines and spaces"),
    (f"{END}", "&lt;!-- /runbook:html --&gt;"),
])
def test_html_filters_show_values_literally_on_one_line(value: str, shown: str) -> None:
    assert html(value) == shown


@pytest.mark.parametrize("value, shown", [
    ("<b> & </b>", "<code>&lt;b&gt; &amp; &lt;/b&gt;</code>"),
    # As a Markdown code span shows it: inner spaces kept, outer ones trimmed.
    ("  a  `b`  ", "<code>a  `b`</code>"),
    ("x\ny\u2028z", "<code>x y z</code>"),
    ('"quoted"', "<code>&quot;quoted&quot;</code>"),
])
def test_html_code_is_a_code_element_showing_the_value_on_one_line(value: str,
                                                                    shown: str) -> None:
    assert html_code(value) == shown


@pytest.mark.parametrize("value, shown", [
    # A long name may break after its dots, never before its last label.
    ("federation.woodgrovebank.com", "federation.<wbr>woodgrovebank.com"),
    ("_sipfederationtls._tcp.fabrikam.com", "_sipfederationtls.<wbr>_tcp.<wbr>fabrikam.com"),
    # A path after its slashes, a URL after its dots, slashes and commas.
    ("contoso-hq/ocs-edge/test-user-1", "contoso-hq/<wbr>ocs-edge/test-user-1"),
    ("ldap://dc01.corp.example/CN=CDP,DC=corp",
     "ldap://<wbr>dc01.<wbr>corp.<wbr>example/<wbr>CN=CDP,<wbr>DC=corp"),
    # The last label stays with what follows it: a port, closing punctuation.
    ("wgedge-ra.corp.woodgrovebank.com:5062", "wgedge-ra.<wbr>corp.<wbr>woodgrovebank.com:5062"),
    ("(federation.woodgrovebank.com),", "(federation.<wbr>woodgrovebank.com),"),
    # Words of up to 24 characters, and any word with an address or a port range in it,
    # never break.
    ("sip.woodgrovebank.com", "sip.woodgrovebank.com"),
    ("198.51.100.100/24", "198.51.100.100/24"),
    ("route-10.100.100.0/255.255.255.0", "route-10.100.100.0/255.255.255.0"),
    ("(edge-pool.example.com:10.100.100.100:5061)", "(edge-pool.example.com:10.100.100.100:5061)"),
    ("ports-of-the-relay:50000-59999", "ports-of-the-relay:50000-59999"),
    # The escaped text is what breaks: an entity is never cut.
    ("a&b.example.invalid/x/y/z", "a&amp;b.<wbr>example.<wbr>invalid/<wbr>x/<wbr>y/z"),
])
def test_html_code_lets_long_names_break_after_their_dots_and_slashes(value: str,
                                                                      shown: str) -> None:
    assert html_code(value) == f"<code>{shown}</code>"


def test_a_break_opportunity_adds_no_character_to_the_value() -> None:
    for value in ("federation.woodgrovebank.com", "ldap://aa.bb.cc/dd,ee=ff?gg.hh",
                  "<x>.y.z.w/v/u/t/s/r/q/p/o"):
        shown = html_code(value)
        assert "<wbr>" in shown
        assert shown.replace("<wbr>", "") == f"<code>{html(value)}</code>"


def test_the_site_adds_the_extension_once() -> None:
    from runbook.site.build import plugin_of

    config = load_config(config_file=str(ROOT / "mkdocs.yml"))
    plugin_of(config).preload([], {})
    for _ in range(2):  # a second build (mkdocs serve): still one
        config = config.plugins.on_config(config)
        assert sum(isinstance(e, HtmlBlocks) for e in config.markdown_extensions) == 1


# --- Markdown tables of plain cells as blocks (the change request's site page) ----------------


def test_every_change_request_table_becomes_a_block_and_the_page_converts_the_same(
        generated_pages: dict[str, str]) -> None:
    from runbook.outputs.htmlblocks import tables_to_blocks

    pages = {uri: text for uri, text in generated_pages.items()
             if uri.endswith("documents/change-request.md")}
    assert len(pages) >= 10
    for uri, text in pages.items():
        # The site's page already holds the blocks; the Markdown is what `runbook cr` writes.
        markdown_text = re.sub(f"{START}\n(.*?)\n{END}", lambda m: _as_markdown(m.group(1)),
                               text, flags=re.S)
        assert START not in markdown_text and "|---|" in markdown_text
        assert tables_to_blocks(markdown_text) == text, uri
        assert convert(text) == convert(markdown_text), uri


def _as_markdown(table_html: str) -> str:
    """The Markdown table a converted block came from (cells are plain text or code)."""
    import html as html_module

    def one(c: str) -> str:
        inner = re.fullmatch(r"<code>(.*)</code>", c)
        return code(html_module.unescape(inner.group(1))) if inner else \
            cell(html_module.unescape(c))

    def cells(row: str) -> list[str]:
        return [one(c) for c in re.findall(r"<t[hd]>(.*?)</t[hd]>", row)]

    rows = re.findall(r"<tr>\n(.*?)\n</tr>", table_html, flags=re.S)
    head, body = cells(rows[0]), [cells(r) for r in rows[1:]]
    lines = [f"| {' | '.join(head)} |", "|" + "---|" * len(head)]
    return "\n".join(lines + [f"| {' | '.join(r)} |" for r in body])


def test_change_request_tables_written_with_the_cell_filter_convert_the_same() -> None:
    """Random cells, escaped by the cell or code filter or raw: converted exactly, or left
    alone."""
    from runbook.outputs.htmlblocks import tables_to_blocks

    rng = random.Random(7)
    alphabet = [*"ab |\\`*_{}[]()<>&#!+-.:~=\"'\t", "&amp;", "&#58;", "&copy;", "\u00a0",
                "1. ", "- ", "  ", "http://x", "\\|", "\\\\", "&#1234567;"]
    # A code cell's value as the firewall tables have them (ports, ranges, lists), with the
    # characters code spans escape or keep.
    code_alphabet = [*"ab 09-,.:/<>&*_[]{}#!+=\"'", "&amp;", "\u00a0"]
    converted = 0
    with_code = 0
    for _ in range(2000):
        width = rng.randint(1, 4)
        code_column = rng.random() < 0.5  # a last column of code spans, as Ports
        rows = []
        for _ in range(rng.randint(1, 4)):
            texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8)))
                     for _ in range(width)]
            raw = rng.random() < 0.3
            row = [t if raw else cell(t) for t in texts]
            if code_column and not raw:
                row[-1] = code("".join(rng.choice(code_alphabet) for _ in range(
                    rng.randint(0, 8))) if rng.random() < 0.9 else texts[-1])
            rows.append(row)
        pad = rng.choice([" ", ""])  # rows as the templates write them, or tight
        lines = [f"|{pad}{f'{pad}|{pad}'.join(r)}{pad}|" for r in rows]
        lines.insert(1, "|" + "---|" * width)
        text = "Before.\n\n" + "\n".join(lines) + "\n\nAfter.\n"
        blocks = tables_to_blocks(text)
        converted += blocks != text
        with_code += "<code>" in blocks
        assert convert(blocks) == convert(text), text
    # The check must see conversions, not only tables left alone.
    assert converted > 400 and with_code > 120


@pytest.mark.parametrize("text", [
    "|a|b|\n|:--|---|\n|1|2|\n",  # alignment
    "| a | b |\n|---|---|\n| 1 |\n",  # a short row
    "| a | b |\n|---|---|\n| `x|y` | 2 |\n",  # code
    "| a | b |\n|---|---|\n| [x](y.md) | 2 |\n",  # a link
    "```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n```\n",  # inside a fence
    "<div>\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n</div>\n",  # inside raw HTML
    "text\n| a | b |\n|---|---|\n| 1 | 2 |\n",  # not a block of its own
])
def test_other_tables_are_left_to_markdown(text: str) -> None:
    from runbook.outputs.htmlblocks import tables_to_blocks

    assert tables_to_blocks(text) == text


def test_a_long_row_that_is_not_plain_is_refused_without_backtracking() -> None:
    # A regular expression with nested repeats takes 2**n steps to refuse such a row: this
    # one would not finish. Run apart, so a regression fails instead of hanging the suite.
    import subprocess
    import sys

    row = "| " + "word " * 40 + "`code` |"
    script = ("from runbook.outputs.htmlblocks import tables_to_blocks as t;"
              f"print(t('| a |\\n|---|\\n{row}\\n') == '| a |\\n|---|\\n{row}\\n')")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, cwd=ROOT, check=True)
    assert done.stdout.strip() == "True"


@pytest.mark.parametrize("row", ["|a\\\\\\|", "|a\\|", "|a\\\\|", "| a\\| | b\\\\|", "|\\\\\\\\|"])
def test_escaped_pipes_and_backslashes_at_a_row_end_convert_as_markdown_reads_them(
        row: str) -> None:
    from runbook.outputs.htmlblocks import tables_to_blocks

    text = f"| h |\n|---|\n{row}\n"
    assert convert(tables_to_blocks(text)) == convert(text)


def test_page_templates_escape_every_value_in_their_html_blocks_for_html() -> None:
    """Each value printed in an HTML block ends in html, html_code or anchor.

    A Markdown filter (md, cell, code) would show its backslashes and backticks as typed, and
    ``raw ~ x|html`` escapes x only: the filter must apply to the whole expression.
    """
    whole = re.compile(r'\s*(\([^{}]*\)|[\w.]+)(\|\w+(\([^()]*\))?)*\|(html|html_code|anchor)\s*')
    literal = re.compile(r'\s*"[^"]*"( if .* else "[^"]*")?\s*')
    unescaped = []
    for template in sorted((ROOT / "templates" / "pages").glob("*.j2")):
        text = template.read_text()
        blocks = re.findall(r"{% filter html_block %}(.*?){% endfilter %}", text, flags=re.S)
        for block in blocks:
            for expression in re.findall(r"{{(.*?)}}", block):
                value = re.sub(r' if .* else "[^"]*"\s*$', "", expression)
                if re.search(r"\|(md|cell|code)\b", expression) or not (
                        whole.fullmatch(value) or literal.fullmatch(expression)):
                    unescaped.append(f"{template.name}: {{{{{expression}}}}}")
    assert unescaped == []


def test_a_start_marker_is_paired_with_its_own_end_only() -> None:
    text = f"{START}\n\n*em*\n\n{wrap('<p>x</p>')}after\n"
    out = convert(text)
    assert "<em>em</em>" in out and out.endswith("<p>x</p>\n<p>after</p>")


def test_a_line_of_no_break_spaces_is_text_not_a_blank_line() -> None:
    from runbook.outputs.htmlblocks import tables_to_blocks

    text = "| a |\n|---|\n| 1 |\n\u00a0\n"
    assert tables_to_blocks(text) == text  # one paragraph-table block with a text line
    spaced = "| a |\n|---|\n| 1 |\n \t \n"
    assert convert(tables_to_blocks(spaced)) == convert(spaced)
    assert tables_to_blocks(spaced) != spaced
