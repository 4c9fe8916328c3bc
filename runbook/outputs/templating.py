"""The one templating environment: search path, sandbox, and the escaping filters
every output format uses."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import jinja2
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import Namespace
from markupsafe import Markup

import runbook
from runbook.engine.store import digest, tree_digest
from runbook.errors import RunbookError

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
    text = _BREAKS.sub(" ", _CONTROL.sub("", str(value)))
    return _SPACES.sub(" ", text).strip() if squeeze else text


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


def html_code(value: object) -> Markup:
    """A ``<code>`` element in an HTML template, showing ``value`` as :func:`code` does."""
    return Markup(f"<code>{_text(value, 'html_code', squeeze=False).strip().translate(_HTML)}"
                  "</code>")


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
_BIG_NUMBER = re.compile(r"\d{8,}")


class ConfinedLoader(jinja2.FileSystemLoader):
    """A :class:`jinja2.FileSystemLoader` that reads only files inside its folders.

    A template (or a folder on its way) that is a symbolic link is followed only when its
    target lies inside the same search folder; one pointing outside is refused, so a
    ``--templates`` folder cannot make the build read ``/etc/passwd`` or a private key.
    """

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
                break
        return super().get_source(environment, template)


class UserSandbox(ImmutableSandboxedEnvironment):
    """The sandbox user templates run in: immutable, and bounded in what one operation
    makes (``'x' * 10**10``, ``'%999999999s' % x``, ``''.ljust(10**10)``, ``9 ** (10 ** 10)``)."""

    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def call_binop(self, context: jinja2.runtime.Context, operator: str, left: Any,
                   right: Any) -> Any:
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if (isinstance(seq, str | list | tuple) and isinstance(times, int)
                        and len(seq) * times > MAX_SIZE):
                    raise SecurityError(f"a repetition of {len(seq)} item(s) {times} times "
                                        f"is larger than the sandbox allows ({MAX_SIZE:,})")
        elif operator == "**":
            if isinstance(right, int) and isinstance(left, int) and right > MAX_EXPONENT \
                    and abs(left) > 1:
                raise SecurityError(f"the exponent {right} is larger than the sandbox allows "
                                    f"({MAX_EXPONENT})")
        elif operator == "%":
            _check_format(left)
        elif operator == "+" and isinstance(left, str | list | tuple) \
                and isinstance(right, str | list | tuple) and len(left) + len(right) > MAX_SIZE:
            raise SecurityError(f"a value longer than the sandbox allows ({MAX_SIZE:,})")
        return super().call_binop(context, operator, left, right)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        _check_format(value.__self__)  # '{:>999999999}'.format(x)
        return wrapped

    def call(__self, __context: jinja2.runtime.Context, __obj: Any,
             *args: Any, **kwargs: Any) -> Any:
        # A macro doubling its argument on every call (f(s ~ s)) ends here.
        _check_lengths((*args, *kwargs.values()))
        # str.ljust/rjust/center/zfill/expandtabs/format take a width: bound it.
        if isinstance(getattr(__obj, "__self__", None), str):
            _check_sizes(args, kwargs)
            if getattr(__obj, "__name__", "") in ("format", "format_map"):
                _check_format(__obj.__self__)
        return super().call(__context, __obj, *args, **kwargs)


class BoundedNamespace(Namespace):
    """``namespace()`` for user templates: an attribute set to a string or list longer than
    :data:`MAX_SIZE` is refused (``{% set ns.s = ns.s ~ ns.s %}`` in a loop doubles)."""

    def __setitem__(self, name: str, value: Any) -> None:
        _check_lengths((value,))
        super().__setitem__(name, value)


def _check_lengths(values: tuple[Any, ...]) -> None:
    for value in values:
        if isinstance(value, str | list | tuple) and len(value) > MAX_SIZE:
            raise SecurityError(f"a value of {len(value):,} items is longer than the sandbox "
                                f"allows ({MAX_SIZE:,})")


def _check_sizes(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    for value in (*args, *kwargs.values()):
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_SIZE:
            raise SecurityError(f"the number {value} is larger than the sandbox allows "
                                f"({MAX_SIZE:,})")


def _check_format(text: object) -> None:
    if isinstance(text, str) and _BIG_NUMBER.search(text):
        raise SecurityError("a format string with a width or precision larger than the "
                            "sandbox allows")


def _bounded_filter(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` (a filter) refusing a width or count argument above :data:`MAX_SIZE`."""

    def bounded(*args: Any, **kwargs: Any) -> Any:
        # The value is the first argument (after the environment or context, if passed).
        rest = [a for a in args if not isinstance(a, jinja2.Environment | jinja2.runtime.Context
                                                 | jinja2.nodes.EvalContext)][1:]
        _check_sizes(tuple(rest), kwargs)
        if name == "format" and args:
            _check_format(next((a for a in args if isinstance(a, str)), None))
        return function(*args, **kwargs)

    for attr in ("jinja_pass_arg",):
        if hasattr(function, attr):
            setattr(bounded, attr, getattr(function, attr))
    return bounded


def user_sandbox(**options: Any) -> UserSandbox:
    """A :class:`UserSandbox` whose width-taking filters (center, indent, format, truncate,
    wordwrap, ...) are bounded too."""
    env = UserSandbox(**options)
    env.globals["namespace"] = BoundedNamespace
    for name in ("center", "indent", "format", "truncate", "wordwrap", "batch", "slice",
                 "round", "filesizeformat"):
        if name in env.filters:
            env.filters[name] = _bounded_filter(name, env.filters[name])
    return env


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


def render_bounded(template: jinja2.Template, context: Mapping[str, Any], name: str) -> str:
    """Render ``template``, stopping once it has written :data:`MAX_OUTPUT` characters.

    Resource errors of a user template (a range beyond the sandbox's limit, a string bomb,
    unbounded recursion) become one :class:`TemplateFailed` line naming ``name``; what the
    sandbox refuses stays a :class:`jinja2.exceptions.SecurityError` for the caller to word.
    """
    try:
        parts: list[str] = []
        size = 0
        for chunk in template.generate(context):
            size += len(chunk)
            if size > MAX_OUTPUT:
                raise TemplateFailed(f"{name}: the template wrote more than {MAX_OUTPUT:,} "
                                     "characters; stopped")
            parts.append(chunk)
        return "".join(parts)
    except RecursionError:
        raise TemplateFailed(f"{name}: the template recursed too deeply (a macro calling "
                             "itself without end?)") from None
    except MemoryError:
        raise TemplateFailed(f"{name}: the template ran out of memory (a string or list "
                             "too large)") from None
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


def make_environment(templates_dir: Path | None = None) -> jinja2.Environment:
    """A Jinja2 environment for Markdown pages.

    The search path is ``[templates_dir, default_templates_dir()]``: a file in
    ``templates_dir`` overrides the default of the same name, anything else falls back to the
    defaults. When a user folder is given (and is not the defaults folder itself) the
    environment is an immutable sandbox, because user templates are not trusted.
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
    search = [str(user), str(defaults)] if user else [str(defaults)]
    options: dict[str, Any] = {
        "loader": ConfinedLoader(search),
        "undefined": jinja2.StrictUndefined,
        # Markdown templates escape by filter; HTML partials (*.html.j2) are autoescaped.
        "autoescape": jinja2.select_autoescape(["html.j2"], default_for_string=False,
                                               default=False),
        "keep_trailing_newline": True,
        "trim_blocks": True,
        "lstrip_blocks": True,
        "auto_reload": False,
    }
    env: jinja2.Environment
    env = user_sandbox(**options) if user else jinja2.Environment(**options)
    env.filters.update(FILTERS)
    env.globals["fail"] = fail
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
def _environment_for(templates_dir: str | None, fingerprint: str) -> jinja2.Environment:
    # One environment (and one compile of every template) per process and template tree:
    # the build calls produce() once per chunk of sites. The fingerprint (every template
    # file's content) keeps a long-lived process (`runbook serve`) from using stale templates.
    return make_environment(None if templates_dir is None else Path(templates_dir))


def environment(templates_dir: Path | None = None) -> jinja2.Environment:
    """This process's environment for ``templates_dir`` (see :func:`make_environment`),
    made anew only when a template file changed."""

    return _environment_for(None if templates_dir is None else str(templates_dir),
                            templates_fingerprint(templates_dir))
