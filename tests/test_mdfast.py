"""The faster inline pass (runbook.outputs.mdfast): Python-Markdown's HTML, byte for byte.

The reference is Python-Markdown with the site's extensions (``mkdocs.yml``) and its own
inline pass. The pages are every generated page of the example inputs and of one corpus site
of each layout, plus random Markdown-like text built from the characters the inline patterns
react to.
"""

from __future__ import annotations

import random
import re
import sys
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Comment

import markdown
import pytest
from markdown.treeprocessors import InlineProcessor
from mkdocs.config import load_config

from runbook.outputs import mdfast
from runbook.outputs.mdfast import InlineFastPath
from tests.conftest import ROOT, examples_and_corpus

sys.path.insert(0, str(ROOT / "bench"))
import corpus

CONFIG = load_config(config_file=str(ROOT / "mkdocs.yml"))
EXTENSIONS: list[Any] = list(CONFIG.markdown_extensions)
CONFIGS: dict[str, Any] = dict(CONFIG.mdx_configs)


def convert(text: str, *, fast: bool) -> tuple[str, Any]:
    """HTML and table of contents of ``text``, converted as the site's pages are."""
    extensions = [*EXTENSIONS, InlineFastPath()] if fast else EXTENSIONS
    md = markdown.Markdown(extensions=extensions, extension_configs=CONFIGS)
    html = md.convert(text)
    return html, getattr(md, "toc_tokens", None)


@pytest.fixture(scope="module")
def generated_pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Every generated Markdown page of the examples and of five corpus sites."""
    _, generated = examples_and_corpus(tmp_path_factory.mktemp("mdfast"))
    return {uri: (content.read_bytes() if isinstance(content, Path) else content).decode()
            for uri, content in generated.items() if uri.endswith(".md")}


def test_the_fast_pass_is_what_converts_pages_with_this_python_markdown() -> None:
    assert mdfast.active(), f"Python-Markdown {markdown.__version__} is not a checked version"
    md = markdown.Markdown(extensions=[*EXTENSIONS, InlineFastPath()],
                           extension_configs=CONFIGS)
    assert type(md.treeprocessors["inline"]) is mdfast._FastInlineProcessor
    # Same place in the order of tree processors as the pass it replaces.
    stock = markdown.Markdown(extensions=EXTENSIONS, extension_configs=CONFIGS)
    assert [type(p).__name__.replace("_Fast", "") for p in md.treeprocessors] == \
        [type(p).__name__ for p in stock.treeprocessors]


def test_an_unchecked_python_markdown_keeps_its_own_pass(monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    monkeypatch.setattr(mdfast, "VERIFIED_VERSIONS", frozenset({"0.0"}))
    md = markdown.Markdown(extensions=[*EXTENSIONS, InlineFastPath()],
                           extension_configs=CONFIGS)
    assert type(md.treeprocessors["inline"]) is InlineProcessor


def test_the_site_adds_it_to_its_markdown_extensions() -> None:
    from runbook.site.build import _plugin

    config = load_config(config_file=str(ROOT / "mkdocs.yml"))
    _plugin(config).preload([], {})
    config = config.plugins.on_config(config)
    assert sum(isinstance(e, InlineFastPath) for e in config.markdown_extensions) == 1
    config = config.plugins.on_config(config)  # a second build (mkdocs serve): still one
    assert sum(isinstance(e, InlineFastPath) for e in config.markdown_extensions) == 1


def test_every_generated_page_converts_to_the_same_html(generated_pages: dict[str, str]
                                                        ) -> None:
    slugs = {uri.split("/")[1] for uri in generated_pages if uri.startswith("sites/")}
    assert len(slugs) >= len(corpus.KINDS) + 2
    for uri, text in generated_pages.items():
        assert convert(text, fast=True) == convert(text, fast=False), uri


def test_the_fast_pass_skips_most_pattern_calls(generated_pages: dict[str, str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    calls = [0]
    real = InlineProcessor._InlineProcessor__applyPattern  # type: ignore[attr-defined]

    def counting(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return real(self, *args, **kwargs)

    monkeypatch.setattr(InlineProcessor, "_InlineProcessor__applyPattern", counting)
    text = generated_pages["sites/contoso-hq/runbook.md"]
    convert(text, fast=False)
    stock, calls[0] = calls[0], 0
    convert(text, fast=True)
    assert calls[0] < stock / 5, (calls[0], stock)


PIECES = ["a", "b c", " ", "  ", "\n", "\\", "\\\\", "`", "``", "*", "**", "_", "__", "[", "]",
          "(", ")", "!", "<", ">", "&", "&amp;", "&#169;", ":", "/", "http://x.y", "{", "}",
          ".x", "#", "=", "|", "-", "1.", "~", "^", "'", '"', "\t", "x@y.z", "\u00e9",
          "<b>", "</b>", "<span>", "[a]: /b", "[x][a]", "![i](p.png)", "[l](p.md#x)",
          "{ .cls }", "&para;", "  \n", "<http://a.b>", "<a@b.c>"]
LINES = ["", "# ", "## ", "- ", "1. ", "    ", "> ", "| ", "- [ ] ", "- [x] ", "!!! note\n    ",
         "??? tip \"t\"\n    ", "```\n", "Term\n: "]


def random_markdown(rng: random.Random) -> str:
    lines = []
    for _ in range(rng.randint(1, 8)):
        body = "".join(rng.choice(PIECES) for _ in range(rng.randint(1, 12)))
        lines.append(rng.choice(LINES) + body)
    return "\n".join(lines) + rng.choice(["", "\n"])


def test_random_markdown_converts_to_the_same_html() -> None:
    rng = random.Random(2007)
    differing_from_text = 0
    for _ in range(2500):
        text = random_markdown(rng)
        fast = convert(text, fast=True)
        assert fast == convert(text, fast=False), text
        differing_from_text += "<code>" in fast[0] or "<em>" in fast[0] or "<a " in fast[0]
    assert differing_from_text > 600  # the inline patterns had plenty to do


def test_every_match_of_every_inline_pattern_begins_where_the_prefilter_looks() -> None:
    md = markdown.Markdown(extensions=[*EXTENSIONS, InlineFastPath()], extension_configs=CONFIGS)
    regexes = [p.getCompiledRegExp() for p in md.inlinePatterns]
    prefilter = mdfast._openings(tuple(regexes)).prefilter
    assert prefilter is not None, "the site's patterns all have starts the prefilter knows"
    starts = [re.compile(opening[0] if (opening := mdfast._opening(r)) else "") for r in regexes]
    rng = random.Random(2009)
    matched = 0
    for _ in range(3000):
        text = "".join(rng.choice(PIECES) for _ in range(rng.randint(1, 10)))
        for regex, start in zip(regexes, starts, strict=True):
            for m in regex.finditer(text):
                matched += 1
                assert start.match(text, m.start()), (regex.pattern, text, m.start())
                assert prefilter.search(text)
    assert matched > 3000


def test_an_inline_pattern_the_prefilter_cannot_read_turns_it_off() -> None:
    readable = re.compile(r"\*\*")
    for unreadable in (r"\w+@", r"[^x]y", r"(?i)ab", r"a?b", r"(a?)b", r"(?=x)"):
        assert mdfast._openings((readable, re.compile(unreadable))).prefilter is None, unreadable
    assert mdfast._openings((readable, None)).prefilter is None  # an old-style pattern
    assert mdfast._openings((readable, re.compile("[a-c]|d"))).prefilter.pattern == r"\*\*|[abcd]"


def test_is_block_level_answers_as_python_markdowns_own() -> None:
    md = markdown.Markdown(extensions=[*EXTENSIONS, InlineFastPath()], extension_configs=CONFIGS)
    stock = markdown.Markdown(extensions=EXTENSIONS, extension_configs=CONFIGS)
    tags: list[Any] = ["p", "P", "div/", "DIV", "span", "details", "summary", "hr", "x-y", "",
                       "/", "code", "pre", None, 3, Comment]
    seen: list[list[bool]] = []

    class Probe(markdown.treeprocessors.Treeprocessor):
        def run(self, root: Any) -> None:  # asked in the middle of a conversion
            seen.append([md.is_block_level(t) for t in tags])

    md.treeprocessors.register(Probe(md), "probe", 1)
    md.convert("# A\n\ntext\n")
    expected = [stock.is_block_level(t) for t in tags]
    assert seen == [expected]
    assert [md.is_block_level(t) for t in tags] == expected  # and outside one
    assert "_runbook_block_level" not in vars(md)
    md.block_level_elements.append("x-y")  # a list changed between conversions is read anew
    assert md.is_block_level("x-y")


def test_a_pattern_that_may_begin_with_a_placeholder_character_is_always_searched() -> None:
    # The inline pass writes placeholders (STX, "klzzwxh:", digits, ETX) into the text as it
    # goes: a pattern that could begin with one of those must never be skipped for a
    # character missing from the text it started with.
    _, firsts, known = mdfast._openings((re.compile(r"\*\*"), re.compile(r"klzz"),
                                     re.compile(r"[0-9]+x"), re.compile("\x02")))
    assert firsts == (frozenset("*"), None, None, None)
    assert known == frozenset("*")


def test_a_regex_parser_of_another_layout_makes_the_prefilter_unsure(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def other_layout(pattern: str, flags: int = 0) -> list[Any]:
        return [(mdfast._c.SUBPATTERN, (1, 0))]  # operands Python 3.11 does not have

    regex = re.compile(r"(\*)")
    assert mdfast._opening(regex) is not None
    monkeypatch.setattr(mdfast._parser, "parse", other_layout)
    assert mdfast._opening(regex) is None
