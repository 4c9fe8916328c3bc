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

import hashlib
import ipaddress
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runbook.errors import RunbookError

if TYPE_CHECKING:
    from runbook.plan.derive import Plan
    from runbook.plan.sites import Site

ZONE_TTL = 3600
ADDRESS_COLUMNS = ["server", "nic", "nic_name", "role", "role_name", "ip", "prefix", "netmask",
                   "gateway", "public_ip", "fqdn", "dns_address"]
DNS_COLUMNS = ["zone", "scope", "name", "type", "value", "port", "priority", "weight",
               "purpose", "added_by"]
FIREWALL_COLUMNS = ["id", "firewall", "direction", "source", "destination", "protocol",
                    "ports", "purpose", "role"]
# A spreadsheet evaluates a cell starting with one of these as a formula (CSV injection, as
# OWASP and ASVS 1.2.10 list them, plus line feed, NUL and the full-width forms some locales
# of Excel read as the ASCII ones).
_FORMULA_START = frozenset("=+-@\t\r\n\0\uff1d\uff0b\uff0d\uff20")
# Leading characters a spreadsheet may trim before it looks for a formula.
_TRIMMED = " \u00a0\u3000"
# A cell holding one of these is quoted: the comma and the quote (RFC 4180), line breaks (a
# bare CR or LF would end the row), and the other separators a spreadsheet may guess (a
# semicolon-list locale, tab-separated) so that no part of a value can become its own cell.
_CSV_QUOTED = re.compile(r'[,;"\t\r\n]')
# PowerShell ends a single-quoted string at any of these, not only at the ASCII quote.
_PS_QUOTES = "'\u2018\u2019\u201a\u201b"
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
# The longest certificate file stem: with ".inf" and the ".req"/".key"/".pfx" the usage
# lines name, far below the 255-byte name limit, and short enough for a Windows path.
MAX_STEM = 80
# What a certificate request accepts as a DNS name (subject CN and dNSName SANs).
_REQUEST_NAME = re.compile(r"[A-Za-z0-9_*-]+(?:\.[A-Za-z0-9_*-]+)*\.?")


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
    """One CSV cell's text: empty for None, and a leading ``'`` when a spreadsheet would run it.

    The ``'`` makes Excel, LibreOffice and Google Sheets show the value as text instead of
    evaluating it as a formula; it is added also when spaces come before the formula start.
    """
    text = "" if value is None else str(value)
    if text.lstrip(_TRIMMED)[:1] in _FORMULA_START:
        return "'" + text
    return text


def csv_field(value: object) -> str:
    """One CSV field as written: :func:`csv_cell`, in double quotes (quotes doubled) when it
    holds a separator, a quote or a line break."""
    text = csv_cell(value)
    if _CSV_QUOTED.search(text):
        return '"' + text.replace('"', '""') + '"'
    return text


def csv_text(columns: list[str], rows: Iterable[dict[str, Any]]) -> str:
    """A CSV table: header row, then ``columns`` of every row, ``\\n`` line endings."""
    lines = [",".join(csv_field(c) for c in columns)]
    lines += [",".join(csv_field(row.get(c)) for c in columns) for row in rows]
    return "\n".join(lines) + "\n"


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
    """A file name stem from a certificate id: safe characters only, at most
    :data:`MAX_STEM` long.

    Ids come from FQDNs, which may be 253 characters long while most file systems allow
    255 bytes per name; a longer stem keeps its start and ends with a hash of the whole id,
    so it stays the same from run to run and distinct from its neighbours.
    """
    stem = _SAFE_NAME.sub("-", cert_id).strip(".-") or "certificate"
    if len(stem) <= MAX_STEM:
        return stem
    tag = hashlib.sha256(cert_id.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return f"{stem[:MAX_STEM - len(tag) - 1].rstrip('.-')}-{tag}"


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
        nums = (int(rec["priority"] or 0), int(rec["weight"] or 0), int(rec["port"]))
        return [*head, f"Add-DnsServerResourceRecord -Srv {common} "
                f"-DomainName {ps_quote(rec['value'])} -Priority {nums[0]} -Weight {nums[1]} "
                f"-Port {nums[2]}",
                f"# dnscmd alternative: dnscmd . /recordadd {one_line(zone)} {one_line(name)} "
                f"SRV {nums[0]} {nums[1]} {nums[2]} {one_line(target)}"]
    raise ExportError(f"dns-internal.ps1: record type {kind} of {rec['name']} has no "
                      "DnsServer cmdlet mapping")


def _scoped_records(plan: dict[str, Any], scope: str
                    ) -> tuple[list[dict[str, Any]], list[str]]:
    """The DNS records of one scope (internal, external) and their zones, in plan order."""
    records = [r for r in plan["dns"] if r["scope"] == scope]
    return records, list(dict.fromkeys(r["zone"] for r in records))


def dns_internal_ps1(plan: dict[str, Any]) -> str:
    """PowerShell adding the internal (AD zone) records with the DnsServer module."""
    meta = plan["meta"]
    records, zones = _scoped_records(plan, "internal")
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


# Characters a master file reads as themselves inside a name; the rest are escaped.
_ZONE_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_*")


def _zone_escape(text: str, plain: frozenset[str]) -> str:
    """``text`` in master-file syntax (RFC 1035 section 5.1): printable ASCII specials as
    ``\\X``, anything else (control characters, non-ASCII) as ``\\DDD`` per UTF-8 byte."""
    out = []
    for ch in text:
        if ch in plain:
            out.append(ch)
        elif " " <= ch <= "~":
            out.append("\\" + ch)
        else:
            out.extend(f"\\{b:03d}" for b in ch.encode("utf-8", "surrogatepass"))
    return "".join(out)


def zone_name(name: object) -> str:
    """An absolute domain name for a zone file: each label escaped, a trailing dot.

    A space, ``;``, ``(``, ``"``, ``$``, ``@`` or a line break in a name is written escaped,
    so it cannot end the name, start a comment, a directive or another record. Raises
    :class:`ExportError` for a name with an empty label (it has no master-file form).
    """
    text = str(name)
    labels = (text[:-1] if text.endswith(".") else text).split(".")
    if not text or any(label == "" for label in labels):
        raise ExportError(f"dns-public.zone: '{one_line(text)}' is not a domain name "
                          "(empty label)")
    return ".".join(_zone_escape(label, _ZONE_PLAIN) for label in labels) + "."


def _zone_address(value: object, kind: str, owner: str) -> str:
    try:
        address = ipaddress.ip_address(str(value))
    except ValueError:
        address = None
    if address is None or address.version != (4 if kind == "A" else 6):
        raise ExportError(f"dns-public.zone: {kind} record of {one_line(owner)}: "
                          f"'{one_line(value)}' is not an IPv{4 if kind == 'A' else 6} address")
    return str(address)


def _zone_rdata(rec: dict[str, Any]) -> str:
    kind = rec["type"].upper()
    value = str(rec["value"])
    if kind in ("A", "AAAA"):
        return _zone_address(value, kind, rec["name"])
    if kind in ("CNAME", "NS", "PTR"):
        return zone_name(value)
    if kind == "SRV":
        return (f"{int(rec['priority'] or 0)} {int(rec['weight'] or 0)} {int(rec['port'])} "
                f"{zone_name(value)}")
    if kind == "TXT":
        return '"' + _zone_escape(value, _TXT_PLAIN) + '"'
    raise ExportError(f"dns-public.zone: record type {one_line(kind)} of "
                      f"{one_line(rec['name'])} is not supported")


_TXT_PLAIN = frozenset(chr(c) for c in range(0x20, 0x7F)) - {'"', "\\"}


def dns_public_zone(plan: dict[str, Any]) -> str:
    """A BIND zone-file fragment with every public record, grouped by zone.

    Owner names and targets are absolute (trailing dot), so the records mean the same
    wherever they are pasted; each block still sets ``$ORIGIN`` to its zone.
    """
    meta = plan["meta"]
    records, zones = _scoped_records(plan, "external")
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
            rows.append((zone_name(rec["name"]), rec["type"].upper(), _zone_rdata(rec),
                         one_line(rec["purpose"])))
        width = max(len(r[0]) for r in rows)
        out += f"\n$ORIGIN {zone_name(zone)}\n"
        for owner, kind, rdata, purpose in rows:
            out += f"; {purpose}\n" if purpose else ""
            out += f"{owner:<{width}}  {ZONE_TTL} IN {kind:<5} {rdata}\n"
    return out


# -- certificate requests -----------------------------------------------------------------------


def _ekus(cert: dict[str, Any], product: str) -> list[tuple[str, str, str]]:
    """Each EKU of ``cert``: its name, OID and OpenSSL name, from the product's catalog."""
    from runbook.plan.catalog import catalog

    out = []
    for name in cert["eku"]:
        eku = catalog(product).eku_named(name)
        if eku is None:
            raise ExportError(f"certificate {cert['id']}: no OID known for EKU '{name}'")
        out.append((name, eku.oid, eku.openssl))
    return out


def _dn_value(value: str) -> str:
    """A CryptoAPI (CertStrToName) RDN value: quoted, quotes doubled, when it needs it."""
    if value and not re.search(r'[,+=<>#;"\n\r]|^\s|\s$', value):
        return value
    return '"' + value.replace('"', '""') + '"'


def _request_name(cert: dict[str, Any], what: str, value: object) -> str:
    """``value`` checked as a DNS name for a certificate request.

    A SAN holding ``&`` would add another name to certreq's ``{text}`` list, a line break
    would start a new INF or OpenSSL line: such a value is refused, not written.
    """
    text = str(value)
    if not _REQUEST_NAME.fullmatch(text):
        raise ExportError(f"certificate {one_line(cert['id'])}: {what} '{one_line(text)}' is "
                          "not a DNS name (letters, digits, '-', '_', '*' and dots); a "
                          "certificate request cannot carry it")
    return text


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
    subject = f"CN={_dn_value(_request_name(cert, 'subject CN', cert['subject_cn']))}"
    org = plan["meta"].get("organization")
    if org:
        subject += f", O={_dn_value(one_line(org))}"
    sans = "&".join(f"dns={_request_name(cert, 'SAN', san)}" for san in cert["sans"])
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
        *(["Windows Server 2003 request the listener certificate from the CA's web enrollment",
           "pages or the Certificates snap-in (ISA Server has no OCS Certificate Wizard)."]
          if cert.get("purpose") == "reverse_proxy" else
          ["Windows Server 2003 use the OCS Certificate Wizard (Step 4 of the runbook) instead."]),
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
    for name, oid, _ in _ekus(cert, plan["meta"]["product"]):
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
    cn = _request_name(cert, "subject CN", cert["subject_cn"])
    out += f"\n[ req_dn ]\nCN = {_cnf_value(cn)}\n"
    org = plan["meta"].get("organization")
    if org:
        out += f"O  = {_cnf_value(org)}\n"
    out += "\n[ req_ext ]\nkeyUsage         = critical, digitalSignature, keyEncipherment\n"
    ekus = _ekus(cert, plan["meta"]["product"])
    out += "extendedKeyUsage = " + ", ".join(short for _, _, short in ekus) + "\n"
    out += "subjectAltName   = @alt_names\n\n[ alt_names ]\n"
    for i, san in enumerate(cert["sans"], start=1):
        out += f"DNS.{i} = {_cnf_value(_request_name(cert, 'SAN', san))}\n"
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
        "= + - or @ (also after spaces), a tab or a line break is written with a leading '",
        "so that a spreadsheet shows it as text instead of running it as a formula. A cell",
        "holding a comma, semicolon, tab, quote or line break is in double quotes.",
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
        encode = encoders.get(Path(name).suffix, _utf8)
        out[name] = encode(text)
    return out


def _utf8(text: str) -> bytes:
    return text.encode("utf-8")


def produce(sites: list[Site], workdir: Path) -> dict[str, bytes]:
    """The exports of every site, keyed ``sites/<slug>/exports/<file>`` (see contracts)."""
    del workdir  # nothing to cache: building the exports takes milliseconds
    out: dict[str, bytes] = {}
    for site in sites:
        for name, content in export_files(site.plan_dict()).items():
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
