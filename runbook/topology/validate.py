"""From a file on disk to a validated :class:`~runbook.topology.model.Topology`, collecting
every problem.

The pipeline is: read and parse (:mod:`runbook.topology.loader`), refuse secrets, check the shape
against the model (pydantic errors become positioned problems with a "did you mean" hint for
unknown keys), then apply the deployment rules (:mod:`runbook.topology.rules`).
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from runbook.errors import Problem, ValidationFailed, printable, shown
from runbook.topology import rules
from runbook.topology.files import discover
from runbook.topology.files import display_name as display_name  # re-exported
from runbook.topology.loader import PathKey, Source, format_path, load_file
from runbook.topology.model import Topology, Vault
from runbook.topology.secrets import REDACTED, has_product_key, redact

_SECRET_KEY = re.compile(
    r"(^|_)(pass(word|wd|phrase)?|pwd|secret|product_?key|private_?key|api_?key|token|"
    r"credentials?)($|_)", re.I)
# Characters no topology value holds: control characters other than line feed and tab
# (ESC starts terminal sequences such as OSC 52, which writes the clipboard; CR rewrites
# a line; NUL ends strings in C), and bidirectional overrides and isolates, which make
# text display in another order than it is read (CVE-2021-42574, "Trojan Source").
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


@dataclass
class Loaded:
    """One topology file after validation: its source, model (if valid) and problems."""

    path: Path
    source: Source
    topology: Topology | None
    problems: list[Problem] = field(default_factory=list)

    @property
    def rules_checked(self) -> bool:
        """False when shape errors kept the deployment rules from running."""
        return self.topology is not None

    @property
    def errors(self) -> list[Problem]:
        """Problems that make the file invalid."""
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        """Problems that are reported but do not stop a build."""
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def ok(self) -> bool:
        """True when the topology is valid (it may still have warnings)."""
        return self.topology is not None and not self.errors


Found = tuple[PathKey, Problem]  # a problem and the path of the key or value it is about


def _find_secrets(src: Source, data: Any, path: PathKey = ()) -> Iterator[Found]:
    if isinstance(data, dict):
        for key, value in data.items():
            # vault.product_key names a vault entry; any other secret-like key is refused
            vault_entry = path == ("vault",) and key in Vault.model_fields
            if has_product_key(str(key)):
                # The key itself is the secret: not even the problem's path may show it.
                line, col = src.where((*path, key), key=True)
                yield (*path, key), Problem(
                    src.file, line, col, format_path((*path, REDACTED)), "this key looks like "
                    "a product key; keep it in your vault and name the entry under "
                    "vault.product_key", "error", "secret")
            elif not vault_entry and _SECRET_KEY.search(str(key)):
                yield (*path, key), src.problem(
                    (*path, key),
                    f"{shown(key)} looks like a secret; secrets never go in a topology: keep "
                    "it in your password vault and name the vault entry under vault: "
                    "(e.g. vault.service_account)",
                    key=True, code="secret")
            else:
                yield from _find_secrets(src, value, (*path, key))
    elif isinstance(data, list):
        for i, item in enumerate(data):
            yield from _find_secrets(src, item, (*path, i))
    elif isinstance(data, str) and has_product_key(data):
        yield path, src.problem(path, "this value looks like a product key; keep it in your "
                                "vault and name the entry under vault.product_key",
                                code="secret")


def _unsafe(text: str) -> str | None:
    """Why ``text`` cannot be a topology value or key, or None when it can."""
    if text.isprintable():
        return None
    for char in text:
        category = unicodedata.category(char)
        if category == "Cs":
            return (f"holds the lone surrogate {printable(char)}, half of a character that no "
                    "UTF-8 file can hold: remove it, or write the whole character")
        if category == "Cc" and char not in "\n\t":
            return (f"holds the control character {printable(char)}, which would reach "
                    "terminals and generated files as it is: remove it")
        if char in _BIDI:
            return (f"holds the bidirectional control {printable(char)}, which makes text "
                    "display in another order than it is read: remove it")
    return None


def _find_unsafe_text(src: Source, data: Any, path: PathKey = ()) -> Iterator[Found]:
    """Keys and values holding characters that no topology needs and that attack readers."""
    if isinstance(data, dict):
        for key, value in data.items():
            why = _unsafe(str(key))
            if why is not None:
                yield (*path, key), src.problem((*path, key), f"this key {why}", key=True,
                                                code="text")
            yield from _find_unsafe_text(src, value, (*path, key))
    elif isinstance(data, list):
        for i, item in enumerate(data):
            yield from _find_unsafe_text(src, item, (*path, i))
    elif isinstance(data, str):
        why = _unsafe(data)
        if why is not None:
            yield path, src.problem(path, f"this value {why}", code="text")


def _model_at(loc: Iterable[str | int]) -> type[BaseModel] | None:
    """The model class whose fields are valid at ``loc`` (for "did you mean" hints)."""
    cls: Any = Topology
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(cls, type) and issubclass(cls, BaseModel)):
            return None
        info = cls.model_fields.get(str(part))
        if info is None:
            return None
        cls = _inner_model(info.annotation)
    return cls if isinstance(cls, type) and issubclass(cls, BaseModel) else None


def _yaml_path(loc: Iterable[str | int]) -> str:
    """``loc`` as the keys a user writes (list positions as ``[]``), e.g. edge.servers[]."""
    text = ""
    for part in loc:
        text += "[]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _homes(key: str) -> list[str]:
    """Where ``key`` is a valid key (shallowest first), as :func:`_yaml_path` writes them."""
    found: list[tuple[int, str]] = []
    todo: list[tuple[Any, tuple[str | int, ...]]] = [(Topology, ())]
    while todo:
        model, loc = todo.pop()
        if key in model.model_fields and loc:
            found.append((len(loc), _yaml_path(loc)))
        for name, info in model.model_fields.items():
            inner = _inner_model(info.annotation)
            if inner is not None and len(loc) < 6:
                listed = typing.get_origin(info.annotation) is list or "list[" in str(
                    info.annotation)
                todo.append((inner, (*loc, name, 0) if listed else (*loc, name)))
    return [path for _, path in sorted(found)]


def _inner_model(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType, list, typing.Annotated):
        for arg in typing.get_args(annotation):
            found = _inner_model(arg)
            if found is not None:
                return found
    return None


def _describe(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {shown(value)[1:-1]}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return shown(value)


def _message(err: Mapping[str, Any], loc: tuple[str | int, ...]) -> tuple[str, bool]:
    """A readable message for one pydantic error, and whether it points at a key."""
    kind = err["type"]
    value = err.get("input")
    ctx = err.get("ctx") or {}
    if kind == "missing":
        return f"required key {shown(loc[-1])} is missing: add it", False
    if kind == "extra_forbidden":
        import difflib  # only for unknown keys

        model = _model_at(loc[:-1])
        allowed = sorted(model.model_fields) if model else []
        hint = difflib.get_close_matches(str(loc[-1])[:100], allowed, n=1, cutoff=0.6)
        text = f"unknown key {shown(loc[-1])}"
        homes = [h for h in _homes(str(loc[-1])) if h != _yaml_path(loc[:-1])]
        if homes:
            text += f" here: it belongs under '{homes[0]}:'"
            text += f" (or under '{homes[1]}:')" if len(homes) > 1 else ""
        text += f"; did you mean '{hint[0]}'?" if hint else ""
        if allowed:
            text += f" (allowed here: {', '.join(allowed)})"
        return text, True
    if value is None and kind.endswith("_type"):
        return "has no value: write one, or remove the key to use the default", False
    if kind == "string_type":
        extra = ""
        if isinstance(value, bool):
            extra = " (YAML reads yes/no/on/off as booleans)"
        elif isinstance(value, int | float):
            extra = " (YAML reads it as a number)"
        return f"expected text, got {_describe(value)}{extra}: put the value in quotes", False
    if kind == "bool_type":
        return f"expected true or false, got {_describe(value)}", False
    if kind == "literal_error":
        return f"{_describe(value)} is not allowed: use one of {ctx.get('expected', '')}", False
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return f"expected a mapping of keys, got {_describe(value)}", False
    if kind == "list_type":
        return f"expected a list, got {_describe(value)}: write it as [a, b] or '- a' lines", False
    if kind == "too_short":
        n = ctx.get("min_length", 1)
        return f"needs at least {n} {'entry' if n == 1 else 'entries'}: add one", False
    if kind == "too_long" or kind == "string_too_long":
        return f"is too long (at most {ctx.get('max_length')} characters or entries)", False
    if kind == "string_too_short":
        return "must not be empty", False
    if kind == "value_error":
        return str(ctx.get("error", err["msg"])), False
    return f"{err['msg']} (got {_describe(value)})", False


def _schema_problems(src: Source, exc: ValidationError,
                     skip: set[PathKey]) -> list[Problem]:
    out = []
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        if any(loc[:n] in skip for n in range(1, len(loc) + 1)):
            continue  # already reported there, as a secret or an unsafe character
        if err["type"] == "string_unicode" and skip:
            continue  # a lone surrogate, in a key pydantic cannot name: reported at the key
        message, at_key = _message(err, loc)
        if err["type"] == "missing":
            line, col = src.where(loc[:-1])
            out.append(Problem(src.file, line, col, format_path(loc), message, "error", "schema"))
        else:
            out.append(src.problem(loc, message, key=at_key, code="schema"))
    return out


def check_source(src: Source, path: Path) -> Loaded:
    """Validate parsed data against the model and the deployment rules.

    No message shows a product key found in the file, wherever the rules would quote it.
    """
    secrets = list(_find_secrets(src, src.data))
    found = secrets + list(_find_unsafe_text(src, src.data))
    problems = [p for _, p in found]
    reported = {where_ for where_, _ in found}
    topology: Topology | None = None
    try:
        topology = Topology.model_validate(src.data)
    except ValidationError as exc:
        problems += _schema_problems(src, exc, reported)
    if topology is not None:
        problems += rules.check(topology, src)
    if secrets:
        problems = [_redacted(p) for p in problems]
    problems.sort(key=lambda p: (p.line, p.col, p.severity, p.message))
    return Loaded(path, src, topology, problems)


def _redacted(problem: Problem) -> Problem:
    return dataclasses.replace(problem, path=redact(problem.path),
                               message=redact(problem.message))


def load_topology(path: Path | str) -> Loaded:
    """Read, parse and validate one topology file; problems are collected, not raised."""
    path = Path(path)
    src, problems = load_file(path, display_name(path))
    if problems:
        # A syntax error can quote the text it stopped at (a tag, an alias name): never a
        # product key.
        return Loaded(path, src, None, [_redacted(p) for p in problems])
    return check_source(src, path)


def load_all(paths: Iterable[Path | str]) -> list[Loaded]:
    """Validate every topology under ``paths``, each file checked even if another fails.

    Two files declaring the same ``site`` slug are an error in the second one.
    """
    results = [load_topology(p) for p in discover(paths)]
    seen: dict[str, Loaded] = {}
    for item in results:
        if item.topology is None:
            continue
        first = seen.setdefault(item.topology.site, item)
        if first is not item:
            item.problems.append(item.source.problem(
                ("site",), f"site '{item.topology.site}' is already defined in "
                f"{first.source.file}: every site needs its own slug", code="duplicate-site"))
    return results


def require_valid(results: list[Loaded]) -> list[Loaded]:
    """Raise :class:`ValidationFailed` listing every error of every file, if any."""
    errors = [p for r in results for p in r.errors]
    if errors:
        raise ValidationFailed(f"{len(errors)} error(s) in topology files", errors)
    return results
