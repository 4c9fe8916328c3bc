"""The validation pipeline: secrets refused, every error of every file reported in one run.

Problems carry ``file:line:col: field.path: message``, sorted by position; a file with errors
never stops the next file from being checked.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from runbook.errors import ValidationFailed
from runbook.plan.sites import load_sites
from runbook.topology.validate import discover, load_all, load_topology, require_valid
from tests.topo import contoso, dump, one, pos, problems, value_at, where, write

VAULT_HINT = ("secrets never go in a topology: keep it in your password vault and name the "
              "vault entry under vault: (e.g. vault.service_account)")
PRODUCT_KEY = "ABCDE-FGHIJ-KLMNO-PQRST-UVWXY"


def server(t: dict[str, Any]) -> dict[str, Any]:
    """Contoso's edge01."""
    return t["edge"]["servers"][0]


# -- secrets -------------------------------------------------------------------------------


@pytest.mark.parametrize(("where_", "key", "field"), [
    ("server", "password", "edge.servers[0].password"),
    ("top", "secret", "secret"),
    ("top", "product_key", "product_key"),
    ("nic", "admin_password", "edge.servers[0].nics.internal.admin_password"),
    ("vault", "password", "vault.password"),
    ("certificates", "pfx_passphrase", "certificates.pfx_passphrase"),
])
def test_a_secret_looking_key_is_refused_and_points_at_the_vault(
        tmp_path: Path, where_: str, key: str, field: str) -> None:
    t = contoso()
    target = {"server": server(t), "top": t, "nic": server(t)["nics"]["internal"],
              "vault": t["vault"], "certificates": t["certificates"]}[where_]
    target[key] = "hunter2-Sup3rS3cret"
    path = write(tmp_path, t)
    found = problems(path)
    p = one(found, field)
    assert len(found) == 1  # no second "unknown key" complaint about the same key
    assert (p.severity, p.code) == ("error", "secret")
    # at the key, where the user must delete it (added last, so its last occurrence)
    assert (p.line, p.col) == where(path, f"{key}:", nth=path.read_text().count(f"{key}:"))
    assert p.message == f"'{key}' looks like a secret; {VAULT_HINT}"
    assert "hunter2" not in p.format()  # the secret itself is never echoed


def test_a_product_key_value_is_refused_wherever_it_appears(tmp_path: Path) -> None:
    t = contoso()
    t["change"]["title"] = f"Install edge with key {PRODUCT_KEY}"
    t["vault"]["product_key"] = PRODUCT_KEY  # the vault names entries, never holds values
    path = write(tmp_path, t)
    found = problems(path)
    assert [(p.path, p.code) for p in found] == [("vault.product_key", "secret"),
                                                 ("change.title", "secret")]
    for p in found:
        assert p.message == ("this value looks like a product key; keep it in your vault and "
                             "name the entry under vault.product_key")
        assert PRODUCT_KEY not in p.format()
    assert (found[0].line, found[0].col) == value_at(path, "product_key", PRODUCT_KEY)


def test_a_product_key_typed_in_lower_case_is_refused_too(tmp_path: Path) -> None:
    t = contoso()
    t["change"]["business_reason"] = PRODUCT_KEY.lower()
    found = problems(write(tmp_path, t))
    assert [(p.path, p.code) for p in found] == [("change.business_reason", "secret")]


def test_vault_entries_that_name_secrets_are_accepted(tmp_path: Path) -> None:
    t = contoso()
    t["vault"] = {"service_account": "contoso/edge/RTCProxyService",
                  "product_key": "contoso/edge/product-key"}
    assert problems(write(tmp_path, t)) == []


def test_keys_that_merely_contain_pass_are_not_secrets(tmp_path: Path) -> None:
    t = contoso()
    t["change"]["business_reason"] = "Bypass the password reset backlog for remote users"
    assert problems(write(tmp_path, t)) == []


KEY = "BCDFG-HJKMP-QRTVW-XY234-6789B"  # drawn from the 24 characters product keys use
KEY_MESSAGE = ("this value looks like a product key; keep it in your vault and name the entry "
               "under vault.product_key")


@pytest.mark.parametrize("typed", [
    "BCDFG HJKMP QRTVW XY234 6789B",  # spaces
    "BCDFG\u2013HJKMP\u2013QRTVW\u2013XY234\u20136789B",  # en dashes
    "BCDFG \u2212 HJKMP \u2212 QRTVW \u2212 XY234 \u2212 6789B",  # minus signs and spaces
    "BCDFGHJKMPQRTVWXY23467899",  # no separators at all
    "bcdfg_hjkmp_qrtvw_xy234_6789b",  # underscores, lower case
    "\uff22\uff23\uff24\uff26\uff27-HJKMP-QRTVW-XY234-6789B",  # full-width letters
    "BCDFG\u200b-HJKMP\u200b-QRTVW\u200b-XY234\u200b-6789B",  # zero-width spaces
    f"install with {KEY} tomorrow",  # inside a sentence
])
def test_a_product_key_is_found_however_it_is_typed_and_never_echoed(tmp_path: Path,
                                                                     typed: str) -> None:
    t = contoso()
    t["change"]["title"] = typed
    found = problems(write(tmp_path, t))
    assert [(p.path, p.code, p.message) for p in found] == [
        ("change.title", "secret", KEY_MESSAGE)]


def test_a_product_key_as_a_key_is_refused_and_not_even_its_path_shows_it(
        tmp_path: Path) -> None:
    path = write(tmp_path, dump(contoso()) + f"{KEY}: 1\n")
    found = problems(path)
    assert [(p.path, p.code) for p in found] == [("[redacted]", "secret")]
    assert (found[0].line, found[0].col) == where(path, KEY)
    assert found[0].message == ("this key looks like a product key; keep it in your vault and "
                                "name the entry under vault.product_key")
    assert "BCDFG" not in found[0].format()  # no "unknown key" complaint quoting it either


@pytest.mark.parametrize("text", [
    f"site: x\ntitle: !<tag:{KEY}> x\n",  # a YAML tag, refused with its name
    f"site: x\ntitle: !{KEY.replace('-', '')} x\n",
    f"site: x\ntitle: *{KEY.replace('-', '')}\n",  # an undefined alias, named by the parser
])
def test_a_product_key_in_a_syntax_error_is_never_echoed(tmp_path: Path, text: str) -> None:
    path = tmp_path / "site.yaml"
    path.write_text(text, "utf-8")
    found = problems(path)
    assert found and all("BCDFG" not in p.format() for p in found)
    assert found[0].line == 2


def test_a_product_key_in_a_valid_dns_name_is_kept_out_of_every_rule_message(
        tmp_path: Path) -> None:
    t = contoso()
    t["edge"]["fqdns"]["access"] = f"{KEY.lower()}.fabrikam.com"  # outside the external zone
    found = problems(write(tmp_path, t))
    assert ("edge.fqdns.access", "secret") in [(p.path, p.code) for p in found]
    outside = [p for p in found if "is not in the external zone" in p.message]
    assert [p.message for p in outside] == [
        "[redacted].fabrikam.com is not in the external zone contoso.com: use a name under "
        "contoso.com"]
    for p in found:
        assert "bcdfg" not in p.format().lower()


def test_a_repeated_product_key_as_a_key_is_not_echoed_by_the_yaml_reader(
        tmp_path: Path) -> None:
    path = write(tmp_path, dump(contoso()) + f"{KEY}: 1\n{KEY}: 2\n")
    (p,) = problems(path)
    first = where(path, KEY)[0]
    assert p.message == (f"key '[redacted]' appears twice (first at line {first}); keep one "
                         "of them")


@pytest.mark.parametrize("text", [
    "abcde fghij klmno pqrst uvwxy words",  # words: vowels, so not key characters
    "edge-north-south-eastx-westx.contoso.com"[:24],  # too short
    "Deploy the consolidated edge and the federation route this weekend",
    "0123456789012345678901234567890",  # 0, 1, 5 are never in a key
])
def test_text_that_only_resembles_a_key_is_not_a_secret(tmp_path: Path, text: str) -> None:
    t = contoso()
    t["change"]["business_reason"] = text
    assert problems(write(tmp_path, t)) == []


# -- characters no topology holds ----------------------------------------------------------


@pytest.mark.parametrize(("escape", "shown", "what"), [
    ("\\e]52;c;aGk=\\a", "\\x1b", "control character"),  # OSC 52: writes the clipboard
    ("ok\\rEVIL", "\\r", "control character"),
    ("a\\0b", "\\x00", "control character"),
    ("\\x9b2J", "\\x9b", "control character"),  # the one-byte CSI of C1
    ("abc\\u202edcba", "\\u202e", "bidirectional control"),
    ("x\\ud800", "\\ud800", "lone surrogate"),
])
def test_control_characters_surrogates_and_bidi_controls_are_refused(
        tmp_path: Path, escape: str, shown: str, what: str) -> None:
    text = dump(contoso()).replace("title: Contoso HQ edge deployment\n",
                                   f'title: "{escape}"\n', 1)
    path = write(tmp_path, text)
    found = problems(path)
    assert [(p.path, p.code) for p in found] == [("title", "text")]
    assert found[0].message.startswith(f"this value holds the {what} {shown}")
    assert (found[0].line, found[0].col) == where(path, f'"{escape}"')
    assert found[0].format().isprintable()


def test_a_control_character_in_a_key_is_refused_at_the_key_and_shown_escaped(
        tmp_path: Path) -> None:
    path = write(tmp_path, dump(contoso()) + '"ti\\e[2Jtle": x\n')
    found = problems(path)
    # one finding: no second "unknown key" complaint about the same key
    assert [(p.path, p.code) for p in found] == [("ti\x1b[2Jtle", "text")]
    assert (found[0].line, found[0].col) == where(path, '"ti')
    assert found[0].format().endswith(
        "ti\\x1b[2Jtle: this key holds the control character \\x1b, which would reach "
        "terminals and generated files as it is: remove it")
    assert found[0].format().isprintable()


def test_line_feeds_and_tabs_are_left_to_the_model(tmp_path: Path) -> None:
    t = contoso()
    t["change"]["business_reason"] = "Line one.\n\tIndented line two."
    assert problems(write(tmp_path, t)) == []


# -- every error in one run ----------------------------------------------------------------


def test_a_broken_copy_reports_every_rule_error_with_its_position(tmp_path: Path) -> None:
    t = contoso()
    t["next_hop"] = "pool02.contoso.local"
    t["edge"]["fqdns"]["webconf"] = "webconf.fabrikam.com"
    server(t)["domain_joined"] = True
    server(t)["nics"]["av"]["ip"] = "10.1.0.12/24"
    server(t)["nics"]["internal"]["gateway"] = "10.0.0.1"
    path = write(tmp_path, t)
    found = problems(path)
    assert [(p.line, p.col, p.path, p.severity) for p in found] == [
        (*where(path, "pool02.contoso.local"), "next_hop", "error"),
        (*where(path, "webconf.fabrikam.com"), "edge.fqdns.webconf", "error"),
        (*value_at(path, "gateway", "10.0.0.1"), "edge.servers[0].nics.internal.gateway",
         "error"),
        (*where(path, "10.1.0.12/24"), "edge.servers[0].nics.av.ip", "error"),
        (*value_at(path, "domain_joined", "true"), "edge.servers[0].domain_joined", "error"),
    ]


def test_a_broken_copy_reports_every_schema_error_and_secret(tmp_path: Path) -> None:
    t = contoso()
    t["site"] = "Contoso HQ"
    t["edge"]["features"]["remote_acess"] = True
    server(t)["nics"]["av"]["ip"] = "198.51.100.12"
    del t["domains"]["internal"]
    t["certificates"]["password"] = "x"
    path = write(tmp_path, t)
    found = problems(path)
    assert [(p.path, p.code) for p in found] == [
        ("site", "schema"),
        ("domains.internal", "schema"),
        ("edge.features.remote_acess", "schema"),
        ("edge.servers[0].nics.av.ip", "schema"),
        ("certificates.password", "secret"),
    ]
    assert all(p.severity == "error" for p in found)
    assert found == sorted(found, key=lambda p: (p.line, p.col))


def test_two_broken_files_are_both_reported(tmp_path: Path) -> None:
    a, b = contoso(), contoso()
    a["site"], b["site"] = "alpha", "beta"
    server(a)["domain_joined"] = True
    b["edge"]["features"]["federation"] = False
    write(tmp_path, a, "alpha.yaml")
    write(tmp_path, b, "beta.yaml")
    write(tmp_path, "not: [yaml", "gamma.yml")
    results = load_all([tmp_path])
    assert [(r.path.name, [p.path for p in r.errors]) for r in results] == [
        ("alpha.yaml", ["edge.servers[0].domain_joined"]),
        ("beta.yaml", ["edge.features.public_im"]),
        ("gamma.yml", [""]),
    ]
    with pytest.raises(ValidationFailed) as caught:
        load_sites([tmp_path])
    lines = caught.value.format().splitlines()
    assert len(lines) == 3
    assert [line.split(":")[0].rsplit("/", 1)[-1] for line in lines] == [
        "alpha.yaml", "beta.yaml", "gamma.yml"]


def test_two_files_with_the_same_site_slug_are_an_error_in_the_second(tmp_path: Path) -> None:
    write(tmp_path, contoso(), "a.yaml")
    path = write(tmp_path, contoso(), "b.yaml")
    first, second = load_all([tmp_path])
    assert first.errors == []
    p = one(second.errors, "site")
    assert (p.line, p.col) == where(path, "contoso-hq")
    assert p.message == (f"site 'contoso-hq' is already defined in {first.source.file}: every "
                         "site needs its own slug")


def test_warnings_do_not_make_a_file_invalid(tmp_path: Path) -> None:
    t = contoso()
    del server(t)["nics"]["webconf"]["public_ip"]
    loaded = load_topology(write(tmp_path, t))
    assert loaded.ok
    assert [p.code for p in loaded.warnings] == ["no-public-ip"]
    assert require_valid([loaded]) == [loaded]


def test_require_valid_lists_every_error_of_every_file(tmp_path: Path) -> None:
    a = contoso()
    server(a)["domain_joined"] = True
    a["next_hop"] = "nowhere.contoso.local"
    results = load_all([write(tmp_path, a)])
    with pytest.raises(ValidationFailed) as caught:
        require_valid(results)
    assert caught.value.message == "2 error(s) in topology files"
    assert len(caught.value.problems) == 2


# -- the error format ----------------------------------------------------------------------


def test_errors_read_file_line_col_path_message_relative_to_the_working_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "inputs").mkdir()
    t = contoso()
    server(t)["nics"]["av"]["ip"] = "192.168.50.12/24"
    text = dump(t)
    write(tmp_path / "inputs", text, "x.yaml")
    line, col = pos(text, "192.168.50.12/24")
    [p] = load_topology(Path("inputs/x.yaml")).problems
    assert p.format() == (f"inputs/x.yaml:{line}:{col}: edge.servers[0].nics.av.ip: the A/V "
                          "Edge address 192.168.50.12 is not publicly routable: media relay "
                          "needs a public address routed to this NIC without NAT")


# -- finding files -------------------------------------------------------------------------


def test_folders_are_searched_recursively_for_yaml_files_in_sorted_order(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    for name in ("b.yaml", "a.yml", "sub/c.yaml", "notes.txt", "d.json"):
        (tmp_path / name).write_text("x: 1\n")
    named = tmp_path / "notes.txt"
    found = discover([tmp_path, named])
    assert [p.relative_to(tmp_path).as_posix() for p in found] == [
        "a.yml", "b.yaml", "sub/c.yaml", "notes.txt"]


def test_the_shipped_examples_are_all_valid() -> None:
    from tests.topo import INPUTS

    results = load_all([INPUTS])
    assert len(results) >= 2
    for item in results:
        assert item.errors == [], "\n".join(p.format() for p in item.problems)
        # Only the lab example may carry warnings (lab downgrades some rules).
        assert item.warnings == [] or item.topology.environment == "lab", item.path


def test_files_outside_the_working_folder_are_named_relative_to_their_git_work_tree(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from runbook.topology.validate import display_name

    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "inputs").mkdir()
    topology = repo / "inputs" / "x.yaml"
    topology.write_text("site: x\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    # No absolute path: provenance must not depend on where the checkout lives.
    assert display_name(topology) == "inputs/x.yaml"
    monkeypatch.chdir(repo)
    assert display_name(topology) == "inputs/x.yaml"


@pytest.mark.parametrize("entry", ["Xk9#mP2$vL8qR!", "vault/`rm -rf`/entry", "a b"])
def test_a_vault_entry_that_looks_like_a_secret_or_markup_is_refused(
        tmp_path: Path, entry: str) -> None:
    data = contoso()
    data["vault"]["service_account"] = entry
    found = problems(write(tmp_path, data))
    assert [(p.path, p.severity) for p in found] == [("vault.service_account", "error")]
    assert "never the secret itself" in found[0].message
    assert entry not in found[0].message  # a refused secret is not echoed back


def test_a_key_at_the_wrong_level_says_where_it_belongs(tmp_path: Path) -> None:
    t = contoso()
    t["features"] = t["edge"].pop("features")  # edge's features written at the top level
    t["edge"]["fqdns"]["public_ca"] = "DigiCert"  # a key of certificates:
    found = {p.path: p.message for p in load_topology(write(tmp_path, t)).errors}
    assert found["features"].startswith(
        "unknown key 'features' here: it belongs under 'edge:' (or under 'edge.servers[]:')")
    assert found["edge.fqdns.public_ca"].startswith(
        "unknown key 'public_ca' here: it belongs under 'certificates:'")


def test_an_unknown_key_that_fits_nowhere_gets_only_the_spelling_hint(tmp_path: Path) -> None:
    t = contoso()
    t["edge"]["features"]["remote_acess"] = True
    (p,) = load_topology(write(tmp_path, t)).errors
    assert p.message.startswith("unknown key 'remote_acess'; did you mean 'remote_access'?")
