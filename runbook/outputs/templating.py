"""The one templating environment: search path, sandbox, and the escaping filters
every output format uses."""

from __future__ import annotations

import os
import re
import signal
import threading
import time
import traceback
import types
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache, update_wrapper
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import jinja2
from jinja2.exceptions import SecurityError
from jinja2.sandbox import (
    ImmutableSandboxedEnvironment,
    SandboxedEscapeFormatter,
    SandboxedFormatter,
)
from jinja2.utils import Namespace, generate_lorem_ipsum
from markupsafe import Markup

import runbook
from runbook.engine.store import digest, tree_digest
from runbook.errors import RunbookError

try:
    import resource
except ImportError:  # pragma: no cover - not POSIX
    resource = None  # type: ignore[assignment]

if TYPE_CHECKING:
    pass


def templates_fingerprint(user_dir: Path | None) -> str:
    """Every template file the producers may read: packaged defaults, then the user's."""

    parts = [tree_digest(default_templates_dir())]
    if user_dir is not None:
        parts.append(tree_digest(Path(user_dir)))
    return digest(*parts)


class UnsafeValue(RunbookError):
    """A value cannot be placed safely where a template puts it (e.g. a javascript: link)."""


class TemplateFailed(RunbookError):
    """A page template is missing, invalid, or failed while rendering."""


# Characters that act as Markdown anywhere in a line: code, emphasis, links and images, attribute
# lists, table cells, a heading's closing hashes, and the escape character itself. Python-Markdown
# (with the tables extension) unescapes each after a backslash; the same backslash escapes are
# valid CommonMark, so the pages stay engine-neutral.
_BACKSLASHED = frozenset("\\`*_{}[]#|")


# Characters that only act at the start of a line: list items and rules (- +), admonitions (!),
# and an ordered list's number (1. or 1)). They are escaped there only, so that names and
# addresses (edge-01.contoso.com) read as typed in the Markdown too, and convert faster.
_LEADING_BACKSLASHED = frozenset("-+!")


_ORDERED_MARKER = re.compile(r"\d+(?=[.)](?: |$))")


_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


# Block markers that only act at the start of a line and have no backslash escape in
# Python-Markdown: fenced code (~~~), collapsible blocks (???), definition lists and setext
# underlines. Written as numeric character references when a value starts with one.
_LEADING_ENTITY = {"~": "&#126;", "?": "&#63;", ":": "&#58;", "=": "&#61;"}


_MD_TABLE = str.maketrans({**{ch: "\\" + ch for ch in _BACKSLASHED}, **_ENTITIES})


_HTML = str.maketrans({**_ENTITIES, '"': "&quot;"})


# Line and paragraph separators (what str.splitlines() splits on) and other control characters:
# a value must never start a new Markdown block.
_BREAKS = re.compile(r"\r\n|[\r\n\v\f\x1c\x1d\x1e\x85\u2028\u2029\t]")


_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")


_SPACES = re.compile(r" {2,}")


_BACKTICKS = re.compile(r"`+")


_BLANKS = re.compile(r"\n[ \t]*\n(?:[ \t]*\n)+")


# Link destinations: relative paths, or absolute URLs with one of these schemes.
ALLOWED_SCHEMES = ("http", "https", "mailto")


_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")


def _text(value: object, name: str, squeeze: bool = True) -> str:
    if value is None:
        raise TypeError(f"the '{name}' filter got None: the template must say what to show "
                        "when a value is missing")
    if isinstance(value, bool):
        return "yes" if value else "no"
    text = str(value)
    # Every character _CONTROL or _BREAKS matches is unprintable (a test checks each one):
    # most values are printable, and skip both substitutions.
    if not text.isprintable():
        text = _BREAKS.sub(" ", _CONTROL.sub("", text))
    if not squeeze:
        return text
    return (_SPACES.sub(" ", text) if "  " in text else text).strip()


def md(value: object) -> str:
    """Inline Markdown text that shows ``value`` literally.

    HTML specials become entities, Markdown punctuation is backslash-escaped, line breaks become
    spaces (a value cannot open a block), and a leading block marker is neutralised. Raw HTML,
    links, emphasis, attribute lists (``{: onclick=...}``) and Jinja syntax all show as text.
    """
    text = _text(value, "md")
    out = text.translate(_MD_TABLE)
    if not text:
        return out
    # The leading characters below are never in the table, so out starts as text does.
    first = text[0]
    if first in _LEADING_ENTITY:
        return _LEADING_ENTITY[first] + out[1:]
    if first in _LEADING_BACKSLASHED:
        return "\\" + out
    number = _ORDERED_MARKER.match(out)
    if number:
        return f"{number.group(0)}\\{out[number.end():]}"
    return out


def cell(value: object) -> str:
    """A table cell: :func:`md` text, with ``|`` escaped and no line breaks."""
    # md() already escapes "|" and removes line breaks; kept as its own filter so a template
    # states the context, and so a later change to md() cannot break tables.
    text = md(value)
    return text if text else " "


def code(value: object) -> str:
    """An inline code span holding ``value`` exactly (safe in text and in table cells).

    The fence is one backtick longer than the longest backtick run in the value; a space pads a
    value that starts or ends with a backtick. Line breaks become spaces: a code span cannot
    cross lines, and one that breaks would let its content escape as Markdown.
    """
    text = _text(value, "code", squeeze=False)
    runs = [len(m.group(0)) for m in _BACKTICKS.finditer(text)]
    fence = "`" * (max(runs, default=0) + 1)
    if not text or text.startswith("`") or text.endswith("`"):
        text = f" {text} "
    return f"{fence}{text}{fence}"


def url(value: object) -> str:
    """A link destination: a relative path or an http(s)/mailto URL, percent-encoded.

    Raises :class:`UnsafeValue` for any other scheme (``javascript:``, ``data:``, ...).
    """
    text = _text(value, "url")
    # Browsers drop whitespace and control characters inside a URL ("java\tscript:").
    compact = re.sub(r"[\s\x00-\x1f\x7f]", "", text)
    scheme = _SCHEME.match(compact)
    if scheme and scheme.group(1).lower() not in ALLOWED_SCHEMES:
        raise UnsafeValue(f"refusing to link to '{text}': only relative links and "
                          f"{', '.join(ALLOWED_SCHEMES)} URLs are allowed")
    if not scheme and ":" in compact.split("/", 1)[0]:
        raise UnsafeValue(f"refusing to link to '{text}': it looks like a URL scheme")
    return quote(text, safe="/:?#&=%@+,;!$~")


def codeblock(value: object, lang: str = "") -> str:
    """A fenced code block holding ``value`` (a string or a list of lines) exactly.

    The fence is longer than any backtick run in the value, so no line can close it early.
    """
    lines = value if isinstance(value, list | tuple) else [value]
    text = "\n".join(_CONTROL.sub("", str(_text_or_fail(line))) for line in lines)
    text = re.sub(r"\r\n|\r", "\n", text)
    runs = [len(m.group(0)) for m in _BACKTICKS.finditer(text)]
    fence = "`" * max(3, max(runs, default=0) + 1)
    return f"{fence}{lang}\n{text}\n{fence}"


def _text_or_fail(value: object) -> object:
    if value is None:
        raise TypeError("the 'codeblock' filter got None")
    return value


def html(value: object) -> Markup:
    """Element text in an HTML template: ``value`` shown literally, on one line.

    ``&``, ``<``, ``>`` and ``"`` become entities (the apostrophe is left as typed, as in
    Python-Markdown's output; attributes in the templates are double-quoted). Line breaks
    and control characters go as in :func:`md`.
    """
    return Markup(_text(value, "html").translate(_HTML))


# A word of a code value that may break on the web after its dots, slashes and commas: a
# name (federation.woodgrovebank.com), a path or a URL. A word with an address or a port
# range in it never breaks, nor a word short enough for a narrow column (at most 24
# characters: sip.woodgrovebank.com stays whole).
_BREAKABLE_WORD = re.compile(r"[^\s]{25,}")
# A word holding an address (10.0.0.0/255.255.255.0, 10.0.0.1:5061) or a port range is
# left whole.
_UNBREAKABLE = re.compile(r"\d{1,3}(\.\d{1,3}){3}|\d+-\d+")
# After a separator followed by more of the word; never before the name's last label,
# with what may follow it (a :port, closing punctuation): "woodgrovebank.com)" and
# "contoso.local:5062" stay whole, as on paper.
_BREAK_AFTER = re.compile(r"(?<=[./,])(?=[\w%~$-])(?![\w-]+(:\d+)?[^\w./]*$)")


def _breakable(word: re.Match[str]) -> str:
    text = word.group(0)
    if _UNBREAKABLE.search(text):
        return text
    return _BREAK_AFTER.sub("<wbr>", text)


def html_code(value: object) -> Markup:
    """A ``<code>`` element in an HTML template, showing ``value`` as :func:`code` does.

    A long name, path or URL in it may break on a narrow screen after its dots, slashes and
    commas (``<wbr>``: no character is added, so a copy of it is the value as typed);
    addresses and port ranges never break.
    """
    text = _text(value, "html_code", squeeze=False).strip().translate(_HTML)
    return Markup(f"<code>{_BREAKABLE_WORD.sub(_breakable, text)}</code>")


def html_block(value: str) -> str:
    """A block of HTML in a Markdown page, passed through unparsed
    (:mod:`runbook.outputs.htmlblocks`).

    Raises :class:`TemplateFailed` for text that is not one tag per line.
    """
    from runbook.outputs import htmlblocks

    try:
        return htmlblocks.wrap(str(value))
    except htmlblocks.NotAnHtmlBlock as exc:
        raise TemplateFailed(str(exc)) from None


def anchor(value: object) -> str:
    """An HTML id fragment made of ``value``: lower-case letters, digits and hyphens only."""
    return re.sub(r"[^a-z0-9]+", "-", _text(value, "anchor").lower()).strip("-") or "x"


def fail(message: str) -> None:
    """Stop rendering with ``message`` (templates call it for data they cannot show)."""
    raise TemplateFailed(str(message))


FILTERS = {"md": md, "cell": cell, "code": code, "url": url, "codeblock": codeblock,
           "anchor": anchor, "html": html, "html_code": html_code, "html_block": html_block}


# --- user templates: confined, read-only, bounded -------------------------------------------

# The most text one user template may produce, and the longest string (or list) one operation
# inside it may make: far above any real page (a 500-server site's largest page is a few MB),
# far below what would exhaust memory.
MAX_OUTPUT = 64_000_000
MAX_SIZE = 16_000_000
# The largest exponent of ``**`` on integers: 2**4096 has 1,234 digits; 9**10**9 would not end.
MAX_EXPONENT = 4096
# The CPU time one user template may take to render, and the memory it may add to the process
# (every string and list it makes, also through ``~``, which no sandbox hook sees). The default
# pages of a 2,000-server site take under 7 s of CPU together.
MAX_SECONDS = 30.0
MAX_MEMORY = 1 << 30
# lipsum(n, min, max): paragraphs and words per paragraph.
MAX_LIPSUM = 1000
_BIG_NUMBER = re.compile(r"\d{8,}")
# A printf-style conversion: mapping key, flags, width, precision (``*`` takes an argument).
_PERCENT = re.compile(r"%(?:\([^)]*\))?[#0 +-]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?(.)", re.S)


class ConfinedLoader(jinja2.FileSystemLoader):
    """A :class:`jinja2.FileSystemLoader` that reads only files inside its folders.

    A template (or a folder on its way) that is a symbolic link is followed only when its
    target lies inside the same search folder; one pointing outside is refused, so a
    ``--templates`` folder cannot make the build read ``/etc/passwd`` or a private key. In the
    folders named ``untrusted``, a template with more than one name (a hard link, which may
    be the same file as one outside) is refused too.
    """

    def __init__(self, searchpath: Sequence[str], *, untrusted: Sequence[str] = ()) -> None:
        super().__init__(list(searchpath))
        self.untrusted = {str(Path(u)) for u in untrusted}

    def get_source(self, environment: jinja2.Environment,
                   template: str) -> tuple[str, str, Callable[[], bool]]:
        pieces = jinja2.loaders.split_template_path(template)
        for folder in self.searchpath:
            candidate = Path(folder, *pieces)
            if not os.path.lexists(candidate):
                continue
            root = Path(folder).resolve()
            target = candidate.resolve()
            if not target.is_relative_to(root):
                raise TemplateFailed(f"{candidate}: refusing to read this template: it "
                                     f"resolves to {target}, outside {root}")
            if target.is_file():
                links = target.stat().st_nlink
                if str(Path(folder)) in self.untrusted and links > 1:
                    raise TemplateFailed(f"{candidate}: refusing to read this template: it is "
                                         f"a hard link ({links} names for one file), so it "
                                         "may be a file from outside the templates folder; "
                                         "copy the file there instead")
                break
        return super().get_source(environment, template)


class OverBudget(SecurityError):
    """A user template ran out of its CPU time (:data:`MAX_SECONDS`)."""


# The thread CPU time at which the user template being rendered is stopped (None: no limit).
_DEADLINE: ContextVar[float | None] = ContextVar("runbook_template_deadline", default=None)


_TICKS = [0]


def _tick() -> None:
    """Stop the template being rendered once its time is up (every sandbox hook calls this;
    the clock is read on every 64th call, which keeps the hooks cheap)."""
    _TICKS[0] += 1
    if not _TICKS[0] & 63:
        _over_time()


def _over_time() -> None:
    deadline = _DEADLINE.get()
    if deadline is not None and time.thread_time() > deadline:
        raise OverBudget(f"the template took more than {MAX_SECONDS:g} s of CPU time")


def _on_timer(signum: int, frame: object) -> None:
    # Loops that call nothing (``{% for c in s %}{% for d in s %}{% endfor %}{% endfor %}``)
    # pass no hook: the interval timer (every 50 ms once the budget is spent) stops them
    # between two bytecodes.
    _over_time()


def _address_space() -> int | None:
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            return int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):  # pragma: no cover - not Linux
        return None


@contextmanager
def _budget() -> Iterator[None]:
    """Run a user template's render with its time and memory budget.

    The time is thread CPU time, checked by every sandbox hook; in the main thread an interval
    timer (``ITIMER_VIRTUAL``, process CPU) also interrupts code that passes no hook. The
    memory is the process's address space limit (``RLIMIT_AS``), lowered to what it uses now
    plus :data:`MAX_MEMORY` while the template runs: an allocation beyond it is a
    :class:`MemoryError` however the template made it. Both are put back afterwards.
    """
    token = _DEADLINE.set(time.thread_time() + MAX_SECONDS)
    main = threading.current_thread() is threading.main_thread()
    handler: Any = None
    timer = main and hasattr(signal, "setitimer") and \
        signal.getsignal(signal.SIGVTALRM) in (signal.SIG_DFL, None)
    limits = None
    try:
        if timer:
            handler = signal.signal(signal.SIGVTALRM, _on_timer)
            signal.setitimer(signal.ITIMER_VIRTUAL, MAX_SECONDS, 0.05)
        used = _address_space() if main and resource is not None else None
        if used is not None and resource is not None:
            soft, hard = resource.getrlimit(resource.RLIMIT_AS)
            cap = used + MAX_MEMORY
            if hard != resource.RLIM_INFINITY:
                cap = min(cap, hard)
            if soft == resource.RLIM_INFINITY or soft > cap:
                resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
                limits = (soft, hard)
        yield
    finally:
        _DEADLINE.reset(token)  # first: a timer signal still on its way now does nothing
        if timer:
            signal.setitimer(signal.ITIMER_VIRTUAL, 0)
            signal.signal(signal.SIGVTALRM, handler)
        if limits is not None and resource is not None:
            resource.setrlimit(resource.RLIMIT_AS, limits)


class UserSandbox(ImmutableSandboxedEnvironment):
    """The sandbox user templates run in: immutable, and bounded in what one operation
    makes (``'x' * 10**10``, ``'%*d' % (10**9, 1)``, ``''.ljust(10**10)``, ``9 ** (10 ** 10)``,
    ``s.replace('', s)``, ``s.join(range(10**5))``) and in time (every hook checks it)."""

    intercepted_binops = frozenset({"*", "**", "%", "+"})
    intercepted_unops = frozenset({"-", "+"})

    def call_binop(self, context: jinja2.runtime.Context, operator: str, left: Any,
                   right: Any) -> Any:
        _tick()
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if (isinstance(seq, str | bytes | list | tuple) and isinstance(times, int)
                        and len(seq) * times > MAX_SIZE):
                    raise SecurityError(f"a repetition of {len(seq)} item(s) {times} times "
                                        f"is larger than the sandbox allows ({MAX_SIZE:,})")
        elif operator == "**":
            if isinstance(right, int) and isinstance(left, int) and right > MAX_EXPONENT \
                    and abs(left) > 1:
                raise SecurityError(f"the exponent {right} is larger than the sandbox allows "
                                    f"({MAX_EXPONENT})")
        elif operator == "%":
            _check_percent(left, right)
        elif operator == "+" and isinstance(left, str | bytes | list | tuple) \
                and isinstance(right, str | bytes | list | tuple) \
                and len(left) + len(right) > MAX_SIZE:
            raise SecurityError(f"a value longer than the sandbox allows ({MAX_SIZE:,})")
        return _checked(super().call_binop(context, operator, left, right))

    def call_unop(self, context: jinja2.runtime.Context, operator: str, arg: Any) -> Any:
        _tick()
        return super().call_unop(context, operator, arg)

    def getattr(self, obj: Any, attribute: str) -> Any:
        _tick()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        _tick()
        return super().getitem(obj, argument)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        # Jinja's own wrapper, with formatters that check each field's final format spec
        # ('{:>999999999}', '{:>{}}' with a width from an argument) and what it makes.
        if not isinstance(value, types.MethodType | types.BuiltinMethodType) or \
                value.__name__ not in ("format", "format_map") or \
                not isinstance(value.__self__, str):
            return None
        text: str = value.__self__
        mapping = value.__name__ == "format_map"
        formatter: SandboxedFormatter = (
            _BoundedEscapeFormatter(self, escape=text.escape) if isinstance(text, Markup)
            else _BoundedFormatter(self))

        def bounded(*args: Any, **kwargs: Any) -> str:
            _tick()
            fields: Mapping[str, Any] = kwargs
            if mapping:
                if kwargs or len(args) != 1:
                    raise TypeError("format_map() takes exactly one argument")
                fields = args[0]
                args = ()
            made: str = _checked(type(text)(formatter.vformat(text, args, fields)))
            return made

        return update_wrapper(bounded, value)

    def call(__self, __context: jinja2.runtime.Context, __obj: Any,
             *args: Any, **kwargs: Any) -> Any:
        _tick()
        # A macro doubling its argument on every call (f(s ~ s)) ends here.
        _check_lengths((*args, *kwargs.values()))
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, str | bytes):
            # str.ljust/rjust/center/zfill/expandtabs take a width: bound it, and work out
            # what replace, join and expandtabs would make before they make it.
            _check_sizes(args, kwargs)
            method = getattr(__obj, "__name__", "")
            if method == "replace" and len(args) >= 2:
                _check_replace(owner, args[0], args[1], args[2] if len(args) > 2 else -1)
            elif method == "join" and args:
                args = (_joinable(owner, args[0]), *args[1:])
            elif method == "expandtabs":
                size = args[0] if args else kwargs.get("tabsize", 8)
                tabs = owner.count("\t") if isinstance(owner, str) else owner.count(b"\t")
                if isinstance(size, int) and len(owner) + tabs * size > MAX_SIZE:
                    raise SecurityError(_TOO_LONG)
        return _checked(super().call(__context, __obj, *args, **kwargs))


_TOO_LONG = f"the result would be longer than the sandbox allows ({MAX_SIZE:,})"


def _checked(value: Any) -> Any:
    """``value``, refused when it is a string or list longer than :data:`MAX_SIZE` (what
    no check before the operation bounded)."""
    if isinstance(value, str | bytes | list | tuple) and len(value) > MAX_SIZE:
        raise SecurityError(f"a value of {len(value):,} items is longer than the sandbox "
                            f"allows ({MAX_SIZE:,})")
    return value


class _FieldBound:
    """Each replacement field of ``str.format`` checked: its format spec once nested fields
    are filled in, and what it makes."""

    def format_field(self, value: Any, format_spec: str) -> Any:
        _tick()
        if _BIG_NUMBER.search(format_spec):
            raise SecurityError("a format string with a width or precision larger than the "
                                "sandbox allows")
        return _checked(super().format_field(value, format_spec))  # type: ignore[misc]


class _BoundedFormatter(_FieldBound, SandboxedFormatter):
    pass


class _BoundedEscapeFormatter(_FieldBound, SandboxedEscapeFormatter):
    pass


class BoundedNamespace(Namespace):
    """``namespace()`` for user templates: an attribute set to a string or list longer than
    :data:`MAX_SIZE` is refused (``{% set ns.s = ns.s ~ ns.s %}`` in a loop doubles)."""

    def __setitem__(self, name: str, value: Any) -> None:
        _tick()
        _check_lengths((value,))
        super().__setitem__(name, value)


def _check_lengths(values: tuple[Any, ...]) -> None:
    for value in values:
        _checked(value)


def _check_sizes(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    for value in (*args, *kwargs.values()):
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_SIZE:
            raise SecurityError(f"the number {value} is larger than the sandbox allows "
                                f"({MAX_SIZE:,})")


def _check_format(text: object, args: tuple[Any, ...] = ()) -> None:
    """Refuse a ``str.format`` string whose width or precision exceeds :data:`MAX_SIZE`,
    written in it or taken from an argument (``'{:>{}}'``)."""
    if not isinstance(text, str):
        return
    if _BIG_NUMBER.search(text):
        raise SecurityError("a format string with a width or precision larger than the "
                            "sandbox allows")
    if "{" in text and any(isinstance(a, int) and not isinstance(a, bool)
                           and abs(a) > MAX_SIZE for a in args):
        raise SecurityError(f"a format argument larger than the sandbox allows ({MAX_SIZE:,}): "
                            "it could be a width")


def _check_percent(text: object, args: object) -> None:
    """Refuse a ``%`` format whose width or precision exceeds :data:`MAX_SIZE`, written in it
    or taken from an argument (``'%*d' % (10**9, 1)``)."""
    if not isinstance(text, str):
        return
    values = list(args) if isinstance(args, tuple) else [args]
    for width, precision, _ in _PERCENT.findall(text):
        for part in (width, precision):
            if part == "*":
                size = values.pop(0) if values else 0
            elif part:
                size = int(part) if len(part) < 12 else MAX_SIZE + 1
            else:
                continue
            if isinstance(size, int) and abs(size) > MAX_SIZE:
                raise SecurityError("a format string with a width or precision larger than "
                                    f"the sandbox allows ({MAX_SIZE:,})")


def _check_replace(text: str | bytes, old: object, new: object, count: object) -> None:
    if not isinstance(old, str | bytes) or not isinstance(new, str | bytes):
        return
    hits = len(text) + 1 if not old else text.count(old)  # type: ignore[arg-type]
    if isinstance(count, int) and count >= 0:
        hits = min(hits, count)
    if len(text) + hits * (len(new) - len(old)) > MAX_SIZE:
        raise SecurityError(_TOO_LONG)


def _joinable(separator: str | bytes, items: Iterable[Any]) -> list[Any]:
    """``items`` as a list, refused as soon as joining them with ``separator`` would make
    more than :data:`MAX_SIZE` (counted while they are taken, so a generator of large
    strings stops early)."""
    out: list[Any] = []
    size = 0
    for item in items:
        size += (len(item) if isinstance(item, str | bytes) else 24) + (len(separator)
                                                                         if out else 0)
        if size > MAX_SIZE:
            raise SecurityError(_TOO_LONG)
        out.append(item)
    return out


# Filters whose numeric arguments are widths or counts.
_WIDTH_FILTERS = frozenset({"center", "indent", "format", "truncate", "wordwrap", "batch",
                            "slice", "round", "filesizeformat"})


def _bounded_filter(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` (a filter) checking the time, and refusing a width or count argument
    above :data:`MAX_SIZE` or a result longer than it; join, replace, indent and format work
    out their result's size before making it."""

    # The value is the first argument after the environment, context or eval context, when
    # the filter asks for one (pass_environment, pass_context, pass_eval_context).
    k = 1 if hasattr(function, "jinja_pass_arg") else 0
    checked = name in _WIDTH_FILTERS or name in ("replace", "join", "wordwrap")

    def bounded(*args: Any, **kwargs: Any) -> Any:
        _tick()
        if checked and k < len(args):
            value, rest = args[k], args[k + 1:]
            if name in _WIDTH_FILTERS:
                _check_sizes(tuple(rest), kwargs)
            if name == "format":
                _check_percent(value, tuple(rest))
                _check_format(value, (*rest, *kwargs.values()))
            elif name == "replace" and len(rest) >= 2:
                _check_replace(str(value), rest[0], rest[1],
                               rest[2] if len(rest) > 2 else kwargs.get("count", -1))
            elif name == "indent":
                width = rest[0] if rest else kwargs.get("width", 4)
                step = len(width) if isinstance(width, str) else width
                text = str(value)
                if isinstance(step, int) and len(text) + (text.count("\n") + 1) * step > MAX_SIZE:
                    raise SecurityError(_TOO_LONG)
            elif name == "join" and not kwargs.get("attribute") and len(rest) < 2:
                separator = rest[0] if rest else kwargs.get("d", "")
                args = (*args[:k], _joinable(str(separator), value), *rest)
            elif name == "wordwrap":
                wrap = rest[2] if len(rest) > 2 else kwargs.get("wrapstring")
                text = str(value)
                lines = len(text.split()) + text.count("\n") + len(text) // max(
                    1, rest[0] if rest and isinstance(rest[0], int) else 79) + 1
                if len(text) + lines * len(str(wrap or "\n")) > MAX_SIZE:
                    raise SecurityError(_TOO_LONG)
        return _checked(function(*args, **kwargs))

    for attr in ("jinja_pass_arg",):
        if hasattr(function, attr):
            setattr(bounded, attr, getattr(function, attr))
    return bounded


def _lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:
    if not all(isinstance(v, int) and v <= MAX_LIPSUM for v in (n, min, max)):
        raise SecurityError(f"lipsum() makes at most {MAX_LIPSUM} paragraphs of at most "
                            f"{MAX_LIPSUM} words in the sandbox")
    return generate_lorem_ipsum(n=n, html=html, min=min, max=max)


def user_sandbox(**options: Any) -> UserSandbox:
    """A :class:`UserSandbox` whose filters are bounded too (a width, a count, the size of
    what they make) and whose ``lipsum`` and ``namespace`` are."""
    env = UserSandbox(**options)
    env.globals["namespace"] = BoundedNamespace
    env.globals["lipsum"] = _lipsum
    # The read-only plan's mappings are not dicts: `tojson` (Jinja's documented policy)
    # writes them as objects, as it would the plan itself.
    env.policies["json.dumps_kwargs"] = {"sort_keys": True, "default": _json_default}
    for name, function in list(env.filters.items()):
        env.filters[name] = _bounded_filter(name, function)
    return env


def _json_default(value: Any) -> Any:
    if isinstance(value, MappingProxyType):
        return dict(value)
    if isinstance(value, frozenset):
        return sorted(value, key=repr)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def read_only(value: Any) -> Any:
    """``value`` with every dict made a read-only mapping and every list a tuple.

    What user templates get as the plan: even a filter or method the sandbox does not know
    cannot change what the next template (or the next document) sees.
    """
    if isinstance(value, Mapping) and not isinstance(value, MappingProxyType):
        return MappingProxyType({k: read_only(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(read_only(v) for v in value)
    if isinstance(value, set | frozenset):
        return frozenset(read_only(v) for v in value)
    return value


def _where(name: str, template: jinja2.Template, exc: BaseException) -> str:
    """``name:line`` of the innermost line of ``template`` the traceback of ``exc`` passes
    (Jinja rewrites it to template lines), or ``name`` alone."""
    line = None
    for entry in traceback.extract_tb(exc.__traceback__):
        if template.filename is not None and entry.filename == template.filename:
            line = entry.lineno
    return f"{name}:{line}" if line else name


def render_bounded(template: jinja2.Template, context: Mapping[str, Any], name: str) -> str:
    """Render a user template within its budget: :data:`MAX_OUTPUT` characters written,
    :data:`MAX_SECONDS` of CPU time, :data:`MAX_MEMORY` of memory.

    Resource errors of a user template (out of time or memory, a range beyond the sandbox's
    limit, a string bomb, unbounded recursion) become one :class:`TemplateFailed` line naming
    ``name`` (and the line, where known); what the sandbox refuses stays a
    :class:`jinja2.exceptions.SecurityError` for the caller to word.
    """
    try:
        with _budget():
            parts: list[str] = []
            size = 0
            for chunk in template.generate(context):
                size += len(chunk)
                if size > MAX_OUTPUT:
                    raise TemplateFailed(f"{name}: the template wrote more than "
                                         f"{MAX_OUTPUT:,} characters; stopped")
                parts.append(chunk)
            return "".join(parts)
    except OverBudget as exc:
        raise TemplateFailed(f"{_where(name, template, exc)}: {exc} (a loop too large or "
                             "without end?); stopped") from None
    except RecursionError:
        raise TemplateFailed(f"{name}: the template recursed too deeply (a macro calling "
                             "itself without end?)") from None
    except MemoryError as exc:
        raise TemplateFailed(f"{_where(name, template, exc)}: the template ran out of memory "
                             f"(it may use {MAX_MEMORY >> 20:,} MB; a string or list too "
                             "large)") from None
    except OverflowError as exc:
        raise TemplateFailed(f"{name}: {exc}") from None


def default_templates_dir() -> Path:
    """The packaged default templates: inside the wheel, else the repo's ``templates/``."""
    packaged = Path(runbook.__file__).parent / "templates"
    if packaged.is_dir():
        return packaged
    return Path(runbook.__file__).resolve().parent.parent / "templates"


# Templates an earlier release had, and where their content is now.
RETIRED_TEMPLATES = {
    "partials/actions.md.j2": "the wizard screens are written as HTML by "
                              "partials/actions.html.j2 now: make your changes there (see the "
                              "README, Templates)",
}


class SealedBytecodeCache(jinja2.BytecodeCache):
    """Jinja's compiled templates kept in the build cache as checked entries
    (:func:`runbook.engine.store.write_entry`), through Jinja's public bytecode-cache API.

    Compiling the templates costs every build process a few tenths of a second (Material's
    theme, runbook's pages). Jinja checks a kept template against its source's checksum and
    its own and Python's version; each entry is also sealed with its SHA-256, so a damaged
    one is a miss. ``kind`` keeps environments of different classes and settings apart (the
    user-template sandbox, the trusted pages, the theme with MkDocs' and Material's
    versions); runbook's own code is part of every key.
    """

    NAMESPACE = "jinja"

    def __init__(self, root: Path, kind: str) -> None:
        self.root = Path(root)
        self.kind = kind

    def _path(self, key: str) -> Path:
        from runbook.engine.store import code_fingerprint, digest

        # runbook's code too: the sandbox and the escaping take effect when Jinja compiles.
        name = digest(self.kind, code_fingerprint(), key)
        return self.root / self.NAMESPACE / name[:2] / name

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        """Fill ``bucket`` from its entry, if there is an intact one."""
        from runbook.engine.store import read_entry

        data = read_entry(self._path(bucket.key), self.NAMESPACE)
        if data is not None:
            bucket.bytecode_from_string(data)

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        """Keep ``bucket``'s compiled template (a full disk is counted, not raised)."""
        from runbook.engine.store import write_entry

        write_entry(self._path(bucket.key), bucket.bytecode_to_string())


# Set by the build (use_bytecode_cache): where compiled page templates are kept.
_BYTECODE_ROOT: Path | None = None


def use_bytecode_cache(root: Path | None) -> None:
    """Keep compiled page templates in the build cache at ``root`` (None: not kept)."""
    global _BYTECODE_ROOT
    _BYTECODE_ROOT = root


def make_environment(templates_dir: Path | None = None, *, folder: str | None = None,
                     finalize: Callable[[Any], Any] | None = None,
                     filters: Mapping[str, Callable[..., Any]] | None = None,
                     names: Mapping[str, Any] | None = None,
                     kind: str = "pages", auto_reload: bool = False) -> jinja2.Environment:
    """The Jinja2 environment of runbook's templates: the pages' (Markdown) and, with
    ``folder="documents"``, the documents'.

    The search path is ``[templates_dir, default_templates_dir()]`` (each with ``folder``
    under it): a file in ``templates_dir`` overrides the default of the same name, anything
    else falls back to the defaults. When a user folder is given (and is not the defaults
    folder itself) the environment is an immutable sandbox, because user templates are not
    trusted. Every environment has the filters of :data:`FILTERS` under those names;
    ``filters`` gives some of them another flavour (the documents' versions mark what they
    escaped, and ``finalize`` escapes every other value) or adds to them, ``names`` adds
    globals, and ``kind`` names the environment's compiled templates in the build cache.
    ``auto_reload``: a template edited since it was loaded is loaded again (for an environment
    kept for the life of the process).
    """
    defaults = default_templates_dir()
    user = None
    if templates_dir is not None:
        user = Path(templates_dir)
        if user.resolve() == defaults.resolve():
            user = None
    for name, instead in RETIRED_TEMPLATES.items():
        if user is not None and (user / name).is_file():
            # An override nothing reads any more would silently not apply: say so instead.
            raise TemplateFailed(f"{user / name}: this template is no longer used; {instead}")
    roots = [user, defaults] if user else [defaults]
    search = [str(root / folder) if folder else str(root) for root in roots]
    options: dict[str, Any] = {
        "loader": ConfinedLoader(search, untrusted=search[:-1]),
        "undefined": jinja2.StrictUndefined,
        # Markdown templates escape by filter; HTML partials (*.html.j2) are autoescaped.
        "autoescape": jinja2.select_autoescape(["html.j2"], default_for_string=False,
                                               default=False),
        "keep_trailing_newline": True,
        "trim_blocks": True,
        "lstrip_blocks": True,
        "auto_reload": auto_reload,
    }
    if finalize is not None:
        options["finalize"] = finalize
    if _BYTECODE_ROOT is not None:
        options["bytecode_cache"] = SealedBytecodeCache(
            _BYTECODE_ROOT, f"{kind}-sandbox" if user else kind)
    env: jinja2.Environment
    env = user_sandbox(**options) if user else jinja2.Environment(**options)
    env.filters.update(FILTERS)
    env.filters.update(filters or {})
    env.globals["fail"] = fail
    env.globals.update(names or {})
    return env


def render_template(env: jinja2.Environment, template: str, context: dict[str, Any]) -> str:
    try:
        if isinstance(env, UserSandbox):
            context = {k: read_only(v) for k, v in context.items()}
        text = render_bounded(env.get_template(template), context, template)
        # Templates are easier to read with generous blank lines; the page needs one at most.
        return _BLANKS.sub("\n\n", text).strip("\n") + "\n"
    except jinja2.TemplateNotFound as exc:
        raise TemplateFailed(f"template '{exc.name}' not found in "
                             f"{_search_path(env)}") from None
    except jinja2.TemplateSyntaxError as exc:
        where = exc.filename or exc.name or template
        raise TemplateFailed(f"{where}:{exc.lineno}: template syntax error: {exc.message}") \
            from None
    except RunbookError:
        raise
    except (jinja2.TemplateError, TypeError, ValueError) as exc:
        raise TemplateFailed(f"{template}: {type(exc).__name__}: {exc} "
                             f"(while rendering {context.get('page', {}).get('filename', '')} "
                             f"of {_site_of(context)})") from None


def _site_of(context: Mapping[str, Any]) -> str:
    plan = context.get("plan")
    return str(plan["meta"]["site"]) if isinstance(plan, Mapping) else "the home page"


def _search_path(env: jinja2.Environment) -> str:
    loader = env.loader
    paths = getattr(loader, "searchpath", [])
    return ", ".join(paths) if paths else "the template search path"


@lru_cache(maxsize=4)
def _environment_for(templates_dir: str | None, fingerprint: str,
                     bytecode_root: Path | None) -> jinja2.Environment:
    # One environment (and one compile of every template) per process and template tree:
    # the build calls produce() once per chunk of sites. The fingerprint (every template
    # file's content) keeps a long-lived process (`runbook serve`) from using stale templates.
    return make_environment(None if templates_dir is None else Path(templates_dir))


def environment(templates_dir: Path | None = None) -> jinja2.Environment:
    """This process's environment for ``templates_dir`` (see :func:`make_environment`),
    made anew only when a template file changed."""

    return _environment_for(None if templates_dir is None else str(templates_dir),
                            templates_fingerprint(templates_dir), _BYTECODE_ROOT)
