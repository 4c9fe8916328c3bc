"""Exports are importable by the tools of the teams that receive them.

CSV files are read back with the csv module, the zone fragment with dnspython, and each
OpenSSL config makes a real certificate request with ``openssl req`` whose names are read
back from the request itself.
"""

from __future__ import annotations

import csv
import io
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import dns.name
import dns.rdatatype
import dns.zone
import dns.zonefile
import pytest
from click.testing import CliRunner

from runbook.cli import main
from runbook.outputs.exports import (
    ADDRESS_COLUMNS,
    DNS_COLUMNS,
    FIREWALL_COLUMNS,
    MAX_STEM,
    ExportError,
    csv_cell,
    export_files,
    file_stem,
    produce,
    ps_quote,
    write_exports,
)
from runbook.plan.sites import Site, load_sites, plan_file
from tests.topo import INPUTS, contoso, write

EXAMPLES = ["contoso", "fabrikam-lb"]
EKU_TEXT = {"Server Authentication": "TLS Web Server Authentication",
            "Client Authentication": "TLS Web Client Authentication"}
EKU_OID = {"Server Authentication": "1.3.6.1.5.5.7.3.1",
           "Client Authentication": "1.3.6.1.5.5.7.3.2"}
OPENSSL = shutil.which("openssl")


def plan_of(name: str) -> dict[str, Any]:
    return plan_file(INPUTS / f"{name}.yaml").to_dict()


@pytest.fixture(scope="module", params=EXAMPLES)
def example(request: pytest.FixtureRequest) -> tuple[dict[str, Any], dict[str, bytes]]:
    """(plan, exports) of one example topology."""
    plan = plan_of(request.param)
    return plan, export_files(plan)


def read_csv(content: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(content.decode("utf-8"), newline="")))


def as_cells(row: dict[str, Any], columns: list[str]) -> dict[str, str]:
    return {c: "" if row[c] is None else str(row[c]) for c in columns}


# -- CSV -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "part", "columns"), [
    ("addressing.csv", "addresses", ADDRESS_COLUMNS),
    ("dns-records.csv", "dns", DNS_COLUMNS),
    ("firewall-rules.csv", "firewall", FIREWALL_COLUMNS),
])
def test_each_csv_row_is_a_plan_row(example: tuple[dict[str, Any], dict[str, bytes]],
                                    name: str, part: str, columns: list[str]) -> None:
    plan, files = example
    content = files[name]
    header = next(csv.reader(io.StringIO(content.decode("utf-8"))))
    assert header == columns
    assert read_csv(content) == [as_cells(r, columns) for r in plan[part]]
    assert len(plan[part]) > 0


def test_csv_files_are_utf8_with_lf_and_no_bom(
        example: tuple[dict[str, Any], dict[str, bytes]]) -> None:
    _, files = example
    for name in ("addressing.csv", "dns-records.csv", "firewall-rules.csv"):
        content = files[name]
        assert not content.startswith(b"\xef\xbb\xbf")
        assert b"\r" not in content
        assert content.endswith(b"\n")
        content.decode("utf-8")


def test_csv_cells_a_spreadsheet_would_run_get_a_quote_prefix(tmp_path: Path) -> None:
    data = contoso()
    data["edge"]["servers"][0]["nics"]["internal"]["name"] = '=HYPERLINK("http://x","y")'
    data["edge"]["servers"][0]["nics"]["access"]["name"] = "@SUM(A1)"
    data["edge"]["servers"][0]["nics"]["webconf"]["name"] = "+1, \"quoted\"\nnext line"
    data["edge"]["servers"][0]["nics"]["av"]["name"] = "-2"
    plan = plan_file(write(tmp_path, data)).to_dict()
    rows = read_csv(export_files(plan)["addressing.csv"])
    assert [r["nic_name"] for r in rows] == ["'=HYPERLINK(\"http://x\",\"y\")", "'@SUM(A1)",
                                             "'+1, \"quoted\"\nnext line", "'-2"]
    assert [r["ip"] for r in rows] == ["10.0.0.10", "172.16.0.10", "172.16.0.11",
                                       "198.51.100.12"]


def test_csv_cell_leaves_ordinary_values_alone() -> None:
    assert csv_cell("50000-59999") == "50000-59999"
    assert csv_cell("Internet (any)") == "Internet (any)"
    assert csv_cell(None) == ""
    assert csv_cell(443) == "443"
    assert csv_cell("\tcmd") == "'\tcmd"


# -- DNS: BIND fragment ------------------------------------------------------------------------


def zone_blocks(text: str) -> dict[str, str]:
    """The fragment cut at each $ORIGIN line: zone -> its records."""
    blocks: dict[str, str] = {}
    current = None
    for line in text.splitlines():
        m = re.match(r"\$ORIGIN\s+(\S+)$", line)
        if m:
            current = m.group(1)
            assert current not in blocks, f"two $ORIGIN blocks for {current}"
            blocks[current] = ""
        elif current is not None:
            blocks[current] += line + "\n"
        else:
            assert line == "" or line.startswith(";"), f"record before any $ORIGIN: {line}"
    return blocks


def test_public_zone_fragment_parses_and_holds_every_public_record(
        example: tuple[dict[str, Any], dict[str, bytes]]) -> None:
    plan, files = example
    text = files["dns-public.zone"].decode("utf-8")
    public = [r for r in plan["dns"] if r["scope"] == "external"]
    blocks = zone_blocks(text)
    assert set(blocks) == {r["zone"] + "." for r in public}
    found = 0
    for origin, body in blocks.items():
        zone = dns.zone.from_text(f"$ORIGIN {origin}\n{body}", origin=origin,
                                  relativize=False, check_origin=False)
        mine = [r for r in public if r["zone"] + "." == origin]
        for rec in mine:
            node = zone.get_node(rec["name"] + ".")
            assert node is not None, rec["name"]
            rdataset = node.get_rdataset(zone.rdclass, dns.rdatatype.from_text(rec["type"]))
            assert rdataset is not None, f"{rec['name']} {rec['type']}"
            assert rdataset.ttl == 3600
            if rec["type"] == "A":
                assert {r.address for r in rdataset} >= {rec["value"]}
            else:
                assert (rec["priority"], rec["weight"], rec["port"], rec["value"] + ".") in {
                    (r.priority, r.weight, r.port, r.target.to_text()) for r in rdataset}
        found += sum(len(rds) for _, rds in zone.iterate_rdatasets())
    assert found == len(public)  # nothing more than the plan's records


def test_public_zone_names_are_absolute_and_internal_records_stay_out() -> None:
    plan = plan_of("contoso")
    text = export_files(plan)["dns-public.zone"].decode("utf-8")
    records = [ln for ln in text.splitlines() if ln and not ln.startswith((";", "$"))]
    assert records and all(ln.split()[0].endswith(".") for ln in records)
    assert "edge01.contoso.local" not in text
    assert "_sip._tls.contoso.com.  " in text or "_sip._tls.contoso.com. " in text
    assert plan["meta"]["provenance"] in text


# -- DNS: PowerShell for the AD zone --------------------------------------------------------------


def test_internal_script_adds_every_internal_record_and_nothing_else(
        example: tuple[dict[str, Any], dict[str, bytes]]) -> None:
    plan, files = example
    content = files["dns-internal.ps1"]
    assert content.startswith(b"\xef\xbb\xbf")  # Windows PowerShell 5.1 needs it for UTF-8
    text = content.decode("utf-8-sig")
    calls = [ln for ln in text.splitlines() if ln.startswith("Add-EdgeARecord ")]
    expected = []
    for r in plan["dns"]:
        if r["scope"] != "internal":
            continue
        host = r["name"][: -len(r["zone"]) - 1]
        expected.append(f"Add-EdgeARecord -Zone '{r['zone']}' -Name '{host}' "
                        f"-Address '{r['value']}'")
        assert (f"# dnscmd alternative (Windows Server 2003/2008): dnscmd . /recordadd "
                f"{r['zone']} {host} A {r['value']}") in text
    assert calls == expected
    assert "Add-DnsServerResourceRecordA -ComputerName $ComputerName" in text
    assert plan["meta"]["provenance"] in text
    public_only = {r["name"] for r in plan["dns"] if r["scope"] == "external"}
    assert not any(f"'{n}'" in text for n in public_only)


def test_powershell_quoting_doubles_every_kind_of_single_quote() -> None:
    assert ps_quote("contoso.local") == "'contoso.local'"
    assert ps_quote("O'Brien $env:x") == "'O''Brien $env:x'"
    assert ps_quote("a\u2019b") == "'a\u2019\u2019b'"


def test_a_line_break_in_a_value_cannot_escape_a_comment(tmp_path: Path) -> None:
    data = contoso()
    data["title"] = "Contoso\nRemove-Item C:\\ -Recurse\n$ORIGIN evil.example."
    files = export_files(plan_file(write(tmp_path, data)))
    ps1 = files["dns-internal.ps1"].decode("utf-8-sig")
    zone = files["dns-public.zone"].decode("utf-8")
    assert not any(ln.startswith("Remove-Item") for ln in ps1.splitlines())
    assert "# Internal DNS records for Contoso Remove-Item C:\\ -Recurse $ORIGIN" in ps1
    assert not any(ln.startswith("$ORIGIN evil") for ln in zone.splitlines())


# -- certificate requests --------------------------------------------------------------------------


def openssl_request(cnf: Path, key_size: int, tmp_path: Path) -> str:
    """Make a real CSR from ``cnf`` and return ``openssl req -text`` of it."""
    assert OPENSSL, "openssl is not installed"
    csr, key = tmp_path / f"{cnf.stem}.csr", tmp_path / f"{cnf.stem}.key"
    subprocess.run([OPENSSL, "req", "-new", "-config", str(cnf), "-newkey",
                    f"rsa:{key_size}", "-nodes", "-keyout", str(key), "-out", str(csr)],
                   check=True, capture_output=True, timeout=60)
    subprocess.run([OPENSSL, "req", "-in", str(csr), "-noout", "-verify"], check=True,
                   capture_output=True, timeout=60)
    return subprocess.run([OPENSSL, "req", "-in", str(csr), "-noout", "-text", "-nameopt",
                           "RFC2253"], check=True, capture_output=True, text=True,
                          timeout=60).stdout


def field_after(text: str, heading: str) -> str:
    lines = text.splitlines()
    for i, ln in enumerate(lines):
        if ln.strip().startswith(heading):
            return lines[i + 1].strip()
    raise AssertionError(f"{heading} not in the request")


@pytest.mark.parametrize("name", EXAMPLES)
def test_openssl_config_makes_a_request_with_the_planned_names(name: str,
                                                               tmp_path: Path) -> None:
    plan = plan_of(name)
    write_exports(plan, tmp_path / "out")
    assert plan["certificates"]
    for cert in plan["certificates"]:
        cnf = tmp_path / "out" / "certificates" / f"{cert['id']}.cnf"
        text = openssl_request(cnf, cert["key_size"], tmp_path)
        subject = re.search(r"Subject: (.*)", text)
        assert subject is not None
        assert subject.group(1).strip() == (f"O={plan['meta']['organization']},"
                                            f"CN={cert['subject_cn']}")
        sans = field_after(text, "X509v3 Subject Alternative Name")
        assert sans == ", ".join(f"DNS:{s}" for s in cert["sans"])
        ekus = field_after(text, "X509v3 Extended Key Usage")
        assert ekus == ", ".join(EKU_TEXT[e] for e in cert["eku"])
        assert f"Public-Key: ({cert['key_size']} bit)" in text


def parse_inf(text: str) -> dict[str, list[tuple[str, str]]]:
    """Sections of an INF file as (key, value) pairs, comments dropped."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(";"):
            continue
        if line.startswith("["):
            current = line.strip("[]")
            sections[current] = []
            continue
        key, _, value = line.partition("=")
        value = value.split(" ;")[0].strip()
        sections[current].append((key.strip(), value))
    return sections


@pytest.mark.parametrize("name", EXAMPLES)
def test_certreq_inf_has_subject_sans_eku_and_exportability(name: str) -> None:
    plan = plan_of(name)
    files = export_files(plan)
    for cert in plan["certificates"]:
        inf = parse_inf(files[f"certificates/{cert['id']}.inf"].decode("utf-8"))
        req = dict(inf["NewRequest"])
        org = plan["meta"]["organization"]
        assert req["Subject"] == f'"CN={cert["subject_cn"]}, O={org}"'
        assert req["Exportable"] == ("TRUE" if cert["exportable_key"] else "FALSE")
        assert req["KeyLength"] == str(cert["key_size"])
        assert req["MachineKeySet"] == "TRUE"
        assert req["RequestType"] == "PKCS10"
        assert [v for _, v in inf["EnhancedKeyUsageExtension"]] == [EKU_OID[e]
                                                                    for e in cert["eku"]]
        assert dict(inf["Extensions"])["2.5.29.17"] == (
            '"{text}' + "&".join(f"dns={s}" for s in cert["sans"]) + '"')


def test_fabrikam_shared_certificates_are_exportable_and_contoso_ones_are_not() -> None:
    fab = export_files(plan_of("fabrikam-lb"))
    con = export_files(plan_of("contoso"))
    fab_inf = [v for k, v in fab.items() if k.endswith(".inf")]
    con_inf = [v for k, v in con.items() if k.endswith(".inf")]
    # Every edge certificate is shared behind the load balancer; the reverse proxy's listener
    # certificate stays on the one ISA server.
    assert fab["certificates/reverse-proxy.inf"] in fab_inf
    fab_inf.remove(fab["certificates/reverse-proxy.inf"])
    assert b"\nExportable = FALSE\n" in fab["certificates/reverse-proxy.inf"]
    assert fab_inf and all(b"\nExportable = TRUE\n" in v for v in fab_inf)
    assert con_inf and all(b"\nExportable = FALSE\n" in v for v in con_inf)


def test_awkward_organization_survives_both_request_formats(tmp_path: Path) -> None:
    org = 'Contoso "R&D", $HOME #1 \\ O\'Neil'
    data = contoso()
    data["organization"] = org
    plan = plan_file(write(tmp_path, data)).to_dict()
    write_exports(plan, tmp_path / "out")
    cert = plan["certificates"][0]
    cnf = tmp_path / "out" / "certificates" / f"{cert['id']}.cnf"
    subprocess.run([OPENSSL or "openssl", "req", "-new", "-config", str(cnf), "-newkey",
                    "rsa:2048", "-nodes", "-keyout", str(tmp_path / "k"), "-out",
                    str(tmp_path / "r.csr")], check=True, capture_output=True, timeout=60)
    subject = subprocess.run([OPENSSL or "openssl", "req", "-in", str(tmp_path / "r.csr"),
                              "-noout", "-subject", "-nameopt", "sep_multiline,utf8"],
                             check=True, capture_output=True, text=True).stdout
    assert f"    O={org}\n" in subject
    inf = (tmp_path / "out" / "certificates" / f"{cert['id']}.inf").read_text("utf-8")
    # CryptoAPI quotes the value and doubles its quotes; the INF string doubles them again.
    assert 'Subject = "CN=edge01.contoso.local, O=""Contoso """"R&D"""", $HOME #1 \\ ' \
           'O\'Neil"""\n' in inf


# -- the folder, the producer, the command -------------------------------------------------------


def test_every_file_states_its_provenance_or_the_readme_does(
        example: tuple[dict[str, Any], dict[str, bytes]]) -> None:
    plan, files = example
    line = plan["meta"]["provenance"].encode()
    for name, content in files.items():
        if name.endswith(".csv"):
            assert line not in content  # CSV stays clean; README.txt carries it
            assert name.encode() in files["README.txt"]
        else:
            assert line in content, name


def test_exports_are_the_same_bytes_every_time() -> None:
    assert export_files(plan_of("fabrikam-lb")) == export_files(plan_of("fabrikam-lb"))


def test_produce_writes_the_contract_paths_for_every_site(tmp_path: Path) -> None:
    sites: list[Site] = load_sites([INPUTS / "contoso.yaml", INPUTS / "fabrikam-lb.yaml"])
    out = produce(sites, tmp_path)
    for site in sites:
        base = f"sites/{site.slug}/exports/"
        for name in ("addressing.csv", "dns-records.csv", "dns-internal.ps1",
                     "dns-public.zone", "firewall-rules.csv"):
            assert base + name in out
        for cert in site.plan.certificates:
            assert base + f"certificates/{cert.id}.inf" in out
            assert base + f"certificates/{cert.id}.cnf" in out
    assert all(isinstance(v, bytes) for v in out.values())
    assert not list(tmp_path.iterdir())  # the build's cache folder is left alone


def test_export_command_writes_the_folder(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["export", str(INPUTS / "contoso.yaml"), "-o",
                                       str(tmp_path / "x")])
    assert result.exit_code == 0, result.output
    # 5 tables and scripts + README, then an INF and an OpenSSL config for each of the 4
    # certificates (3 on the edge, 1 on the reverse proxy's listener): 14.
    assert result.output == f"wrote 14 file(s) to {tmp_path / 'x'}\n"
    assert (tmp_path / "x" / "certificates" / "av-auth.cnf").is_file()
    assert (tmp_path / "x" / "dns-records.csv").read_bytes() == export_files(
        plan_of("contoso"))["dns-records.csv"]


def test_export_into_a_file_is_a_one_line_error(tmp_path: Path) -> None:
    blocker = tmp_path / "taken"
    blocker.write_text("x")
    with pytest.raises(ExportError):
        write_exports(plan_of("contoso"), blocker)
    result = CliRunner().invoke(main, ["export", str(INPUTS / "contoso.yaml"), "-o",
                                       str(blocker / "sub")])
    assert result.exit_code == 1
    assert result.output.startswith("cannot write exports to ")
    assert "Traceback" not in result.output


# -- hostile values: what reaches an exporter stays one value of its format --------------------

# OWASP's formula starts (= + - @, tab, CR), line feed and NUL, the full-width forms, and the
# same after leading spaces, which a spreadsheet may trim before it looks for a formula.
FORMULA_STARTS = ["=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1", "\n=1", "\0=1",
                  "\uff1d1+1", "\uff0b1", "\uff0d1", "\uff20SUM(A1)", "  =1", "\u00a0=1",
                  '=cmd|" /C calc"!A0']


@pytest.mark.parametrize("value", FORMULA_STARTS)
def test_a_csv_cell_that_would_start_a_formula_is_shown_as_text(value: str) -> None:
    plan = plan_of("contoso")
    plan["addresses"][1]["nic_name"] = value
    rows = read_csv(export_files(plan)["addressing.csv"])
    assert len(rows) == len(plan["addresses"])
    assert rows[1]["nic_name"] == "'" + value
    assert rows[1]["ip"] == plan["addresses"][1]["ip"]


@pytest.mark.parametrize("value", ["a\rb", "a\r\nb", "a\nb", "a\n=1+1", "a,b", 'a"b',
                                   "a;=1+1", "a\t=1+1"])
def test_a_line_break_or_separator_in_a_csv_value_stays_inside_its_cell(value: str) -> None:
    plan = plan_of("contoso")
    plan["firewall"][0]["purpose"] = value
    content = export_files(plan)["firewall-rules.csv"]
    rows = read_csv(content)
    assert len(rows) == len(plan["firewall"])
    assert rows[0]["purpose"] == value
    assert rows[0]["role"] == as_cells(plan["firewall"][0], FIREWALL_COLUMNS)["role"]
    # Quoted, so a spreadsheet with another list separator (; or tab) keeps it one cell too.
    assert b'"' + value.replace('"', '""').encode() + b'"' in content


def test_formula_starts_from_a_topology_file_are_neutralised(tmp_path: Path) -> None:
    data = contoso()
    data["edge"]["servers"][0]["nics"]["internal"]["name"] = " =HYPERLINK(\"http://x\")"
    data["edge"]["servers"][0]["nics"]["access"]["name"] = "\uff1dSUM(A1)"
    rows = read_csv(export_files(plan_file(write(tmp_path, data)))["addressing.csv"])
    assert [r["nic_name"] for r in rows[:2]] == ["' =HYPERLINK(\"http://x\")", "'\uff1dSUM(A1)"]


HOSTILE_NAMES = [
    "www\n$ORIGIN attacker.example.\nevil.contoso.com",
    "a b;comment.contoso.com",
    'x"(y)\\z.contoso.com',
    "@.contoso.com",
    "$INCLUDE.contoso.com",
    "\u00fcn\u00efcode.contoso.com",
    "tab\there.contoso.com",
]


def _public(name: str, kind: str = "A", value: str = "198.51.100.99") -> dict[str, Any]:
    return {"zone": "contoso.com", "scope": "external", "name": name, "type": kind,
            "value": value, "port": None, "priority": None, "weight": None,
            "purpose": "hostile\n$ORIGIN evil.", "added_by": "x", "reason": ""}


def test_hostile_names_in_the_zone_fragment_stay_one_owner_name_each() -> None:
    plan = plan_of("contoso")
    plan["dns"] = [_public(n) for n in HOSTILE_NAMES]
    plan["dns"].append(_public("cn.contoso.com", "CNAME", "target\nevil 60 IN A 1.2.3.4"))
    plan["dns"].append(_public("txt.contoso.com", "TXT", 'v=1 "quoted" \\ \n$ORIGIN x.'))
    text = export_files(plan)["dns-public.zone"].decode("utf-8")
    injected = ("$ORIGIN attacker", "$INCLUDE", "$ORIGIN evil", "$ORIGIN x", "evil")
    assert not any(ln.startswith(injected) for ln in text.splitlines())
    lines = text.splitlines()
    assert [ln for ln in lines if ln.startswith("$")] == ["$ORIGIN contoso.com."]
    body = "\n".join(ln for ln in lines if not ln.startswith("$"))  # the names are absolute
    rrsets = dns.zonefile.read_rrsets(body, origin="contoso.com.", relativize=False,
                                      rdclass=None)
    assert len(rrsets) == len(plan["dns"])  # no record more, none less

    def as_name(text: str) -> dns.name.Name:
        return dns.name.Name([label.encode() for label in text.split(".")] + [b""])

    owners = [r.name for r in rrsets]
    assert owners == [as_name(n) for n in [*HOSTILE_NAMES, "cn.contoso.com", "txt.contoso.com"]]
    assert {r.address for r in rrsets[0]} == {"198.51.100.99"}
    assert rrsets[-2][0].target == as_name("target\nevil 60 IN A 1.2.3.4")
    assert rrsets[-1][0].strings == (b'v=1 "quoted" \\ \n$ORIGIN x.',)


@pytest.mark.parametrize(("kind", "value"), [("A", "1.2.3.4\nevil IN A 5.6.7.8"),
                                             ("A", "2001:db8::1"), ("AAAA", "1.2.3.4"),
                                             ("MX", "10 mail")])
def test_a_zone_record_the_format_cannot_hold_is_refused(kind: str, value: str) -> None:
    plan = plan_of("contoso")
    plan["dns"] = [_public("x.contoso.com", kind, value)]
    with pytest.raises(ExportError, match=r"^dns-public\.zone: ") as failed:
        export_files(plan)
    assert "\n" not in str(failed.value)


def test_powershell_keeps_a_hostile_name_inside_its_string_literal() -> None:
    plan = plan_of("contoso")
    rec = next(r for r in plan["dns"] if r["scope"] == "internal" and r["type"] == "A")
    rec["name"] = "x'; Remove-Item C:\\ -Recurse; '\u2019\n$(calc).contoso.local"
    rec["zone"] = "contoso.local"
    text = export_files(plan)["dns-internal.ps1"].decode("utf-8-sig")
    call = next(ln for ln in text.splitlines() if ln.startswith("Add-EdgeARecord "))
    assert call == ("Add-EdgeARecord -Zone 'contoso.local' -Name 'x''; Remove-Item C:\\ "
                    "-Recurse; ''\u2019\u2019")
    # The line break stays inside the single-quoted string (PowerShell allows it there): the
    # next line closes that string, then the call ends. Nothing runs outside a literal.
    rest = text.splitlines()[text.splitlines().index(call) + 1]
    assert rest == f"$(calc)' -Address '{rec['value']}'"
    assert not any(ln.startswith(("Remove-Item", "$(calc)")) for ln in text.splitlines()
                   if not ln.startswith("$(calc)' -Address"))


def test_powershell_record_numbers_are_numbers() -> None:
    plan = plan_of("contoso")
    srv = {"zone": "contoso.local", "scope": "internal", "name": "_sip._tls.contoso.local",
           "type": "SRV", "value": "sip.contoso.local", "port": "5061; calc", "priority": 0,
           "weight": 0, "purpose": "x", "added_by": "x", "reason": ""}
    plan["dns"] = [srv]
    with pytest.raises(ValueError):
        export_files(plan)


@pytest.mark.parametrize("san", ["sip.contoso.com&ipaddress=10.0.0.1",
                                 "sip.contoso.com\n[Extensions]", 'sip"contoso.com',
                                 "sip contoso.com", "sip.contoso.com\r"])
def test_a_certificate_name_a_request_cannot_carry_is_refused(san: str) -> None:
    plan = plan_of("contoso")
    plan["certificates"][0]["sans"].append(san)
    with pytest.raises(ExportError, match="is not a DNS name") as failed:
        export_files(plan)
    assert "\n" not in str(failed.value) and "\r" not in str(failed.value)
    plan = plan_of("contoso")
    plan["certificates"][0]["subject_cn"] = san
    with pytest.raises(ExportError, match="subject CN"):
        export_files(plan)


def test_a_hostile_organization_cannot_add_lines_to_either_request(tmp_path: Path) -> None:
    plan = plan_of("contoso")
    plan["meta"]["organization"] = "Contoso\n[Extensions]\n2.5.29.17 = \"{text}dns=evil.example\""
    files = export_files(plan)
    cert = plan["certificates"][0]
    inf = files[f"certificates/{cert['id']}.inf"].decode("utf-8")
    sections = parse_inf(inf)
    assert [v for k, v in sections["Extensions"] if k == "2.5.29.17"] == [
        '"{text}' + "&".join(f"dns={s}" for s in cert["sans"]) + '"']
    cnf = tmp_path / "r.cnf"
    cnf.write_bytes(files[f"certificates/{cert['id']}.cnf"])
    text = openssl_request(cnf, 2048, tmp_path)
    assert "evil.example" not in field_after(text, "X509v3 Subject Alternative Name")
    # One line, the quotes kept (RFC 2253 output escapes them with a backslash).
    assert 'Subject: O=Contoso [Extensions] 2.5.29.17 = \\"{text}dns=evil.example\\",' in text


# -- file names -----------------------------------------------------------------------------------


def _long_fqdn(tail: str = ".contoso.com", length: int = 253) -> str:
    """A valid FQDN of ``length`` characters: labels of at most 63 ending in ``tail``."""
    labels: list[str] = []
    room = length - len(tail)
    while room > 0:
        size = min(63, room - (1 if labels else 0))
        room -= size + (1 if labels else 0)
        labels.append(chr(ord("a") + len(labels)) * size)
    name = ".".join(labels) + tail
    assert len(name) == length
    return name


def test_a_253_character_access_edge_fqdn_exports_with_bounded_file_names(
        tmp_path: Path) -> None:
    data = contoso()
    data["edge"]["fqdns"]["access"] = _long_fqdn()
    path = write(tmp_path, data)
    result = CliRunner().invoke(main, ["export", str(path), "-o", str(tmp_path / "x")])
    assert result.exit_code == 0, result.output
    names = [p.name for p in (tmp_path / "x").rglob("*")]
    assert max(len(n) for n in names) <= MAX_STEM + len(".inf")
    long_cert = next(c for c in plan_file(path).to_dict()["certificates"]
                     if c["subject_cn"] == _long_fqdn())
    stem = file_stem(long_cert["id"])
    assert len(stem) == MAX_STEM and stem.startswith("external-aaaa")
    inf = (tmp_path / "x" / "certificates" / f"{stem}.inf").read_text("utf-8")
    assert f"certreq -new {stem}.inf {stem}.req" in inf
    assert f"dns={_long_fqdn()}" in inf


def test_long_file_stems_are_stable_and_distinct() -> None:
    one, two = "external-" + "a" * 240, "external-" + "a" * 239 + "b"
    assert file_stem(one) == file_stem(one)
    assert file_stem(one) != file_stem(two)
    assert len(file_stem(one)) == len(file_stem(two)) == MAX_STEM
    assert file_stem("external-sip-contoso-com") == "external-sip-contoso-com"


def test_a_253_character_access_edge_fqdn_builds(tmp_path: Path) -> None:
    import shutil

    from tests.topo import ROOT

    project = tmp_path / "project"
    (project / "inputs").mkdir(parents=True)
    data = contoso()
    data["edge"]["fqdns"]["access"] = _long_fqdn()
    write(project / "inputs", data, "contoso.yaml")
    shutil.copy(ROOT / "mkdocs.yml", project / "mkdocs.yml")
    for folder in ("docs", "overrides"):
        shutil.copytree(ROOT / folder, project / folder)
    result = CliRunner().invoke(main, ["build", "-q", "-f", str(project / "mkdocs.yml"), "-o",
                                       str(project / "site"), str(project / "inputs")])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    files = list((project / "site").rglob("*"))
    assert max(len(p.name.encode()) for p in files) <= 255
    certs = project / "site" / "sites" / "contoso-hq" / "exports" / "certificates"
    assert any(_long_fqdn() in p.read_text("utf-8") for p in certs.glob("*.inf"))
