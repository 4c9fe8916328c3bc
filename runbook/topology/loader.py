"""Reading topology YAML safely, keeping the position of every key and value.

PyYAML's safe loader is used for scalars only; the document tree is walked here so that
each path (``("edge", "servers", 0, "nics")``) maps to the line and column it came from,
duplicate keys are refused instead of silently overwritten, and hostile documents (alias
bombs, huge files, several documents, a list where a mapping belongs) fail fast.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from runbook.errors import Problem, shown
from runbook.topology.files import NotRegularFile, TooLarge, read_capped
from runbook.topology.secrets import redact

MAX_BYTES = 256_000  # pure-Python PyYAML (the fallback) reads ~100 kB/s of dense YAML
MAX_ALIASES = 50
MAX_NODES = 20_000  # a large topology holds a few hundred values
MAX_DEPTH = 32  # a topology nests about 8 levels; PyYAML's composer recurses per level

PathKey = tuple[str | int, ...]
_PLAIN_TAGS = {f"tag:yaml.org,2002:{t}" for t in (
    "str", "int", "float", "bool", "null", "map", "seq", "timestamp")}


@dataclass
class Source:
    """A topology file's text, its data and where each path sits in it."""

    file: str
    text: str
    data: Any = None
    # path -> (line, col) of the value; keys of mappings also under path + ("<key>",)
    positions: dict[PathKey, tuple[int, int]] = field(default_factory=dict)
    key_positions: dict[PathKey, tuple[int, int]] = field(default_factory=dict)
    # The bytes read from disk (None when the file was not read): what a cached verdict of
    # this file is keyed by (runbook.topology.verdicts).
    raw: bytes | None = field(default=None, repr=False, compare=False)

    def where(self, path: PathKey, *, key: bool = False) -> tuple[int, int]:
        """Line and column (1-based) of ``path``, or of its nearest ancestor that exists."""
        table = self.key_positions if key else self.positions
        p = tuple(path)
        while p:
            if p in table:
                return table[p]
            if not key and p in self.key_positions:
                return self.key_positions[p]
            p = p[:-1]
        return self.positions.get((), (1, 1))

    def problem(
        self,
        path: PathKey,
        message: str,
        *,
        severity: str = "error",
        key: bool = False,
        code: str = "",
    ) -> Problem:
        """A :class:`Problem` positioned at ``path`` in this file."""
        line, col = self.where(path, key=key)
        return Problem(self.file, line, col, format_path(path), message, severity, code)  # type: ignore[arg-type]


def format_path(path: PathKey) -> str:
    """``("edge", "servers", 0, "nics")`` -> ``edge.servers[0].nics``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


class _LoadError(Exception):
    def __init__(self, line: int, col: int, message: str) -> None:
        super().__init__(message)
        self.line, self.col, self.message = line, col, message


def _mark(node: yaml.Node | yaml.Event | None) -> tuple[int, int]:
    mark = getattr(node, "start_mark", None)
    if mark is None:
        return (1, 1)
    return (mark.line + 1, mark.column + 1)


class _Builder:
    """Turns a composed node tree into plain data while recording positions."""

    def __init__(self, src: Source) -> None:
        self.src = src
        self.nodes = 0
        self.constructor = yaml.SafeLoader("")
        # id(mapping node) -> how many leading entries flatten_mapping merged in from '<<'
        self.merged: dict[int, int] = {}

    def build(self, node: yaml.Node, path: PathKey) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _LoadError(*_mark(node), f"the document expands to more than {MAX_NODES} "
                             "values; a topology is far smaller: remove repeated aliases")
        if len(path) > MAX_DEPTH:  # aliases can stack nesting beyond what the text shows
            raise _LoadError(*_mark(node), f"values nest more than {MAX_DEPTH} levels deep "
                             "once aliases are expanded; write the values out instead")
        self.src.positions[path] = _mark(node)
        if node.tag not in _PLAIN_TAGS:
            tag = shown(node.tag.replace("tag:yaml.org,2002:", "!!"))
            raise _LoadError(*_mark(node), f"YAML tag {tag} is not allowed: a topology "
                             "holds plain values, lists and mappings; remove the tag")
        if isinstance(node, yaml.MappingNode):
            if id(node) not in self.merged:  # an aliased node is flattened only once
                own = sum(k.tag != "tag:yaml.org,2002:merge" for k, _ in node.value)
                self.constructor.flatten_mapping(node)
                self.merged[id(node)] = len(node.value) - own
            merged = self.merged[id(node)]
            out: dict[str, Any] = {}
            explicit: set[str] = set()
            for index, (key_node, value_node) in enumerate(node.value):
                if not isinstance(key_node, yaml.ScalarNode):
                    raise _LoadError(*_mark(key_node), "a key must be plain text")
                key = self.constructor.construct_object(key_node)
                if not isinstance(key, str):
                    key = str(key_node.value)
                if index >= merged and key in explicit:  # a key overriding '<<' is fine
                    first = self.src.key_positions[(*path, key)]
                    raise _LoadError(*_mark(key_node), f"key {shown(redact(key))} appears "
                                     f"twice (first at line {first[0]}); keep one of them")
                if index >= merged:
                    explicit.add(key)
                self.src.key_positions[(*path, key)] = _mark(key_node)
                out[key] = self.build(value_node, (*path, key))
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        try:
            return self.constructor.construct_object(node)
        except ValueError:  # e.g. a date-like scalar with month 13: PyYAML raises ValueError
            raise _LoadError(*_mark(node), f"value {shown(redact(node.value))} cannot be read; "
                             "put it in quotes") from None


class _Refused(Exception):
    """A document refused before composing it (too many values, aliases, documents)."""

    def __init__(self, mark: tuple[int, int], message: str) -> None:
        super().__init__(message)
        (self.line, self.col), self.message = mark, message


# libyaml (bundled with PyYAML's wheels) parses about fifteen times faster than PyYAML's
# pure-Python parser, and gives the same events, nodes and marks for what topologies hold
# (tests/test_loader.py). Not for everything: libyaml accepts tabs where PyYAML refuses them,
# reads a byte-order mark inside the text and an empty value with a bare "!" tag differently,
# accepts "|#", and places values written as nothing elsewhere. A text with any of those goes
# to PyYAML's parser (as does one libyaml cannot take at all), so what a file means, and
# where its problems are reported, never depends on which parser is installed.
_FAST_LOADER: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_NOT_FOR_LIBYAML = re.compile("[\t!\ufeff\x85\u2028\u2029]|[|>][-+0-9]*#")


def _loader_for(text: str) -> type:
    body = text[1:] if text.startswith("\ufeff") else text  # a leading BOM reads the same
    return yaml.SafeLoader if _NOT_FOR_LIBYAML.search(body) else _FAST_LOADER


class _LibyamlUnsure(Exception):
    """libyaml met something it places differently from PyYAML: read the text with PyYAML."""


def _compose(text: str, loader: type) -> yaml.Node | None:
    """Check the event stream for hostile shapes, then compose the document's node tree."""
    aliases = 0
    documents = 0
    depth = 0
    values = 0
    libyaml = loader is not yaml.SafeLoader
    for event in yaml.parse(text, Loader=loader):
        if libyaml and isinstance(event, yaml.ScalarEvent) and not event.value \
                and not event.style:
            # An empty value written as nothing at all (an empty document, "{a: }", "? a"):
            # libyaml marks it where the next token starts, PyYAML where the last one ended.
            raise _LibyamlUnsure
        if isinstance(event, yaml.NodeEvent):
            values += 1
            if values > MAX_NODES:  # stop before composing a huge document
                raise _Refused(_mark(event), f"the document holds more than {MAX_NODES} "
                               "values; a topology is far smaller: split it into one file "
                               "per site")
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise _Refused(_mark(event), f"lists and mappings nest more than {MAX_DEPTH} "
                               "levels deep; a topology needs far fewer: check the brackets")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
        elif isinstance(event, yaml.AliasEvent):
            aliases += 1
            if aliases > MAX_ALIASES:
                raise _Refused(_mark(event), f"more than {MAX_ALIASES} YAML aliases; "
                               "write the values out instead of repeating anchors")
        elif isinstance(event, yaml.DocumentStartEvent):
            documents += 1
            if documents > 1:
                raise _Refused(_mark(event), "a topology file holds one YAML document; "
                               "move each further document ('---') into its own file")
    return yaml.compose(text, Loader=loader)


def _compose_safely(text: str) -> yaml.Node | None:
    """:func:`_compose` with libyaml where it reads the text as PyYAML does, else PyYAML.

    Whatever libyaml refuses is read again by PyYAML, whose messages users get either way.
    Refusals of hostile shapes (:class:`_Refused`) are the same from both and not retried.
    """
    loader = _loader_for(text)
    if loader is not yaml.SafeLoader:
        try:
            return _compose(text, loader)
        except (yaml.YAMLError, UnicodeError, _LibyamlUnsure):
            pass
    return _compose(text, yaml.SafeLoader)


def _plain_yaml_hint(exc: yaml.MarkedYAMLError) -> str:
    """What PyYAML's message means for a hand-written file, in a plain sentence."""
    what = exc.problem or ""
    started = exc.context_mark
    where = f" (line {started.line + 1}, column {started.column + 1})" if started else ""
    if what.startswith("expected <block end>"):
        return ("this line is indented differently from the keys before it: keys of one "
                f"mapping start in the same column as its first key{where}; line it up with "
                "its siblings, or indent it under the key it belongs to")
    if what == "mapping values are not allowed here":
        return ("a 'key: value' where a plain value was expected: either the line is "
                "indented deeper than its siblings (line it up with them), or a value holds "
                "': ' (put that value in quotes)")
    if what.startswith("did not find expected key"):
        return ("a line is indented deeper or shallower than the keys around it, or a "
                "quote is not closed: line the keys up and close the quote")
    if what.startswith("did not find expected '-' indicator"):
        return ("an item of a list is not indented like the items before it: start each "
                "'- ' in the same column")
    return "fix the indentation or quoting there"


def load_text(text: str, file: str) -> tuple[Source, list[Problem]]:
    """Parse ``text`` as a topology document; problems are returned, never raised."""
    src = Source(file=file, text=text)

    def fail(line: int, col: int, message: str) -> tuple[Source, list[Problem]]:
        return src, [Problem(file, line, col, "", message, "error", "yaml")]

    if len(text.encode("utf-8", "replace")) > MAX_BYTES:
        return fail(1, 1, f"file is larger than {MAX_BYTES // 1000} kB; a topology is a few "
                    "kB: split it into one file per site")
    try:
        root = _compose_safely(text)
    except _Refused as exc:
        return fail(exc.line, exc.col, exc.message)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        what = exc.problem or exc.context or "invalid YAML"
        if "\\t" in what:
            what += " (YAML indents with spaces, never tabs)"
        return fail(line, col, f"YAML syntax error: {what}; {_plain_yaml_hint(exc)}")
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow in a file
        before = text[:exc.position]
        line, col = before.count("\n") + 1, exc.position - (before.rfind("\n") + 1) + 1
        char = exc.character if isinstance(exc.character, str) else chr(exc.character)
        return fail(line, col, f"the character {shown(char)} (U+{ord(char):04X}) is not "
                    "allowed in a YAML file: remove it, or write it as an escape in a "
                    "double-quoted string if it is really meant")
    except yaml.YAMLError as exc:
        return fail(1, 1, f"YAML error: {shown(exc, 200)}")
    if root is None:
        return fail(1, 1, "the file is empty; start from inputs/contoso.yaml")
    if not isinstance(root, yaml.MappingNode):
        return fail(*_mark(root), "the document must be a mapping of keys (site:, domains:, "
                    "edge:, ...), not a list or a single value")
    try:
        src.data = _Builder(src).build(root, ())
    except _LoadError as exc:
        return fail(exc.line, exc.col, exc.message)
    except yaml.YAMLError as exc:  # a scalar PyYAML cannot construct (bad timestamp, ...)
        mark = getattr(exc, "problem_mark", None)
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        return fail(line, col, f"value cannot be read: {getattr(exc, 'problem', exc)}; quote it")
    return src, []


def load_file(path: Path, display: str | None = None) -> tuple[Source, list[Problem]]:
    """Read and parse one topology file; ``display`` is the name used in messages."""
    name = display or str(path)

    def fail(message: str, code: str, raw: bytes | None = None) -> tuple[Source, list[Problem]]:
        return Source(name, "", raw=raw), [Problem(name, 1, 1, "", message, "error", code)]

    try:
        # At most MAX_BYTES + 1 bytes are read, whatever the file claims: a link to
        # /dev/zero or a file still growing cannot fill the memory, a FIFO cannot hang.
        raw = read_capped(path, MAX_BYTES)
        text = raw.decode("utf-8")
    except TooLarge:
        return fail(f"file is larger than {MAX_BYTES // 1000} kB; a topology is a few kB: "
                    "split it into one file per site", "yaml")
    except NotRegularFile as exc:
        return fail(f"cannot read file: {exc}; give the path of a topology file", "io")
    except UnicodeDecodeError as exc:
        return fail(f"file is not UTF-8 text ({exc.reason} at byte {exc.start}); save it as "
                    "UTF-8", "yaml", raw)
    except OSError as exc:
        return fail(f"cannot read file: {exc.strerror or exc}", "io")
    src, problems = load_text(text, name)
    src.raw = raw
    return src, problems
