"""The input contract: types, required keys, unknown keys and the syntax of every value.

Each test starts from ``inputs/contoso.yaml``, changes one thing, writes the file and checks
the exact problem: where it is (line:col computed from the text written), which field, and a
message that says what is wrong and what to do.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from runbook.errors import Problem
from runbook.topology.model import Topology, json_schema
from tests.topo import ROOT, contoso, dump, one, pos, problems, value_at, where, write

AV_IP = "edge.servers[0].nics.av.ip"


def server(t: dict[str, Any]) -> dict[str, Any]:
    """The first (only) edge server of a contoso copy."""
    return t["edge"]["servers"][0]


def nics(t: dict[str, Any]) -> dict[str, Any]:
    """The NICs of contoso's edge01."""
    return server(t)["nics"]


def schema_problem(tmp_path: Path, t: dict[str, Any] | str,
                   field: str) -> tuple[Problem, Path]:
    """Write ``t`` and return the single problem at ``field``, asserting it is a schema error."""
    path = write(tmp_path, t)
    found = problems(path)
    p = one(found, field)
    assert p.severity == "error"
    assert p.code == "schema"
    return p, path


# -- the model accepts the examples ------------------------------------------------------


def test_contoso_is_a_valid_topology() -> None:
    topology = Topology.model_validate(contoso())
    assert topology.site == "contoso-hq"
    assert topology.edge.servers[0].nics.av is not None


def test_defaults_fill_optional_keys(tmp_path: Path) -> None:
    t = contoso()
    del server(t)["roles"], t["certificates"]["internal_ca"], t["vault"], t["change"], t["title"]
    del t["environment"], t["next_hop"], t["edge"]["load_balancer"]
    assert problems(write(tmp_path, t)) == []
    topology = Topology.model_validate(t)
    assert topology.environment == "production"
    assert topology.edge.servers[0].roles == ["access", "webconf", "av"]  # consolidated
    assert topology.edge.servers[0].domain_joined is False
    assert topology.certificates.internal_ca == "Internal enterprise CA"
    assert topology.certificates.key_size == 2048


# -- types -------------------------------------------------------------------------------


def test_a_number_where_text_belongs_says_yaml_read_it_as_a_number(tmp_path: Path) -> None:
    t = contoso()
    t["organization"] = 12
    p, path = schema_problem(tmp_path, t, "organization")
    assert (p.line, p.col) == where(path, "12")
    assert p.message == ("expected text, got the number 12 (YAML reads it as a number): "
                         "put the value in quotes")


def test_organization_no_is_yaml_1_1_false_and_the_hint_says_quote_it(tmp_path: Path) -> None:
    text = dump(contoso()).replace("organization: Contoso Ltd", "organization: no")
    p, _ = schema_problem(tmp_path, text, "organization")
    assert (p.line, p.col) == pos(text, "no\n")
    assert p.message == ("expected text, got the boolean false (YAML reads yes/no/on/off as "
                         "booleans): put the value in quotes")


def test_organization_quoted_no_is_accepted(tmp_path: Path) -> None:
    text = dump(contoso()).replace("organization: Contoso Ltd", 'organization: "no"')
    assert problems(write(tmp_path, text)) == []


def test_a_quoted_yes_where_a_boolean_belongs_is_rejected(tmp_path: Path) -> None:
    t = contoso()
    t["edge"]["features"]["federation"] = "yes"
    p, path = schema_problem(tmp_path, t, "edge.features.federation")
    assert (p.line, p.col) == where(path, "'yes'")
    assert p.message == "expected true or false, got 'yes'"


def test_a_mapping_where_a_list_belongs_is_rejected(tmp_path: Path) -> None:
    t = contoso()
    t["edge"]["servers"] = server(t)
    p, path = schema_problem(tmp_path, t, "edge.servers")
    assert (p.line, p.col) == where(path, "name: edge01")
    assert p.message == "expected a list, got a mapping: write it as [a, b] or '- a' lines"


def test_text_where_a_mapping_belongs_is_rejected(tmp_path: Path) -> None:
    t = contoso()
    server(t)["nics"] = "four"
    p, path = schema_problem(tmp_path, t, "edge.servers[0].nics")
    assert (p.line, p.col) == where(path, "four")
    assert p.message == "expected a mapping of keys, got 'four'"


def test_a_value_outside_its_choices_lists_the_choices(tmp_path: Path) -> None:
    t = contoso()
    t["environment"] = "staging"
    p, path = schema_problem(tmp_path, t, "environment")
    assert (p.line, p.col) == where(path, "staging")
    assert p.message == "'staging' is not allowed: use one of 'production' or 'lab'"


def test_an_unknown_public_im_provider_is_rejected_at_its_list_item(tmp_path: Path) -> None:
    t = contoso()
    t["edge"]["features"]["public_im"] = ["msn", "icq"]
    p, path = schema_problem(tmp_path, t, "edge.features.public_im[1]")
    assert (p.line, p.col) == where(path, "icq")
    assert p.message == "'icq' is not allowed: use one of 'msn', 'aol' or 'yahoo'"


def test_an_edge_without_servers_is_rejected(tmp_path: Path) -> None:
    t = contoso()
    t["edge"]["servers"] = []
    p, path = schema_problem(tmp_path, t, "edge.servers")
    assert (p.line, p.col) == where(path, "[]")
    assert "needs at least 1" in p.message


# -- required and unknown keys -----------------------------------------------------------


def test_a_missing_required_key_is_reported_at_its_parent(tmp_path: Path) -> None:
    t = contoso()
    del nics(t)["av"]["ip"]
    p, path = schema_problem(tmp_path, t, AV_IP)
    # the av NIC's mapping starts at its first remaining key
    assert (p.line, p.col) == where(path, "name: A/V Edge")
    assert p.message == "required key 'ip' is missing: add it"


def test_a_missing_top_level_key_is_reported_at_the_document_start(tmp_path: Path) -> None:
    t = contoso()
    del t["domains"]
    p, _ = schema_problem(tmp_path, t, "domains")
    assert (p.line, p.col) == (1, 1)
    assert p.message == "required key 'domains' is missing: add it"


def test_a_misspelt_key_is_rejected_with_a_did_you_mean_hint(tmp_path: Path) -> None:
    t = contoso()
    t["edge"]["features"]["remote_acess"] = t["edge"]["features"].pop("remote_access")
    p, path = schema_problem(tmp_path, t, "edge.features.remote_acess")
    assert (p.line, p.col) == where(path, "remote_acess")  # the key itself, not its value
    assert p.message == ("unknown key 'remote_acess'; did you mean 'remote_access'? (allowed "
                         "here: anonymous_meetings, federation, federation_discovery, "
                         "public_im, remote_access)")


def test_an_unknown_top_level_key_names_the_closest_known_key(tmp_path: Path) -> None:
    t = contoso()
    t["edges"] = {}
    p, path = schema_problem(tmp_path, t, "edges")
    assert (p.line, p.col) == where(path, "edges:")
    assert "unknown key 'edges'; did you mean 'edge'?" in p.message


def test_a_misspelt_key_inside_a_list_item_is_hinted_and_its_absence_reported(
        tmp_path: Path) -> None:
    t = contoso()
    server(t)["nic"] = server(t).pop("nics")
    path = write(tmp_path, t)
    found = problems(path)
    typo = one(found, "edge.servers[0].nic")
    assert (typo.line, typo.col) == where(path, "nic:")
    assert typo.message.startswith("unknown key 'nic'; did you mean 'nics'?")
    missing = one(found, "edge.servers[0].nics")
    assert (missing.line, missing.col) == where(path, "name: edge01")  # the server's start
    assert missing.message == "required key 'nics' is missing: add it"


def test_an_unknown_key_with_no_close_match_lists_what_is_allowed(tmp_path: Path) -> None:
    t = contoso()
    nics(t)["av"]["colour"] = "blue"
    p, path = schema_problem(tmp_path, t, "edge.servers[0].nics.av.colour")
    assert (p.line, p.col) == where(path, "colour")
    assert p.message == ("unknown key 'colour' (allowed here: gateway, ip, name, public_ip, "
                         "routes)")


# -- IPv4 syntax ---------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "message"), [
    ("198.51.100.300/24", "'198.51.100.300/24' is not an IPv4 address/prefix (e.g. 10.0.0.10/24)"),
    ("198.51.100.12/33", "'198.51.100.12/33' is not an IPv4 address/prefix (e.g. 10.0.0.10/24)"),
    ("198.51.100.12", "'198.51.100.12' has no prefix length: write address/prefix "
                      "(e.g. 10.0.0.10/24)"),
    ("198.51.100.0/24", "'198.51.100.0/24' is the network or broadcast address of its subnet "
                        "(or the prefix leaves no host addresses): pick a host address"),
    ("198.51.100.255/24", "'198.51.100.255/24' is the network or broadcast address of its "
                          "subnet (or the prefix leaves no host addresses): pick a host address"),
])
def test_a_nic_address_must_be_an_ipv4_host_with_prefix(tmp_path: Path, value: str,
                                                         message: str) -> None:
    t = contoso()
    nics(t)["av"]["ip"] = value
    p, path = schema_problem(tmp_path, t, AV_IP)
    assert (p.line, p.col) == where(path, value)
    assert p.message == message


def test_a_gateway_is_a_bare_address_without_prefix(tmp_path: Path) -> None:
    t = contoso()
    nics(t)["access"]["gateway"] = "172.16.0.1/24"
    p, path = schema_problem(tmp_path, t, "edge.servers[0].nics.access.gateway")
    assert (p.line, p.col) == where(path, "172.16.0.1/24")
    assert p.message == ("'172.16.0.1/24' is not an IPv4 address: write four numbers 0-255 "
                         "separated by dots (e.g. 10.0.0.10), without a prefix")


def test_a_route_destination_is_a_network_with_host_bits_zero(tmp_path: Path) -> None:
    t = contoso()
    nics(t)["internal"]["routes"][0]["to"] = "10.0.0.1/8"
    p, path = schema_problem(tmp_path, t, "edge.servers[0].nics.internal.routes[0].to")
    assert (p.line, p.col) == where(path, "10.0.0.1/8")
    assert "host bits zero (e.g. 10.0.0.0/8)" in p.message


# -- DNS name syntax -------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "complaint"), [
    ("a" * 64 + ".contoso.com", f"label '{'a' * 64}' must be 1-63 letters, digits or hyphens"),
    ("a_v.contoso.com", "label 'a_v' must be 1-63 letters, digits or hyphens"),
    ("-av.contoso.com", "not starting or ending with a hyphen"),
    ("av..contoso.com", "it has an empty label (two dots in a row"),
    (".".join(["a" * 60] * 4) + ".contoso.com", "it must be 1-253 characters"),
    ("av", "is not a fully qualified name: add its DNS zone"),
])
def test_a_role_fqdn_must_be_a_valid_fully_qualified_dns_name(tmp_path: Path, name: str,
                                                               complaint: str) -> None:
    t = contoso()
    t["edge"]["fqdns"]["av"] = name
    p, path = schema_problem(tmp_path, t, "edge.fqdns.av")
    assert (p.line, p.col) == value_at(path, "av", name)
    # a value longer than 80 characters is quoted cut short, with a count of the rest
    quoted = name if len(name) <= 80 else f"{name[:80]}… ({len(name) - 80} more characters)"
    assert p.message.startswith(f"'{quoted}' is not a")
    assert complaint in p.message


def test_a_63_character_label_and_a_253_character_name_are_accepted(tmp_path: Path) -> None:
    t = contoso()
    label = "a" * 63
    t["edge"]["fqdns"]["av"] = f"{label}.contoso.com"
    t["domains"]["internal"] = ".".join(["b" * 63] * 3) + "." + "c" * 61  # 253 characters
    assert len(t["domains"]["internal"]) == 253
    found = [p for p in problems(write(tmp_path, t)) if p.code == "schema"]
    assert found == []


def test_dns_names_are_normalised_to_lower_case_without_the_root_dot() -> None:
    t = contoso()
    t["edge"]["fqdns"]["av"] = "AV.Contoso.COM."
    assert Topology.model_validate(t).edge.fqdns.av == "av.contoso.com"


def test_a_server_name_is_a_single_dns_label(tmp_path: Path) -> None:
    t = contoso()
    server(t)["name"] = "edge 01"
    p, path = schema_problem(tmp_path, t, "edge.servers[0].name")
    assert (p.line, p.col) == where(path, "edge 01")
    assert p.message == ("'edge 01' is not a valid host name: use 1-63 letters, digits and "
                         "hyphens (a single DNS label, e.g. edge01)")


# -- slug syntax ---------------------------------------------------------------------------


@pytest.mark.parametrize("slug", ["Contoso-HQ", "contoso hq", "-contoso", "a" * 64, "contoso_hq"])
def test_a_site_slug_is_lower_case_letters_digits_and_hyphens(tmp_path: Path, slug: str) -> None:
    t = contoso()
    t["site"] = slug
    p, path = schema_problem(tmp_path, t, "site")
    assert (p.line, p.col) == where(path, slug)
    assert p.message == (f"'{slug}' is not a valid site slug: use 1-63 lower-case letters, "
                         "digits and hyphens, starting and ending with a letter or digit "
                         "(e.g. contoso-hq)")


@pytest.mark.parametrize("slug", ["contoso-hq", "0day", "a" * 63, "x"])
def test_valid_site_slugs_are_accepted(tmp_path: Path, slug: str) -> None:
    t = contoso()
    t["site"] = slug
    assert problems(write(tmp_path, t)) == []


# -- the JSON Schema ---------------------------------------------------------------------------


def test_the_json_schema_is_generated_from_the_model() -> None:
    schema = json_schema()
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert set(schema["required"]) == {"site", "organization", "domains", "pools", "edge"}
    assert schema["additionalProperties"] is False  # unknown keys are flagged in editors too
    assert set(schema["properties"]) == set(Topology.model_fields)


# -- values that would inject lines or mislead (issue 17) -----------------------------------


@pytest.mark.parametrize(("block", "field", "key", "value"), [
    (">", "edge.servers[0].name", "    - name: edge01", "edge01"),
    ("|", "domains.internal", "  internal: contoso.local", "contoso.local"),
    ("|", "edge.fqdns.access", "    access: sip.contoso.com", "sip.contoso.com"),
    (">", "site", "site: contoso-hq", "contoso-hq"),
    ("|", "vault.product_key", "  product_key: contoso-hq/ocs/product-key",
     "contoso-hq/ocs/product-key"),
])
def test_a_block_scalar_with_its_final_line_break_is_refused(
        tmp_path: Path, block: str, field: str, key: str, value: str) -> None:
    """``name: >`` gives "edge01\\n": it would start a new line in the zone file, the certreq
    INF and the PowerShell export, so it is refused, not trimmed."""
    text = (ROOT / "inputs" / "contoso.yaml").read_text(encoding="utf-8")
    indent = len(key) - len(key.lstrip())
    head = key.split(":")[0]
    text = text.replace(key, f"{head}: {block}\n{' ' * (indent + 4)}{value}", 1)
    p, path = schema_problem(tmp_path, text, field)
    line, col = where(path, f"{head}: {block}\n")
    assert (p.line, p.col) == (line, col + len(head) + 2)  # at the block indicator
    if field == "vault.product_key":  # a vault entry is never echoed: it could be a secret
        assert p.message.startswith("this does not look like the name of a vault entry")
    else:
        assert p.message.startswith(f"'{value}\\n' ")  # the line break shown as an escape
        assert p.message.endswith("(it has white space or a line break at its start or end: a "
                                  "block scalar, '|' or '>', adds a line break; write the value "
                                  "on the key's line)")


@pytest.mark.parametrize("field", ["pools[0].fqdn", "next_hop", "edge.fqdns.av"])
def test_an_ip_address_is_not_a_dns_name(tmp_path: Path, field: str) -> None:
    t = contoso()
    if field == "pools[0].fqdn":
        t["pools"][0]["fqdn"] = "10.0.0.5"
    elif field == "next_hop":
        t["next_hop"] = "10.0.0.5"
    else:
        t["edge"]["fqdns"]["av"] = "10.0.0.5"
    p, path = schema_problem(tmp_path, t, field)
    assert (p.line, p.col) == where(path, "10.0.0.5")
    assert p.message == ("'10.0.0.5' is an IP address, not a DNS name: write the host's fully "
                         "qualified name (an address of a pool goes under ip:)")


def test_a_name_ending_in_an_all_digit_label_is_refused(tmp_path: Path) -> None:
    t = contoso()
    t["pools"][0]["fqdn"] = "pool01.10"
    p, _ = schema_problem(tmp_path, t, "pools[0].fqdn")
    assert p.message == ("'pool01.10' is not a valid DNS name: its last label '10' is all "
                         "digits, which no top-level domain is (RFC 3696): write the name, not "
                         "an address")


def test_one_trailing_dot_is_the_absolute_form_two_are_an_empty_label(tmp_path: Path) -> None:
    t = contoso()
    t["edge"]["fqdns"]["access"] = "sip.contoso.com."
    assert Topology.model_validate(t).edge.fqdns.access == "sip.contoso.com"
    t["edge"]["fqdns"]["access"] = "sip.contoso.com.."
    p, _ = schema_problem(tmp_path, t, "edge.fqdns.access")
    assert p.message == ("'sip.contoso.com..' is not a valid DNS name: it has an empty label "
                         "(two dots in a row, or a dot at the start); write one dot between "
                         "labels")


@pytest.mark.parametrize("slug", ["contoso-", "contoso-hq ", " contoso-hq"])
def test_a_slug_ending_in_a_hyphen_or_with_white_space_is_refused(tmp_path: Path,
                                                                  slug: str) -> None:
    t = contoso()
    t["site"] = slug
    p, _ = schema_problem(tmp_path, t, "site")
    assert p.message.startswith(f"'{slug}' is not a valid site slug: use 1-63 lower-case")


@pytest.mark.parametrize("slug", ["con", "nul", "aux", "prn", "com1", "lpt9"])
def test_a_windows_device_name_is_not_a_slug(tmp_path: Path, slug: str) -> None:
    t = contoso()
    t["site"] = slug
    p, _ = schema_problem(tmp_path, t, "site")
    assert p.message == (f"'{slug}' cannot be a site slug: the slug names the site's files, "
                         "and Windows reserves this name for a device; pick another")


@pytest.mark.parametrize("value", ["   ", "\u200b\u200b", "\ufeff", "\u3000", " \u200d "])
def test_an_organization_of_only_spaces_or_invisible_characters_is_blank(
        tmp_path: Path, value: str) -> None:
    t = contoso()
    t["organization"] = value
    p, _ = schema_problem(tmp_path, t, "organization")
    assert p.message == ("is blank: it holds only spaces or invisible (zero-width) characters; "
                         "write the text, or remove the key")


def test_line_breaks_in_text_are_data_and_blank_paragraphs_are_refused(tmp_path: Path) -> None:
    """Text may hold line breaks (each output writes them its own way); only names, zones,
    slugs and vault entries refuse them. A business reason of white space alone is blank."""
    t = contoso()
    t["title"] = "Contoso\nHQ"
    t["change"]["business_reason"] = "First paragraph.\n\nSecond one."
    topology = Topology.model_validate(t)
    assert (topology.title, topology.change.business_reason) == (  # type: ignore[union-attr]
        "Contoso\nHQ", "First paragraph.\n\nSecond one.")
    t["change"]["business_reason"] = "\n\n \t"
    p, _ = schema_problem(tmp_path, t, "change.business_reason")
    assert p.message.startswith("is blank")


def test_text_in_any_script_with_combining_marks_is_not_blank() -> None:
    t = contoso()
    t["organization"] = "Société Générale \u0915\u093f \u4e2d\u6587"
    assert Topology.model_validate(t).organization == t["organization"]
