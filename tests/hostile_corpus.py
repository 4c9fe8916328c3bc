"""A corpus of broken and hostile topology files, written at test time from a seed.

Each :class:`Case` is one file (or special file) in the corpus folder, with what
``runbook validate`` must say of it: the name it is reported under (worked out by hand:
control characters and bytes that are not UTF-8 escaped), whether it is valid, text its
problem lines must hold, and the secrets planted in it, which no output may show.

The classes, one or more files each: values and keys with lone surrogates, control
characters (ESC sequences such as OSC 52, CR, NUL, C1 CSI, bidirectional overrides); file
names with the same, or not UTF-8; special files (named pipe, links to /dev/zero and
/dev/urandom, a dangling link); output amplification (huge values, keys and thousands of
errors); semantic conflicts (repeated server names and FQDNs, a server named as a pool, a
pool named by an IP address, gateways on the network or broadcast address, names and zones
ending in a line break, slugs with white space, FQDNs with two trailing dots, blank
organizations, slugs the pattern refuses); product keys typed with spaces, en dashes, no
dashes, full-width letters or zero-width characters, also as keys; and the classes that
held before: alias bombs, YAML tags, several documents, deep nesting, large files,
duplicate keys, tabs, byte-order marks, encodings, payloads for HTML, Markdown, CSV,
PowerShell, DOT and Jinja (valid text: escaped by the outputs). Seeded fuzz adds truncated,
byte-flipped and line-dropped copies of the Contoso topology.
"""

from __future__ import annotations

import copy
import os
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
CONTOSO_TEXT = (ROOT / "inputs" / "contoso.yaml").read_text(encoding="utf-8")
SEED = 17


@dataclass
class Case:
    """One corpus file and what validate must report of it."""

    name: str | bytes  # the file name in the corpus folder (bytes: not UTF-8)
    shown_as: str  # how every line names it
    valid: bool | None  # None: fuzz, either verdict is right
    expect: list[str] = field(default_factory=list)  # text the file's problem lines hold
    secrets: list[str] = field(default_factory=list)  # text no output may show
    kind: str = "file"  # file, fifo, link


def _contoso(slug: str) -> str:
    return CONTOSO_TEXT.replace("site: contoso-hq", f"site: {slug}")


def _data(slug: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(_contoso(slug))
    return data


def _dump(data: dict[str, Any]) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=1000)


def _sub(slug: str, old: str, new: str) -> str:
    text = _contoso(slug)
    assert old in text, old
    return text.replace(old, new, 1)


TITLE = "title: Contoso HQ edge deployment"
NAME = "    - name: edge01"
PRODUCT_KEY = "BCDFG-HJKMP-QRTVW-XY234-6789B"


def _second_server(data: dict[str, Any], **changes: Any) -> dict[str, Any]:
    server = copy.deepcopy(data["edge"]["servers"][0])
    server["nics"] = {"internal": {"ip": "10.0.0.20/24"},
                      "access": {"ip": "172.16.0.20/24", "gateway": "172.16.0.1"}}
    server["roles"] = ["access"]
    server.update(changes)
    data["edge"]["servers"].append(server)
    return data


def _texts(slug: str) -> list[tuple[str, str | bytes, bool | None, list[str], list[str]]]:
    """(file stem, content, valid, expected text, secrets) of every handwritten case."""
    c: list[tuple[str, str | bytes, bool | None, list[str], list[str]]] = []

    def add(stem: str, content: str | bytes, valid: bool | None, expect: list[str] | None = None,
            secrets: list[str] | None = None) -> None:
        c.append((stem, content, valid, expect or [], secrets or []))

    def data_case(stem: str, change: Callable[[dict[str, Any]], object], valid: bool,
                  expect: list[str], secrets: list[str] | None = None) -> None:
        d = _data(f"{slug}-{stem}")
        change(d)
        add(stem, _dump(d), valid, expect, secrets)

    s = f"{slug}-x"  # site slug of cases whose slug does not matter (they are invalid)
    add("valid-contoso", _contoso(f"{slug}-valid"), True)
    # -- lone surrogates (YAML escapes) ------------------------------------------------
    for i, field_ in enumerate(("title", "organization")):
        add(f"surrogate-{i}", _sub(s, f"{field_}: ", f'{field_}: "\\ud800 x" #'), False,
            [f"{field_}: this value holds the lone surrogate \\ud800"])
    add("surrogate-key", _sub(s, TITLE, f'{TITLE}\n"k\\udfff": 1'), False,
        ["k\\udfff: this key holds the lone surrogate \\udfff"])
    add("surrogate-name", _sub(s, NAME, '    - name: "edge\\ud83d"'), False,
        ["edge.servers[0].name: this value holds the lone surrogate \\ud83d"])
    # -- control characters in values and keys ------------------------------------------
    controls = {"osc52": ("\\e]52;c;aGVsbG8=\\a", "\\x1b"), "csi": ("\\e[2J\\e[H", "\\x1b"),
                "cr": ("ok\\rEVIL", "\\r"), "nul": ("a\\0b", "\\x00"), "bel": ("\\a", "\\x07"),
                "c1-csi": ("\\x9b31m", "\\x9b"), "backspace": ("abc\\b\\b\\bxyz", "\\x08"),
                "del": ("a\\x7fb", "\\x7f"), "bidi": ("abc\\u202edcba", "\\u202e"),
                "isolate": ("\\u2066x\\u2069", "\\u2066")}
    for name, (escape, shown) in controls.items():
        add(f"ctl-{name}-title", _sub(s, TITLE, f'title: "{escape}"'), False,
            ["title: this value holds the", shown])
        add(f"ctl-{name}-key", _sub(s, TITLE, f'{TITLE}\n"key{escape}": 1'), False,
            ["this key holds the", shown])
    add("ctl-nic-name", _sub(s, "{name: Internal,", '{name: "Int\\e]0;pwned\\aernal",'), False,
        ["edge.servers[0].nics.internal.name: this value holds the control character \\x1b"])
    add("ctl-contact", _sub(s, "  risk: medium", '  risk: medium\n  contacts: ["x\\r\\ny"]'),
        False, ["change.contacts[0]: this value holds the control character \\r"])
    add("raw-esc-in-comment", _sub(s, TITLE, f"{TITLE}  # \x1b]52;c;aGk=\x07"), False,
        ["the character '\\x1b' (U+001B) is not allowed in a YAML file"])
    add("raw-nul", _contoso(s).replace("Contoso Ltd", "Contoso\x00Ltd"), False,
        ["the character '\\x00' (U+0000) is not allowed"])
    # -- amplification ------------------------------------------------------------------
    big = "A" * 200_000
    add("huge-value", _sub(s, TITLE, f"title: {big}"), False, ["title: is too long"])
    add("huge-key", _sub(s, TITLE, f"{TITLE}\n? {'k' * 100_000}\n: 1"), False,
        ["unknown key 'kkkk", "(99920 more characters)"])
    add("alias-of-huge", f'v: &a "{"x" * 100_000}"\nsite: *a\norganization: *a\n'
        f"domains: {{sip: [{', '.join(['*a'] * 45)}], internal: *a, external: *a}}\n",
        False, ["(99920 more characters)"])
    pools = "\n".join(f"  - {{fqdn: bad_{i}, kind: nope{i}}}" for i in range(3000))
    add("many-errors", f"site: {s}\norganization: y\npools:\n{pools}\n", False,
        ["more problem(s) not shown; fix the ones above and run again"])
    keys = "\n".join(f"unknown_{i}: {i}" for i in range(5000))
    add("many-unknown-keys", f"{_contoso(s)}{keys}\n", False, ["more problem(s) not shown"])
    # -- semantic conflicts -------------------------------------------------------------
    data_case("dup-name-case", lambda d: _second_server(d, name="EDGE01"), False,
              ["edge.servers[1].name: server name edge01 is already used by edge.servers[0]"])
    data_case("dup-fqdn", lambda d: _second_server(d, name="edge02",
                                                   fqdn="edge01.contoso.local"), False,
              ["edge.servers[1].fqdn: internal FQDN edge01.contoso.local is already the FQDN "
               "of edge.servers[0]"])
    data_case("server-is-pool", lambda d: d["edge"]["servers"][0].update(
        fqdn="pool01.contoso.local"), False,
        ["edge.servers[0].fqdn: internal FQDN pool01.contoso.local is also the FQDN of pools[0]"])
    # A public name equal to another host's FQDN: with the internal zone inside the public
    # one (corp.contoso.com), the zone checks cannot tell them apart.
    def under_external(stem: str, change: Callable[[dict[str, Any]], object],
                       expect: str) -> None:
        d = _data(f"{slug}-{stem}")
        moved: dict[str, Any] = yaml.safe_load(_dump(d).replace("contoso.local",
                                                                "corp.contoso.com"))
        change(moved)
        add(stem, _dump(moved), False, [expect])

    under_external("access-is-pool", lambda d: d["edge"]["fqdns"].update(
        access="pool01.corp.contoso.com"),
        "edge.fqdns.access: pool01.corp.contoso.com is already the FQDN of pools[0]")
    under_external("webconf-is-server", lambda d: d["edge"]["fqdns"].update(
        webconf="edge01.corp.contoso.com"),
        "edge.fqdns.webconf: edge01.corp.contoso.com is already the internal FQDN of "
        "edge.servers[0]")
    under_external("proxy-is-access", lambda d: d["reverse_proxy"].update(fqdn="sip.contoso.com"),
                   "reverse_proxy.fqdn: sip.contoso.com is already the Access Edge's public name")
    under_external("director-is-access", lambda d: (
        d["pools"].insert(0, {"fqdn": "sip.contoso.com", "kind": "director"}),
        d.update(next_hop="sip.contoso.com")),
        "edge.fqdns.access: sip.contoso.com is already the FQDN of pools[0]")
    data_case("pool-is-ip", lambda d: d["pools"][0].update(fqdn="10.0.0.5"), False,
              ["pools[0].fqdn: '10.0.0.5' is an IP address, not a DNS name"])
    data_case("gateway-network", lambda d: d["edge"]["servers"][0]["nics"]["access"].update(
        gateway="172.16.0.0"), False, ["gateway 172.16.0.0 is the network or broadcast address"])
    data_case("gateway-broadcast", lambda d: d["edge"]["servers"][0]["nics"]["access"].update(
        gateway="172.16.0.255"), False, ["gateway 172.16.0.255 is the network or broadcast"])
    add("name-folded-newline", _sub(s, NAME, "    - name: >\n        edge01"), False,
        ["edge.servers[0].name: 'edge01\\n' is not a valid host name"])
    add("zone-literal-newline", _sub(s, "  internal: contoso.local",
                                     "  internal: |\n    contoso.local"), False,
        ["domains.internal: 'contoso.local\\n' is not a valid DNS name"])
    add("fqdn-newline", _sub(s, "    access: sip.contoso.com", '    access: "sip.contoso.com\\n"'),
        False, ["edge.fqdns.access: 'sip.contoso.com\\n' is not a valid DNS name"])
    add("slug-trailing-space", _contoso(f'"{slug}-sp "'), False,
        [f"site: '{slug}-sp ' is not a valid site slug", "white space or a line break"])
    add("slug-newline", _contoso(f"|\n  {slug}-nl"), False,
        [f"site: '{slug}-nl\\n' is not a valid site slug"])
    add("slug-trailing-hyphen", _contoso(f"{slug}-"), False, ["is not a valid site slug"])
    add("slug-device-name", _contoso("con"), False, ["'con' cannot be a site slug"])
    add("fqdn-two-dots", _sub(s, "    access: sip.contoso.com", "    access: sip.contoso.com.."),
        False, ["edge.fqdns.access: 'sip.contoso.com..' is not a valid DNS name: it has an "
                "empty label"])
    add("org-spaces", _sub(s, "organization: Contoso Ltd", 'organization: "    "'), False,
        ["organization: is blank"])
    add("org-zero-width", _sub(s, "organization: Contoso Ltd",
                               'organization: "\\u200b\\u200b\\ufeff"'), False,
        ["organization: is blank"])
    add("title-newline", _sub(f"{slug}-title-nl", TITLE, "title: |\n  two\n  lines"), True)
    # -- secrets ------------------------------------------------------------------------
    keys_typed = {"spaces": "BCDFG HJKMP QRTVW XY234 6789B",
                  "en-dash": "BCDFG\u2013HJKMP\u2013QRTVW\u2013XY234\u20136789B",
                  "no-dashes": "BCDFGHJKMPQRTVWXY23467899",
                  "lower": PRODUCT_KEY.lower(),
                  "full-width": "".join(chr(ord(ch) + 0xFEE0) if ch != "-" else ch
                                        for ch in PRODUCT_KEY),
                  "zero-width": PRODUCT_KEY.replace("-", "\u200b-"),
                  "minus-sign": PRODUCT_KEY.replace("-", " \u2212 ")}
    for name, key in keys_typed.items():
        add(f"key-{name}-title", _sub(s, TITLE, f'title: "{key}"'), False,
            ["title: this value looks like a product key"], [key])
        add(f"key-{name}-as-key", _sub(s, TITLE, f'{TITLE}\n"{key}": 1'), False,
            ["[redacted]: this key looks like a product key"], [key])
    add("key-in-fqdn", _sub(s, "    access: sip.contoso.com",
                            f"    access: {PRODUCT_KEY.lower()}.contoso.com"), False,
        ["edge.fqdns.access: this value looks like a product key"], [PRODUCT_KEY])
    add("key-duplicated-key", _sub(s, TITLE, f"{TITLE}\n{PRODUCT_KEY}: 1\n{PRODUCT_KEY}: 2"),
        False, ["key '[redacted]' appears twice"], [PRODUCT_KEY])
    add("key-in-list", _sub(s, "  sip: [contoso.com]", f"  sip: [contoso.com, '{PRODUCT_KEY}']"),
        False, ["domains.sip[1]: this value looks like a product key"], [PRODUCT_KEY])
    add("key-bad-date", _sub(s, TITLE, f"{TITLE}\n{PRODUCT_KEY}: 2024-13-45"), False,
        [], [PRODUCT_KEY])
    add("password", _sub(s, TITLE, f"{TITLE}\npassword: hunter2-PLANTED"), False,
        ["'password' looks like a secret"], ["hunter2-PLANTED"])
    add("vault-secret", _sub(s, "  service_account: contoso-hq/ocs/RTCProxyService",
                             "  service_account: 'P@ss w0rd!PLANTED'"), False,
        ["vault.service_account: this does not look like the name of a vault entry"],
        ["P@ss w0rd!PLANTED"])
    # -- classes that held before ---------------------------------------------------------
    laughs = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    for i, prev in zip("bcdefghi", "abcdefgh", strict=True):
        laughs += f"{i}: &{i} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n"
    add("alias-bomb", laughs, False, ["YAML aliases"])
    add("tag-python", _sub(s, TITLE, "title: !!python/object/apply:os.system ['id']"), False,
        ["YAML tag '!!python/object/apply:os.system' is not allowed"])
    add("tag-binary", _sub(s, TITLE, "title: !!binary aGVsbG8="), False, ["is not allowed"])
    add("tag-custom", _sub(s, TITLE, "title: !vault secret"), False, ["is not allowed"])
    add("two-documents", _contoso(s) + "---\nsite: other\n", False, ["one YAML document"])
    add("deep-nesting", "site: " + "[" * 200 + "]" * 200 + "\n", False, ["nest more than"])
    add("too-large", _contoso(s) + "#" * 300_000 + "\n", False, ["file is larger than 256 kB"])
    add("empty", "", False, ["the file is empty"])
    add("list-root", "- a\n- b\n", False, ["the document must be a mapping"])
    add("scalar-root", "just text\n", False, ["the document must be a mapping"])
    add("duplicate-key", _sub(s, TITLE, f"{TITLE}\n{TITLE}"), False, ["appears twice"])
    add("tabs", _contoso(s).replace("  sip: [contoso.com]", "\tsip: [contoso.com]"), False,
        ["YAML syntax error"])
    add("bom", "\ufeff" + _contoso(f"{slug}-bom"), True)
    add("utf16", _contoso(s).encode("utf-16"), False, ["file is not UTF-8 text"])
    add("latin1", _contoso(s).replace("Ltd", "Lt\u00e9").encode("latin-1"), False,
        ["file is not UTF-8 text"])
    add("bad-date", _sub(s, TITLE, "title: 2024-13-45"), False, ["cannot be read"])
    add("huge-int", _sub(s, TITLE, "title: 1" + "0" * 5000), False,  # beyond int()'s digits
        [":6:8: value '1000", "(4921 more characters)' cannot be read; put it in quotes"])
    add("merge-key", _sub(f"{slug}-merge", NAME, "    - <<: {name: edge01}"), True)
    payloads = {"html": "<script>alert(1)</script><img src=x onerror=alert(2)>",
                "markdown": "[click](javascript:alert(1)) <!-- | a | b |",
                "csv": "=HYPERLINK(\"http://x\",\"y\")+cmd|' /C calc'!A0",
                "powershell": "$(Remove-Item -Recurse C:\\) `; & calc.exe",
                "dot": "a\"]; evil [label=\"x",
                "jinja": "{{ cycler.__init__.__globals__ }} {% raw %}",
                "latex": "\\input{/etc/passwd} %",
                "unicode": "Contoso Ltd \u00e9\u4e2d\u6587 \U0001f600"}
    for name, payload in payloads.items():
        quoted = payload.replace("\\", "\\\\").replace('"', '\\"')
        add(f"payload-{name}", _sub(f"{slug}-p-{name}", "organization: Contoso Ltd",
                                    f'organization: "{quoted}"'), True)
    return c


def _fuzz(rng: random.Random, slug: str, count: int) -> list[tuple[str, bytes]]:
    """Seeded copies of Contoso: truncated, bytes changed, lines dropped or repeated."""
    out = []
    for i in range(count):
        base = _contoso(f"{slug}-{i:03d}").encode("utf-8")
        lines = base.splitlines(keepends=True)
        how = i % 4
        if how == 0:
            data = base[:rng.randrange(len(base))]
        elif how == 1:
            data = bytearray(base)
            for _ in range(rng.randint(1, 8)):
                data[rng.randrange(len(data))] = rng.randrange(256)
            data = bytes(data)
        elif how == 2:
            kept = [ln for ln in lines if rng.random() > 0.15]
            data = b"".join(kept)
        else:
            at = rng.randrange(len(lines))
            data = b"".join(lines[:at] + [lines[at]] * rng.randint(2, 4) + lines[at + 1:])
        out.append((f"fuzz-{i:03d}", data))
    return out


FILE_NAMES: list[tuple[str | bytes, str]] = [  # (name on disk, name as reported)
    ("name-osc52-\x1b]52;c;aGk=\x07.yaml", "name-osc52-\\x1b]52;c;aGk=\\x07.yaml"),
    ("name-cr-\rX.yaml", "name-cr-\\rX.yaml"),
    ("name-newline-\nX.yaml", "name-newline-\\nX.yaml"),
    ("name-bidi-\u202elmth.yaml", "name-bidi-\\u202elmth.yaml"),
    ("name-tab-\t.yaml", "name-tab-\\t.yaml"),
    (b"name-latin1-caf\xe9.yaml", "name-latin1-caf\\xe9.yaml"),
    (b"name-bad-utf8-\xff\xfe.yaml", "name-bad-utf8-\\xff\\xfe.yaml"),
    (b"name-surrogate-\xed\xa0\x80.yaml", "name-surrogate-\\xed\\xa0\\x80.yaml"),
]


def build(folder: Path, seed: int = SEED, fuzz: int = 160) -> list[Case]:
    """Write the corpus into ``folder`` (which must exist) and return its cases."""
    rng = random.Random(seed)
    slug = "hostile"
    cases: list[Case] = []
    for n, (stem, content, valid, expect, secrets) in enumerate(_texts(slug)):
        name = f"{stem}.yaml"
        path = folder / name
        if isinstance(content, str):  # each file its own site, so no two files clash
            content = content.replace(f"site: {slug}-x\n", f"site: {slug}-{n:03d}\n", 1)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_bytes(content.encode("utf-8", "surrogatepass"))
        cases.append(Case(name, name, valid, expect, secrets))
    for i, (raw, shown) in enumerate(FILE_NAMES):
        target = os.fsencode(folder) + b"/" + (raw if isinstance(raw, bytes) else
                                               raw.encode("utf-8"))
        with open(target, "wb") as f:
            f.write(_contoso(f"{slug}-name-{i}").encode("utf-8"))
        cases.append(Case(raw, shown, True))
    for stem, data in _fuzz(rng, f"{slug}-fuzz", fuzz):
        name = f"{stem}.yaml"
        (folder / name).write_bytes(data)
        cases.append(Case(name, name, None))
    os.mkfifo(folder / "special-fifo.yaml")
    cases.append(Case("special-fifo.yaml", "special-fifo.yaml", False,
                      ["cannot read file: it is a named pipe (FIFO), not a regular file"],
                      kind="fifo"))
    for target, stem in (("/dev/zero", "zero"), ("/dev/urandom", "urandom"),
                         (str(folder / "nowhere"), "dangling")):
        (folder / f"special-{stem}.yaml").symlink_to(target)
        message = ("cannot read file: No such file or directory" if stem == "dangling" else
                   "cannot read file: it is a character device, not a regular file")
        cases.append(Case(f"special-{stem}.yaml", f"special-{stem}.yaml", False, [message],
                          kind="link"))
    return cases
