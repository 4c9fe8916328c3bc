"""Files other teams import: DNS records, firewall rules, addresses and certificate requests.

Everything is written from the plan (``plan["dns"]``, ``["firewall"]``, ``["addresses"]``,
``["certificates"]``, ``["meta"]``), deterministically, with the same provenance line as the
pages. These are machine formats, so they are built in code rather than from templates: a
template override could only break their syntax.

Per site, under ``sites/<slug>/exports/``:

- ``addressing.csv``, ``dns-records.csv``, ``firewall-rules.csv``: one header row, then one
  row per plan row, columns named like the plan's fields. No comment line (importers choke
  on it); ``README.txt`` beside them carries the provenance.
- ``dns-internal.ps1``: DnsServer cmdlets for the AD zone (re-runnable, ``-WhatIf`` aware).
- ``dns-public.zone``: a BIND zone-file fragment, one ``$ORIGIN`` block per public zone.
- ``certificates/<id>.inf`` (Windows ``certreq``) and ``certificates/<id>.cnf`` (OpenSSL).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runbook.errors import RunbookError

if TYPE_CHECKING:
    from runbook.plan.derive import Plan
    from runbook.plan.sites import Site

EKU_OIDS = {
    "Server Authentication": ("1.3.6.1.5.5.7.3.1", "serverAuth"),
    "Client Authentication": ("1.3.6.1.5.5.7.3.2", "clientAuth"),
}
ZONE_TTL = 3600
ADDRESS_COLUMNS = ["server", "nic", "nic_name", "role", "role_name", "ip", "prefix", "netmask",
                   "gateway", "public_ip", "fqdn", "dns_address"]
DNS_COLUMNS = ["zone", "scope", "name", "type", "value", "port", "priority", "weight",
               "purpose", "added_by"]
FIREWALL_COLUMNS = ["id", "firewall", "direction", "source", "destination", "protocol",
                    "ports", "purpose", "role"]
# A spreadsheet evaluates a cell starting with one of these as a formula (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# PowerShell ends a single-quoted string at any of these, not only at the ASCII quote.
_PS_QUOTES = "'\u2018\u2019\u201a\u201b"
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


class ExportError(RunbookError):
    """The plan holds something an export format cannot express."""


# -- small helpers -----------------------------------------------------------------------


def one_line(value: object) -> str:
    """``value`` as text fit for a comment: control characters and line breaks become spaces.

    A line break inside a topology value would otherwise end the comment and turn the rest
    of the value into code (PowerShell) or records (zone file).
    """
    text = "" if value is None else str(value)
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())


def csv_cell(value: object) -> str:
    """One CSV cell: empty for None, and a leading ``'`` when a spreadsheet would run it."""
    text = "" if value is None else str(value)
    if text.startswith(_FORMULA_START):
        return "'" + text
    return text


def csv_text(columns: list[str], rows: Iterable[dict[str, Any]]) -> str:
    """A CSV table: header row, then ``columns`` of every row, ``\\n`` line endings."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([csv_cell(row.get(c)) for c in columns])
    return buf.getvalue()


def ps_quote(value: object) -> str:
    """A PowerShell single-quoted string literal (no variable expansion, quotes doubled)."""
    text = str(value)
    for q in _PS_QUOTES:
        text = text.replace(q, q + q)
    return f"'{text}'"


def relative_name(name: str, zone: str) -> str:
    """``name`` relative to ``zone`` (``@`` for the apex); absolute with a dot if outside."""
    name, zone = name.rstrip("."), zone.rstrip(".")
    if name.lower() == zone.lower():
        return "@"
    if name.lower().endswith("." + zone.lower()):
        return name[: -len(zone) - 1]
    return name + "."


def file_stem(cert_id: str) -> str:
    """A file name stem from a certificate id (ids come from FQDNs; be safe anyway)."""
    return _SAFE_NAME.sub("-", cert_id).strip(".-") or "certificate"


def _comment_block(prefix: str, lines: Iterable[str]) -> str:
    """Comment lines; a line's leading spaces are kept (indented commands)."""
    out = []
    for x in lines:
        indent = " " * (len(x) - len(x.lstrip(" ")))
        out.append(f"{prefix} {indent}{one_line(x)}".rstrip() + "\n")
    return "".join(out)


# -- CSV -----------------------------------------------------------------------------------


def addressing_csv(plan: dict[str, Any]) -> str:
    """Every NIC of every server: addresses, gateway, public address and DNS name."""
    return csv_text(ADDRESS_COLUMNS, plan["addresses"])


def dns_records_csv(plan: dict[str, Any]) -> str:
    """Every DNS record, internal and public, in plan order."""
    return csv_text(DNS_COLUMNS, plan["dns"])


def firewall_rules_csv(plan: dict[str, Any]) -> str:
    """Every firewall rule of both firewalls, in plan order."""
    return csv_text(FIREWALL_COLUMNS, plan["firewall"])


# -- DNS: PowerShell for the AD zone ----------------------------------------------------------

_PS_HELPER = """\
[CmdletBinding(SupportsShouldProcess = $true)]
param(
    # The DNS server holding the AD-integrated zone(s); default: this computer.
    [string]$ComputerName = $env:COMPUTERNAME
)
#Requires -Modules DnsServer
$ErrorActionPreference = 'Stop'

function Add-EdgeARecord {
    # Adds one A record unless it is already there; warns when the name holds another address.
    param([string]$Zone, [string]$Name, [string]$Address)
    $have = @(Get-DnsServerResourceRecord -ComputerName $ComputerName -ZoneName $Zone `
        -Name $Name -RRType A -ErrorAction SilentlyContinue |
        ForEach-Object { $_.RecordData.IPv4Address.IPAddressToString })
    if ($have -contains $Address) {
        Write-Host "present  $Name.$Zone A $Address"
        return
    }
    if ($have.Count -gt 0) {
        Write-Warning ("$Name.$Zone already has A $($have -join ', '); adding $Address " +
            'beside it. Remove the old address if it is stale.')
    }
    Add-DnsServerResourceRecordA -ComputerName $ComputerName -ZoneName $Zone -Name $Name `
        -IPv4Address $Address
    if (-not $WhatIfPreference) { Write-Host "added    $Name.$Zone A $Address" }
}
"""


def _ps_record(rec: dict[str, Any]) -> list[str]:
    zone, name = rec["zone"], relative_name(rec["name"], rec["zone"])
    kind = rec["type"].upper()
    args = f"-Zone {ps_quote(zone)} -Name {ps_quote(name)}"
    head = [f"# {one_line(rec['name'])} {kind} {one_line(rec['value'])}: "
            f"{one_line(rec['purpose'])}"]
    if kind == "A":
        return [*head, f"Add-EdgeARecord {args} -Address {ps_quote(rec['value'])}",
                f"# dnscmd alternative (Windows Server 2003/2008): dnscmd . /recordadd "
                f"{one_line(zone)} {one_line(name)} A {one_line(rec['value'])}"]
    common = (f"-ComputerName $ComputerName -ZoneName {ps_quote(zone)} "
              f"-Name {ps_quote(name)}")
    target = rec["value"].rstrip(".") + "."
    if kind == "CNAME":
        return [*head, f"Add-DnsServerResourceRecordCName {common} "
                f"-HostNameAlias {ps_quote(rec['value'])}",
                f"# dnscmd alternative: dnscmd . /recordadd {one_line(zone)} {one_line(name)} "
                f"CNAME {one_line(target)}"]
    if kind == "SRV":
        nums = (rec["priority"] or 0, rec["weight"] or 0, rec["port"])
        return [*head, f"Add-DnsServerResourceRecord -Srv {common} "
                f"-DomainName {ps_quote(rec['value'])} -Priority {nums[0]} -Weight {nums[1]} "
                f"-Port {nums[2]}",
                f"# dnscmd alternative: dnscmd . /recordadd {one_line(zone)} {one_line(name)} "
                f"SRV {nums[0]} {nums[1]} {nums[2]} {one_line(target)}"]
    raise ExportError(f"dns-internal.ps1: record type {kind} of {rec['name']} has no "
                      "DnsServer cmdlet mapping")


def dns_internal_ps1(plan: dict[str, Any]) -> str:
    """PowerShell adding the internal (AD zone) records with the DnsServer module."""
    meta = plan["meta"]
    records = [r for r in plan["dns"] if r["scope"] == "internal"]
    zones = list(dict.fromkeys(r["zone"] for r in records))
    out = _comment_block("#", [
        f"Internal DNS records for {meta['title']} (site {meta['site']})",
        meta["provenance"],
        "",
        "The edge servers are not domain members and the AD zone accepts secure dynamic",
        "updates only, so their A records are added by hand. Run this on a DNS server (or",
        "pass -ComputerName) as a member of DnsAdmins; -WhatIf shows what it would add.",
        "Re-running it is safe: records already present are left alone.",
        "Zones: " + (", ".join(zones) if zones else "none"),
    ])
    out += "\n" + _PS_HELPER
    if not records:
        out += "\n# This site has no internal DNS records.\n"
    for zone in zones:
        out += f"\n# ---- zone {one_line(zone)} ----\n"
        for rec in records:
            if rec["zone"] == zone:
                out += "\n".join(_ps_record(rec)) + "\n"
    return out


# -- DNS: BIND fragment for the public zones ---------------------------------------------------


def _zone_rdata(rec: dict[str, Any]) -> str:
    kind = rec["type"].upper()
    value = str(rec["value"])
    if kind in ("A", "AAAA"):
        return value
    if kind in ("CNAME", "NS", "PTR"):
        return value.rstrip(".") + "."
    if kind == "SRV":
        return (f"{rec['priority'] or 0} {rec['weight'] or 0} {rec['port']} "
                f"{value.rstrip('.')}.")
    if kind == "TXT":
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    raise ExportError(f"dns-public.zone: record type {kind} of {rec['name']} is not supported")


def dns_public_zone(plan: dict[str, Any]) -> str:
    """A BIND zone-file fragment with every public record, grouped by zone.

    Owner names and targets are absolute (trailing dot), so the records mean the same
    wherever they are pasted; each block still sets ``$ORIGIN`` to its zone.
    """
    meta = plan["meta"]
    records = [r for r in plan["dns"] if r["scope"] == "external"]
    zones = list(dict.fromkeys(r["zone"] for r in records))
    out = _comment_block(";", [
        f"Public DNS records for {meta['title']} (site {meta['site']})",
        meta["provenance"],
        "",
        "A fragment, not a whole zone: no SOA or NS records. Add each block's records to",
        "that zone (or $INCLUDE this file from it). Names are absolute; TTL "
        f"{ZONE_TTL} seconds.",
        "Zones: " + (", ".join(zones) if zones else "none"),
    ])
    if not records:
        out += ";\n; This site has no public DNS records.\n"
    for zone in zones:
        rows = []
        for rec in records:
            if rec["zone"] != zone:
                continue
            rows.append((rec["name"].rstrip(".") + ".", rec["type"].upper(), _zone_rdata(rec),
                         one_line(rec["purpose"])))
        width = max(len(r[0]) for r in rows)
        out += f"\n$ORIGIN {zone.rstrip('.')}.\n"
        for owner, kind, rdata, purpose in rows:
            out += f"; {purpose}\n" if purpose else ""
            out += f"{owner:<{width}}  {ZONE_TTL} IN {kind:<5} {rdata}\n"
    return out


# -- certificate requests -----------------------------------------------------------------------


def _ekus(cert: dict[str, Any]) -> list[tuple[str, str, str]]:
    out = []
    for name in cert["eku"]:
        if name not in EKU_OIDS:
            raise ExportError(f"certificate {cert['id']}: no OID known for EKU '{name}'")
        oid, short = EKU_OIDS[name]
        out.append((name, oid, short))
    return out


def _dn_value(value: str) -> str:
    """A CryptoAPI (CertStrToName) RDN value: quoted, quotes doubled, when it needs it."""
    if value and not re.search(r'[,+=<>#;"\n\r]|^\s|\s$', value):
        return value
    return '"' + value.replace('"', '""') + '"'


def _inf_string(value: str) -> str:
    """A quoted INF string: a literal quote inside is written twice."""
    return '"' + value.replace('"', '""') + '"'


def _request_header(plan: dict[str, Any], cert: dict[str, Any], prefix: str,
                    usage: list[str]) -> str:
    servers = ", ".join(cert["servers"])
    key_note = (f"Exportable key: the certificate is shared by {servers}. Request it on "
                f"{cert['request_on']},\nthen export it with its key to the others."
                if cert["exportable_key"] else
                f"Non-exportable key: request it on {cert['request_on']}, the server that "
                "uses it.")
    return _comment_block(prefix, [
        f"{cert['title']}: {cert['subject_cn']} (certificate {cert['id']})",
        f"Site {plan['meta']['site']}. Issuer: {cert['ca']} ({cert['issuer']} CA).",
        f"Used for: {cert['interface']}",
        *key_note.split("\n"),
        plan["meta"]["provenance"],
        "",
        *usage,
    ])


def certreq_inf(plan: dict[str, Any], cert: dict[str, Any]) -> str:
    """A Windows ``certreq -new`` request file for one certificate of the plan."""
    stem = file_stem(cert["id"])
    subject = f"CN={_dn_value(cert['subject_cn'])}"
    org = plan["meta"].get("organization")
    if org:
        subject += f", O={_dn_value(one_line(org))}"
    sans = "&".join(f"dns={san}" for san in cert["sans"])
    out = _request_header(plan, cert, ";", [
        f"1. On {cert['request_on']}: certreq -new {stem}.inf {stem}.req",
        f"2. Submit {stem}.req to {cert['ca']}"
        + ("; an enterprise CA also needs a template, e.g." if cert["issuer"] == "internal"
           else "."),
        *([f"   certreq -submit -attrib \"CertificateTemplate:WebServer\" {stem}.req"]
          if cert["issuer"] == "internal" and "Client Authentication" not in cert["eku"]
          else ["   a template issuing Server and Client Authentication (WebServer issues",
                "   Server Authentication only)"] if cert["issuer"] == "internal" else []),
        f"3. On {cert['request_on']}: certreq -accept {stem}.cer",
        "",
        "The {text} SAN syntax below needs certreq from Windows Server 2008 or later; on",
        "Windows Server 2003 use the OCS Certificate Wizard (Step 4 of the runbook) instead.",
    ])
    out += "\n[Version]\nSignature = \"$Windows NT$\"\n\n[NewRequest]\n"
    out += f"Subject = {_inf_string(subject)}\n"
    out += f"KeyLength = {int(cert['key_size'])}\n"
    out += "KeySpec = 1\nKeyUsage = 0xA0\n"
    out += f"Exportable = {'TRUE' if cert['exportable_key'] else 'FALSE'}\n"
    out += "MachineKeySet = TRUE\nSMIME = FALSE\nPrivateKeyArchive = FALSE\n"
    out += "UseExistingKeySet = FALSE\n"
    out += 'ProviderName = "Microsoft RSA SChannel Cryptographic Provider"\n'
    out += "ProviderType = 12\nRequestType = PKCS10\n"
    out += "\n[EnhancedKeyUsageExtension]\n"
    for name, oid, _ in _ekus(cert):
        out += f"OID = {oid} ; {name}\n"
    out += "\n[Extensions]\n; Subject alternative names (2.5.29.17)\n"
    out += f"2.5.29.17 = {_inf_string('{text}' + sans)}\n"
    return out


def _cnf_value(value: str) -> str:
    """An OpenSSL config value: backslash before characters the parser would interpret."""
    text = one_line(value)
    return re.sub(r'([\\$#"\'])', r"\\\1", text)


def openssl_cnf(plan: dict[str, Any], cert: dict[str, Any]) -> str:
    """An ``openssl req`` configuration producing the same request as the INF file."""
    stem = file_stem(cert["id"])
    bits = int(cert["key_size"])
    out = _request_header(plan, cert, "#", [
        f"1. openssl req -new -config {stem}.cnf -newkey rsa:{bits} -keyout {stem}.key "
        f"-out {stem}.csr",
        "   (it asks for a pass phrase to protect the key)",
        f"2. Submit {stem}.csr to {cert['ca']}.",
        f"3. openssl pkcs12 -export -inkey {stem}.key -in {stem}.cer -out {stem}.pfx",
        f"4. Import {stem}.pfx into the computer store of " + ", ".join(cert["servers"]) + ",",
        "   then delete the .key and .pfx files.",
        "The Windows route (the .inf file beside this one) keeps the key on the server.",
    ])
    out += f"\n[ req ]\ndefault_bits       = {bits}\ndefault_md         = sha256\n"
    out += "prompt             = no\nutf8               = yes\nstring_mask        = utf8only\n"
    out += "distinguished_name = req_dn\nreq_extensions     = req_ext\n"
    out += f"\n[ req_dn ]\nCN = {_cnf_value(cert['subject_cn'])}\n"
    org = plan["meta"].get("organization")
    if org:
        out += f"O  = {_cnf_value(org)}\n"
    out += "\n[ req_ext ]\nkeyUsage         = critical, digitalSignature, keyEncipherment\n"
    out += "extendedKeyUsage = " + ", ".join(short for _, _, short in _ekus(cert)) + "\n"
    out += "subjectAltName   = @alt_names\n\n[ alt_names ]\n"
    for i, san in enumerate(cert["sans"], start=1):
        out += f"DNS.{i} = {_cnf_value(san)}\n"
    return out


# -- README and the whole folder ----------------------------------------------------------------


def readme_txt(plan: dict[str, Any], files: list[str]) -> str:
    """What each export is for, who uses it, and where it came from."""
    meta = plan["meta"]
    descriptions: dict[str, str] = {
        "addressing.csv": "every NIC of every edge server: IP, prefix, gateway, public "
                          "address (NAT) and DNS name",
        "dns-records.csv": "every DNS record, internal and public, with who adds it",
        "firewall-rules.csv": "every rule of the external and internal firewalls",
        "dns-internal.ps1": "PowerShell (DnsServer module) adding the AD zone records; "
                            "dnscmd equivalents in comments",
        "dns-public.zone": "BIND zone-file fragment with the public records",
    }
    lines = [f"Exports for {one_line(meta['title'])} (site {one_line(meta['site'])})",
             one_line(meta["provenance"]), ""]
    for name in files:
        if name in descriptions:
            lines.append(f"{name}: {descriptions[name]}")
    certs = [f for f in files if f.startswith("certificates/")]
    if certs:
        lines.append("certificates/<id>.inf: Windows certreq request (subject, SANs, EKU, "
                     "key exportability)")
        lines.append("certificates/<id>.cnf: the same request as an OpenSSL configuration")
        lines += [f"  {f}" for f in certs]
    lines += [
        "",
        "The CSV files are UTF-8 without a byte-order mark, comma-separated, one header row.",
        "In Excel use Data > From Text/CSV and pick UTF-8. A cell that would start with",
        "= + - or @ is written with a leading ' so that a spreadsheet shows it as text",
        "instead of running it as a formula.",
        "These files carry no comment line so that they import cleanly; this README holds",
        "their provenance.",
    ]
    return "\n".join(lines) + "\n"


def export_files(plan: Plan | dict[str, Any]) -> dict[str, bytes]:
    """Every export of one site: path relative to its exports folder -> bytes."""
    data = plan if isinstance(plan, dict) else plan.to_dict()
    texts: dict[str, str] = {
        "addressing.csv": addressing_csv(data),
        "dns-records.csv": dns_records_csv(data),
        "firewall-rules.csv": firewall_rules_csv(data),
        "dns-internal.ps1": dns_internal_ps1(data),
        "dns-public.zone": dns_public_zone(data),
    }
    stems: dict[str, str] = {}
    for cert in data["certificates"]:
        stem = file_stem(cert["id"])
        if stem in stems:
            raise ExportError(f"certificates {stems[stem]} and {cert['id']} would both be "
                              f"written as certificates/{stem}.inf")
        stems[stem] = cert["id"]
        texts[f"certificates/{stem}.inf"] = certreq_inf(data, cert)
        texts[f"certificates/{stem}.cnf"] = openssl_cnf(data, cert)
    texts["README.txt"] = readme_txt(data, list(texts))
    encoders: dict[str, Callable[[str], bytes]] = {
        # Windows PowerShell 5.1 reads a BOM-less script as ANSI: give it the UTF-8 BOM.
        ".ps1": lambda s: s.encode("utf-8-sig"),
    }
    out = {}
    for name, text in texts.items():
        encode = encoders.get(Path(name).suffix, lambda s: s.encode("utf-8"))
        out[name] = encode(text)
    return out


def produce(sites: list[Site], workdir: Path) -> dict[str, bytes]:
    """The exports of every site, keyed ``sites/<slug>/exports/<file>`` (see contracts)."""
    del workdir  # nothing to cache: building the exports takes milliseconds
    out: dict[str, bytes] = {}
    for site in sites:
        for name, content in export_files(site.plan).items():
            out[f"sites/{site.slug}/exports/{name}"] = content
    return out


def write_exports(plan: Plan | dict[str, Any], out_dir: Path) -> list[Path]:
    """Write one site's exports under ``out_dir``; returns the files written, sorted."""
    written = []
    try:
        for name, content in export_files(plan).items():
            target = out_dir / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
            written.append(target)
    except OSError as exc:
        raise ExportError(f"cannot write exports to {out_dir}: {exc.strerror or exc}") from exc
    return sorted(written)
