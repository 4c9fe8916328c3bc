"""The YAML loader: positions for every value, and hostile or malformed files refused fast.

Every refusal is a single ``yaml`` problem carrying the file, line and column a user can jump
to, and a message that says what is wrong and what to do instead.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from runbook.errors import Problem
from runbook.topology import loader
from runbook.topology.loader import format_path, load_text
from tests.topo import contoso, dump, pos, problems, write


def only_problem(path: Path) -> Problem:
    """The one problem the loader reports for ``path`` (a refused file has exactly one)."""
    found = problems(path)
    assert len(found) == 1, "\n".join(p.format() for p in found)
    assert found[0].severity == "error"
    assert found[0].code == "yaml"
    return found[0]


# -- positions -----------------------------------------------------------------------------


def test_every_value_and_key_position_is_recorded_one_based() -> None:
    text = "site: contoso-hq\nedge:\n  servers:\n    - name: edge01\n      roles: [access, av]\n"
    src, found = load_text(text, "x.yaml")
    assert found == []
    assert src.positions[("site",)] == (1, 7)
    assert src.key_positions[("edge", "servers")] == (3, 3)
    assert src.positions[("edge", "servers", 0, "name")] == (4, 13)
    assert src.positions[("edge", "servers", 0, "roles", 1)] == (5, 23)  # "av"


def test_where_falls_back_to_the_nearest_existing_ancestor() -> None:
    text = "site: contoso-hq\nedge:\n  fqdns:\n    access: sip.contoso.com\n"
    src, _ = load_text(text, "x.yaml")
    # edge.fqdns.av is absent: its parent mapping's value (line 4, col 5) is the best place
    assert src.where(("edge", "fqdns", "av")) == (4, 5)
    assert src.where(("nothing", "here")) == (1, 1)


def test_field_paths_read_like_python_attribute_access() -> None:
    assert format_path(("edge", "servers", 0, "nics", "av", "ip")) == "edge.servers[0].nics.av.ip"
    assert format_path(("pools", 2)) == "pools[2]"
    assert format_path(()) == ""


def test_a_problem_formats_as_file_line_col_path_message() -> None:
    err = Problem("inputs/x.yaml", 12, 9, "edge.servers[0].nics.av.ip", "fix it")
    warn = Problem("inputs/x.yaml", 3, 1, "certificates", "consider it", "warning")
    bare = Problem("inputs/x.yaml", 1, 1, "", "file is empty")
    assert err.format() == "inputs/x.yaml:12:9: edge.servers[0].nics.av.ip: fix it"
    assert warn.format() == "inputs/x.yaml:3:1: warning: certificates: consider it"
    assert bare.format() == "inputs/x.yaml:1:1: file is empty"


def test_contoso_loads_without_problems(tmp_path: Path) -> None:
    assert problems(write(tmp_path, contoso())) == []


# -- hostile documents -------------------------------------------------------------------------


def test_billion_laughs_alias_bomb_is_refused_in_well_under_a_second(tmp_path: Path) -> None:
    levels = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        levels.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    path = write(tmp_path, "\n".join(levels) + "\n")
    started = time.perf_counter()
    p = only_problem(path)
    elapsed = time.perf_counter() - started
    assert elapsed < 1.0  # a naive loader would build 9**9 values and never return
    assert f"more than {loader.MAX_ALIASES} YAML aliases" in p.message
    assert "write the values out" in p.message
    # the 51st alias is the 6th on line 7 (g's list), which is where reading stopped
    line7 = "g: &g [" + ", ".join(["*f"] * 9) + "]"
    assert (p.line, p.col) == (7, pos(line7, "*f", nth=6)[1])


def test_few_aliases_expanding_to_too_many_values_are_refused(tmp_path: Path) -> None:
    # 50 aliases (allowed) but 300 * 25 * 25 = 187,500 values: the value budget stops it
    items = ", ".join(["x"] * 300)
    text = (f"a: &a [{items}]\n"
            "b: &b [" + ", ".join(["*a"] * 25) + "]\n"
            "c: [" + ", ".join(["*b"] * 25) + "]\n")
    path = write(tmp_path, text)
    started = time.perf_counter()
    p = only_problem(path)
    assert time.perf_counter() - started < 2.0
    assert f"more than {loader.MAX_NODES} values" in p.message
    assert "remove repeated aliases" in p.message


def test_deeply_nested_brackets_are_refused_fast_instead_of_overflowing_the_stack(
        tmp_path: Path) -> None:
    depth = 20_000  # 40 kB of brackets: a recursive composer would crash or crawl
    path = write(tmp_path, "site: contoso-hq\nedge: " + "[" * depth + "]" * depth + "\n")
    started = time.perf_counter()
    p = only_problem(path)
    assert time.perf_counter() - started < 2.0
    # the document's mapping is level 1, so bracket k (column 6 + k of line 2) opens level
    # k + 1: bracket MAX_DEPTH opens the first level too many
    assert (p.line, p.col) == (2, 6 + loader.MAX_DEPTH)
    assert p.message == (f"lists and mappings nest more than {loader.MAX_DEPTH} levels deep; "
                         "a topology needs far fewer: check the brackets")


def test_aliases_stacking_nesting_beyond_the_limit_are_refused(tmp_path: Path) -> None:
    lines = ["a0: &a0 " + "[" * 20 + "x" + "]" * 20]
    lines += [f"a{i}: &a{i} " + "[" * 20 + f"*a{i - 1}" + "]" * 20 for i in range(1, 40)]
    p = only_problem(write(tmp_path, "\n".join(lines) + "\n"))
    assert p.message == (f"values nest more than {loader.MAX_DEPTH} levels deep once aliases "
                         "are expanded; write the values out instead")


def test_a_document_with_too_many_values_is_refused_while_reading(tmp_path: Path) -> None:
    items = loader.MAX_NODES + 10
    text = "pools:\n" + "- x\n" * items  # under the size cap, far over any real topology
    assert len(text.encode()) < loader.MAX_BYTES
    started = time.perf_counter()
    p = only_problem(write(tmp_path, text))
    assert time.perf_counter() - started < 2.0
    # values: the mapping, "pools", the list, then item j as value 3 + j on line j + 1; the
    # first value too many is item MAX_NODES - 2, on line MAX_NODES - 1
    assert (p.line, p.col) == (loader.MAX_NODES - 1, 3)  # the x after "- "
    assert p.message == (f"the document holds more than {loader.MAX_NODES} values; a topology "
                         "is far smaller: split it into one file per site")


def test_a_second_yaml_document_is_refused_at_its_separator(tmp_path: Path) -> None:
    text = "site: one\norganization: A\n---\nsite: two\n"
    p = only_problem(write(tmp_path, text))
    assert (p.line, p.col) == (3, 1)
    assert "one YAML document" in p.message
    assert "into its own file" in p.message


def test_a_list_document_is_refused(tmp_path: Path) -> None:
    p = only_problem(write(tmp_path, "- site: a\n- site: b\n"))
    assert (p.line, p.col) == (1, 1)
    assert "must be a mapping of keys" in p.message
    assert "not a list or a single value" in p.message


def test_a_single_scalar_document_is_refused(tmp_path: Path) -> None:
    p = only_problem(write(tmp_path, "# a comment first\ncontoso-hq\n"))
    assert (p.line, p.col) == (2, 1)
    assert "must be a mapping of keys" in p.message


def test_an_empty_file_is_refused_with_a_starting_point(tmp_path: Path) -> None:
    for text in ("", "\n\n", "# only a comment\n"):
        p = only_problem(write(tmp_path, text))
        assert (p.line, p.col) == (1, 1)
        assert "the file is empty" in p.message
        assert "inputs/contoso.yaml" in p.message


def test_a_file_over_the_size_cap_is_refused_without_parsing(tmp_path: Path) -> None:
    text = "site: a\n" + "#" * loader.MAX_BYTES + "\n"
    path = write(tmp_path, text)
    started = time.perf_counter()
    p = only_problem(path)
    assert time.perf_counter() - started < 1.0
    assert f"file is larger than {loader.MAX_BYTES // 1000} kB" in p.message
    assert (p.line, p.col) == (1, 1)


def test_a_file_just_under_the_size_cap_is_read(tmp_path: Path) -> None:
    text = dump(contoso())
    text += "#" * (loader.MAX_BYTES - len(text.encode()) - 1) + "\n"
    assert len(text.encode()) == loader.MAX_BYTES
    assert problems(write(tmp_path, text)) == []


def test_non_utf8_bytes_are_refused_with_their_offset(tmp_path: Path) -> None:
    p = only_problem(write(tmp_path, b"site: contoso\norganization: Caf\xe9 Ltd\n"))
    assert "not UTF-8" in p.message
    assert "at byte 31" in p.message  # len(b"site: contoso\norganization: Caf")
    assert "save it as UTF-8" in p.message


def test_a_duplicate_key_is_reported_at_its_second_occurrence(tmp_path: Path) -> None:
    text = dump(contoso()).replace(
        "gateway: 172.16.0.1\n", "gateway: 172.16.0.1\n        gateway: 172.16.0.254\n")
    p = only_problem(write(tmp_path, text))
    assert (p.line, p.col) == pos(text, "gateway: 172.16.0.254")
    first_line = pos(text, "gateway: 172.16.0.1")[0]
    assert p.message == (f"key 'gateway' appears twice (first at line {first_line}); "
                         "keep one of them")


def test_a_duplicate_top_level_key_is_not_silently_overwritten(tmp_path: Path) -> None:
    p = only_problem(write(tmp_path, "site: one\norganization: A\nsite: two\n"))
    assert (p.line, p.col) == (3, 1)
    assert "key 'site' appears twice (first at line 1)" in p.message


def test_a_key_overriding_a_yaml_merge_is_not_a_duplicate() -> None:
    # servers behind a load balancer often share NIC settings through an anchor
    text = ("servers:\n"
            "  - nics: &lan {internal: {ip: 10.0.0.11/24}, name: LAN}\n"
            "  - nics:\n"
            "      <<: *lan\n"
            "      internal: {ip: 10.0.0.12/24}\n")
    src, found = load_text(text, "x.yaml")
    assert found == []
    assert src.data["servers"][1]["nics"] == {"internal": {"ip": "10.0.0.12/24"}, "name": "LAN"}
    assert src.data["servers"][0]["nics"]["internal"]["ip"] == "10.0.0.11/24"
    assert src.positions[("servers", 1, "nics", "internal", "ip")] == (5, 22)


def test_a_key_written_twice_next_to_a_merge_is_still_a_duplicate() -> None:
    text = "a: &x {k: 1}\nb:\n  <<: *x\n  k: 2\n  k: 3\n"
    _, [p] = load_text(text, "x.yaml")
    assert (p.line, p.col) == (5, 3)
    assert p.message == "key 'k' appears twice (first at line 4); keep one of them"


def test_a_yaml_syntax_error_carries_line_and_column(tmp_path: Path) -> None:
    text = "site: contoso-hq\norganization: Contoso: Ltd\n"
    p = only_problem(write(tmp_path, text))
    assert (p.line, p.col) == pos(text, ": Ltd")
    assert p.message.startswith("YAML syntax error: mapping values are not allowed here")
    assert "or a value holds ': ' (put that value in quotes)" in p.message


def test_a_key_indented_unlike_its_siblings_gets_a_plain_sentence(tmp_path: Path) -> None:
    text = "site: x\nedge:\n  fqdns:\n    access: a.b\n   servers: []\n"
    p = only_problem(write(tmp_path, text))
    assert (p.line, p.col) == (5, 4)
    assert p.message.startswith("YAML syntax error: expected <block end>")  # PyYAML's words
    # ...and what they mean: the mapping of 'fqdns' starts at line 3, column 3
    assert ("this line is indented differently from the keys before it: keys of one mapping "
            "start in the same column as its first key (line 3, column 3)") in p.message


def test_an_unclosed_flow_list_is_a_syntax_error(tmp_path: Path) -> None:
    p = only_problem(write(tmp_path, "site: a\ndomains:\n  sip: [contoso.com\n"))
    assert p.message.startswith("YAML syntax error: expected ',' or ']'")
    assert p.line == 4  # reading ran off the end of the file looking for ']'


def test_tab_indentation_is_refused_with_a_spaces_hint(tmp_path: Path) -> None:
    p = only_problem(write(tmp_path, "site: a\ndomains:\n\tinternal: contoso.local\n"))
    assert (p.line, p.col) == (3, 1)
    assert "'\\t'" in p.message
    assert "spaces, never tabs" in p.message


def test_an_unreadable_date_like_value_is_an_error_not_a_crash(tmp_path: Path) -> None:
    text = dump(contoso()) + "  window_start: 2024-13-45\n"
    p = only_problem(write(tmp_path, text))
    assert (p.line, p.col) == pos(text, "2024-13-45")
    assert p.message == "value '2024-13-45' cannot be read; put it in quotes"


def test_a_missing_file_is_an_io_problem_not_a_traceback(tmp_path: Path) -> None:
    found = problems(tmp_path / "absent.yaml")
    assert len(found) == 1
    assert found[0].code == "io"
    assert "cannot read file" in found[0].message


# -- the two parsers -------------------------------------------------------------------------

_TRICKY = (
    "site: caf\u00e9-h\u00f4tel  # accents\r\nnotes: \"\U0001f680 rocket\"\r\n"
    "edge:\r\n  servers:\r\n    - &s {name: edge01, roles: [access, av]}\r\n"
    "    - <<: *s\r\n      name: edge02\r\n  text: |\r\n    two\r\n    lines\r\n"
    "  quoted: 'it''s'\r\n  when: 2007-10-01\r\n  port: 0x1F\r\n  off: no\r\n"
)


def _both(text: str) -> tuple[Any, Any]:
    fast = load_text(text, "x.yaml")
    with _pure_python():
        slow = load_text(text, "x.yaml")
    return fast, slow


@contextmanager
def _pure_python() -> Iterator[None]:
    saved = loader._FAST_LOADER
    loader._FAST_LOADER = yaml.SafeLoader
    try:
        yield
    finally:
        loader._FAST_LOADER = saved


def test_libyaml_is_what_reads_topologies_when_pyyaml_has_it() -> None:
    assert yaml.__with_libyaml__, "PyYAML's wheel bundles libyaml: reading falls back to Python"
    assert loader._FAST_LOADER is yaml.CSafeLoader


def test_libyaml_and_pure_python_give_the_same_data_and_positions() -> None:
    examples = sorted(Path(__file__).parent.parent.joinpath("inputs").glob("*.yaml"))
    assert examples
    texts = [p.read_text(encoding="utf-8") for p in examples] + [_TRICKY]
    for text in texts:
        (fast, fast_problems), (slow, slow_problems) = _both(text)
        assert fast_problems == slow_problems == []
        assert fast.data == slow.data
        assert fast.positions == slow.positions
        assert fast.key_positions == slow.key_positions
    (src, _), _ = _both(_TRICKY)
    assert src.positions[("notes",)] == (2, 8)
    assert src.positions[("edge", "servers", 1, "name")] == (7, 13)


def test_errors_read_the_same_whichever_parser_is_installed() -> None:
    broken = [
        "site: [a, b\nedge: x\n",
        "site: x\n\tedge: y\n",
        "a: b: c\n",
        "site: x\n---\nsite: y\n",
        "a: &x 1\nb: *y\n",
        "key: 'unclosed\n",
    ]
    for text in broken:
        (_, fast), (_, slow) = _both(text)
        assert fast and fast == slow, text


# What libyaml reads differently from PyYAML (found by a differential fuzz): such texts go to
# PyYAML's parser, so a file means the same whichever parser is installed.
LIBYAML_DIFFERS = [
    "site: a\t\n",  # a trailing tab: PyYAML refuses it
    "site: a\t# c\n",
    "site:\tx\n",
    "site\t: x\n",
    "site: &a\tx\n",
    "site: [a,\tb]\n",
    "site: {a: 1, b:\t2}\n",
    "a: [\n\tb]\n",
    "a: |#\n  x\n",  # libyaml accepts a comment glued to a block scalar header
    "a: >-#\n  x\n",
    "\ufeff\ufeffsite: x\n",  # byte-order marks inside the text
    "site: [a,\n\ufeff b]\n",
    "site: x\n\ufeff\nedge: y\n",
    "site: !\n",  # an empty value with a bare tag: '' for libyaml, None for PyYAML
    "site: a\x85b: c\n",
    "site: a\u2028edge: c\n",
    "site: x\ud800\n",  # a lone surrogate: libyaml cannot even take the text
    "? a\n",  # values written as nothing: placed at the next token by libyaml
    "a: {b: }\n",
    "---\n",
    "--- \n",
]


def test_the_examples_are_read_by_libyaml() -> None:
    for path in sorted(Path(__file__).parent.parent.joinpath("inputs").glob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        assert loader._loader_for(text) is yaml.CSafeLoader, path.name
        assert loader._compose(text, yaml.CSafeLoader) is not None, path.name


def outcome(text: str) -> tuple[Any, ...]:
    src, found = load_text(text, "x.yaml")
    return src.data, src.positions, src.key_positions, found


def test_texts_libyaml_reads_differently_mean_what_pyyaml_says() -> None:
    for text in LIBYAML_DIFFERS:
        fast = outcome(text)
        with _pure_python():
            assert fast == outcome(text), repr(text)


def test_random_texts_mean_the_same_whichever_parser_is_installed() -> None:
    pieces = ["a", "b: ", "c:", " ", "  ", "\n", "\n  ", "\n    ", "- ", "-", "? ", ": ", "[",
              "]", "{", "}", ",", "&x ", "*x", "!!str ", "!", "'", '"', "\\", "#", " #", "|a",
              "|-a", ">a", "---", "...", "%YAML 1.1\n", "\u00e9", "\u00a0", "\x85", "\u2028",
              "\r\n", "\r", "@", "`", "%", "0x1F", "1e3", "~", "null", "yes", "<<: ", "\ufeff",
              "\t", "|#", "\\x41", "\\u00e9", "\\/", "\\N", "\\_", "\U0001f680"]
    rng = random.Random(2010)
    read = 0
    for _ in range(4000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 25)))
        fast = outcome(text)
        with _pure_python():
            assert fast == outcome(text), repr(text)
        read += not fast[3]
    assert read > 50  # some texts were mappings read without a problem, not just errors
