"""The topology a user writes, as pydantic models (the input's public contract).

Only shape and syntax live here: types, required keys, unknown keys, address and name
syntax. Rules that relate one part of a topology to another live in :mod:`runbook.topology.rules`.
Values stay plain normalised strings so the plan and every renderer see the same text.
"""

# No `from __future__ import annotations` here: pydantic would have to evaluate every field's
# annotation from its text, which costs `runbook validate` more than writing them out.
import ipaddress
import re
import unicodedata
from dataclasses import dataclass
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictStr,
    WithJsonSchema,
)

from runbook.errors import shown

ROLES: tuple[str, ...] = ("access", "webconf", "av")
ROLE_NAMES: dict[str, str] = {
    "access": "Access Edge",
    "webconf": "Web Conferencing Edge",
    "av": "A/V Edge",
    "internal": "Internal",
}
PROVIDERS: dict[str, str] = {
    "msn": "MSN / Windows Live",
    "aol": "AOL",
    "yahoo": "Yahoo!",
}

# Patterns are matched with fullmatch: "$" would also match before a final line break, and
# a block scalar ("name: >" or "|") gives "edge01\n", which would then start new lines in
# the zone file, the certreq INF and the PowerShell export.
_SLUG = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_VAULT_ENTRY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,199}")
_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")
# A slug names files and folders; these names are devices on Windows, whatever the suffix.
_RESERVED = frozenset({"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)),
                       *(f"lpt{i}" for i in range(1, 10))})


def _blank_hint(value: str) -> str:
    if value != value.strip():
        return (" (it has white space or a line break at its start or end: a block scalar, "
                "'|' or '>', adds a line break; write the value on the key's line)")
    return ""


def _slug(value: str) -> str:
    if not _SLUG.fullmatch(value):
        raise ValueError(
            f"{shown(value)} is not a valid site slug: use 1-63 lower-case letters, digits and "
            "hyphens, starting and ending with a letter or digit (e.g. contoso-hq)"
            + _blank_hint(value))
    if value in _RESERVED:
        raise ValueError(f"{shown(value)} cannot be a site slug: the slug names the site's "
                         "files, and Windows reserves this name for a device; pick another")
    return value


def _fqdn(value: str) -> str:
    # One trailing dot is DNS's absolute form; "a.b.." holds an empty label.
    name = (value[:-1] if value.endswith(".") else value).lower()
    if not name or len(name) > 253:
        raise ValueError(f"{shown(value)} is not a valid DNS name: it must be 1-253 characters")
    try:
        ipaddress.ip_address(name)
    except ValueError:
        pass
    else:
        raise ValueError(f"{shown(value)} is an IP address, not a DNS name: write the host's "
                         "fully qualified name (an address of a pool goes under ip:)")
    labels = name.split(".")
    if len(labels) < 2:
        raise ValueError(f"{shown(value)} is not a fully qualified name: add its DNS zone "
                         "(e.g. edge01.contoso.local)" + _blank_hint(value))
    for label in labels:
        if not label:
            raise ValueError(f"{shown(value)} is not a valid DNS name: it has an empty label "
                             "(two dots in a row, or a dot at the start); write one dot "
                             "between labels")
        if not _LABEL.fullmatch(label):
            raise ValueError(
                f"{shown(value)} is not a valid DNS name: label {shown(label)} must be 1-63 "
                "letters, digits or hyphens, not starting or ending with a hyphen"
                + _blank_hint(value))
    if labels[-1].isdigit():
        raise ValueError(f"{shown(value)} is not a valid DNS name: its last label "
                         f"{shown(labels[-1])} is all digits, which no top-level domain is "
                         "(RFC 3696): write the name, not an address")
    return name


def _hostname(value: str) -> str:
    if not _LABEL.fullmatch(value):
        raise ValueError(f"{shown(value)} is not a valid host name: use 1-63 letters, digits "
                         "and hyphens (a single DNS label, e.g. edge01)" + _blank_hint(value))
    return value.lower()


def _ipv4(value: str) -> str:
    try:
        return str(ipaddress.IPv4Address(value))
    except ValueError:
        raise ValueError(f"{shown(value)} is not an IPv4 address: write four numbers 0-255 "
                         "separated by dots (e.g. 10.0.0.10), without a prefix") from None


def _ipv4_interface(value: str) -> str:
    if "/" not in value:
        raise ValueError(f"{shown(value)} has no prefix length: write address/prefix "
                         "(e.g. 10.0.0.10/24)")
    try:
        iface = ipaddress.IPv4Interface(value)
    except ValueError:
        raise ValueError(f"{shown(value)} is not an IPv4 address/prefix "
                         "(e.g. 10.0.0.10/24)") from None
    if iface.network.prefixlen >= 31 or iface.ip in (iface.network.network_address,
                                                       iface.network.broadcast_address):
        raise ValueError(f"{shown(value)} is the network or broadcast address of its subnet "
                         "(or the prefix leaves no host addresses): pick a host address")
    return str(iface)


def _ipv4_network(value: str) -> str:
    try:
        return str(ipaddress.IPv4Network(value, strict=True))
    except ValueError:
        raise ValueError(f"{shown(value)} is not an IPv4 network: write network/prefix with "
                         "the host bits zero (e.g. 10.0.0.0/8)") from None


def _visible(value: str) -> bool:
    # Something a reader sees: not only spaces, zero-width and other format characters.
    return any(not (c.isspace() or unicodedata.category(c) in ("Cf", "Zs", "Mn", "Me"))
               for c in value)


def _not_blank(value: str) -> str:
    # Line breaks in text are data: every output writes them its own way (a space in a
    # zone comment, a quoted cell in a CSV). Names, zones and slugs refuse them (fullmatch).
    if not _visible(value):
        raise ValueError("is blank: it holds only spaces or invisible (zero-width) characters;"
                         " write the text, or remove the key")
    return value


# The same syntax as JSON Schema patterns, so an editor flags what `runbook validate` would
# (tests/test_schema.py checks that both agree). What depends on more than the text's form
# (a host address that is its subnet's network or broadcast address, host bits set in a
# network) only runbook validate checks.
_P_LABEL = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_P_OCTET = "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_P_IPV4 = rf"{_P_OCTET}(?:\.{_P_OCTET}){{3}}"


def _p_prefix(longest: int) -> str:
    """A prefix length 0..longest, or the netmask or host mask that says the same."""
    nets = [ipaddress.IPv4Network(f"0.0.0.0/{n}") for n in range(longest + 1)]
    masks = sorted({str(m) for n in nets for m in (n.netmask, n.hostmask)},
                   key=lambda m: (-len(m), m))
    numbers = "|".join(str(n) for n in range(longest, -1, -1))
    return "(?:0*(?:" + numbers + ")|" + "|".join(re.escape(m) for m in masks) + ")"


def _text_schema(pattern: str, description: str, **extra: object) -> WithJsonSchema:
    return WithJsonSchema({"type": "string", "pattern": pattern, "description": description,
                           **extra})


Slug = Annotated[StrictStr, AfterValidator(_slug), _text_schema(
    f"^{_SLUG.pattern}$", "1-63 lower-case letters, digits and hyphens, starting and ending "
    "with a letter or digit")]
Fqdn = Annotated[StrictStr, AfterValidator(_fqdn), _text_schema(
    rf"^(?=.{{1,253}}\.*$){_P_LABEL}(?:\.{_P_LABEL})+\.*$", "A fully qualified DNS name: "
    "at most 253 characters, two labels or more, each 1-63 letters, digits or hyphens, not "
    "starting or ending with a hyphen")]
Hostname = Annotated[StrictStr, AfterValidator(_hostname), _text_schema(
    f"^{_P_LABEL}$", "A single DNS label: 1-63 letters, digits or hyphens")]
IPv4 = Annotated[StrictStr, AfterValidator(_ipv4), _text_schema(
    f"^{_P_IPV4}$", "An IPv4 address, e.g. 10.0.0.10")]
IPv4Iface = Annotated[StrictStr, AfterValidator(_ipv4_interface), _text_schema(
    f"^{_P_IPV4}/{_p_prefix(30)}$", "An IPv4 host address and prefix, e.g. 10.0.0.10/24")]
IPv4Net = Annotated[StrictStr, AfterValidator(_ipv4_network), _text_schema(
    f"^{_P_IPV4}/{_p_prefix(32)}$", "An IPv4 network and prefix, host bits zero, e.g. "
    "10.0.0.0/8")]
Text = Annotated[StrictStr, Field(min_length=1, max_length=200), AfterValidator(_not_blank)]
Role = Literal["access", "webconf", "av"]
Provider = Literal["msn", "aol", "yahoo"]


class Strict(BaseModel):
    """Base for every input model: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Domains(Strict):
    sip: list[Fqdn] = Field(min_length=1, description="Authorized SIP domains; the first is "
                            "the default routing domain.")
    internal: Fqdn = Field(description="Active Directory DNS zone (secure dynamic updates).")
    external: Fqdn = Field(description="Internet DNS zone of the edge's public names.")


class Pool(Strict):
    fqdn: Fqdn
    kind: Literal["enterprise", "standard", "director"] = Field(
        description="enterprise pool, Standard Edition server, or Director (or the FQDN of "
                    "the load balancer in front of Directors).")
    ip: IPv4 | None = Field(None, description="Optional address, for the edge's hosts file.")


class MediationServer(Strict):
    fqdn: Fqdn = Field(description="The Mediation Server's internal FQDN (Enterprise Voice "
                       "gateway side); it is pointed at the A/V Edge for remote callers.")


class Route(Strict):
    to: IPv4Net = Field(description="Internal network reached through the internal NIC.")
    via: IPv4 = Field(description="Router on the internal NIC's subnet.")


class Nic(Strict):
    name: Text | None = Field(None, description="Windows connection name, e.g. 'Internal'.")
    ip: IPv4Iface
    gateway: IPv4 | None = None
    public_ip: IPv4 | None = Field(None, description="Address a NAT maps to this NIC; public "
                                   "DNS points here when given.")
    routes: list[Route] = Field(default_factory=list)


class Nics(Strict):
    internal: Nic
    access: Nic | None = None
    webconf: Nic | None = None
    av: Nic | None = None


class RoleFqdns(Strict):
    access: Fqdn | None = None
    webconf: Fqdn | None = None
    av: Fqdn | None = None


class Features(Strict):
    remote_access: StrictBool = True
    anonymous_meetings: StrictBool | None = Field(
        None, description="Allow anonymous users to join meetings; default: on when a Web "
                          "Conferencing Edge is deployed.")
    federation: StrictBool = False
    federation_discovery: StrictBool = Field(
        True, description="Allow discovery of federation partners (enhanced federation).")
    public_im: list[Provider] = Field(default_factory=list)


class FeatureOverrides(Strict):
    """Per-server feature settings, for split Access Edges."""

    remote_access: StrictBool | None = None
    anonymous_meetings: StrictBool | None = None
    federation: StrictBool | None = None
    federation_discovery: StrictBool | None = None
    public_im: list[Provider] | None = None


def _all_roles() -> list[Role]:
    return ["access", "webconf", "av"]


class Server(Strict):
    name: Hostname
    fqdn: Fqdn | None = Field(None, description="Internal FQDN; default name + internal zone.")
    roles: list[Role] = Field(default_factory=_all_roles, min_length=1)
    nics: Nics
    domain_joined: StrictBool = False
    fqdns: RoleFqdns | None = Field(None, description="Per-server public names (split edges).")
    features: FeatureOverrides | None = Field(None, description="Per-server features (split "
                                              "Access Edges).")


class Vip(Strict):
    external_ip: IPv4 | None = Field(None, description="VIP on the perimeter network.")
    public_ip: IPv4 | None = Field(None, description="Address a NAT maps to the VIP.")
    internal_ip: IPv4 | None = Field(None, description="VIP on the internal network.")
    internal_fqdn: Fqdn | None = Field(None, description="FQDN of the internal VIP.")
    source_nat_ip: IPv4 | None = Field(
        None, description="Address the firewall or load balancer translates the members' own "
        "outbound connections to (Access Edge: federation and public IM out); default: each "
        "member's own external address.")


class LoadBalancer(Strict):
    name: Text | None = None
    access: Vip | None = None
    webconf: Vip | None = None
    av: Vip | None = None


class FederationPartner(Strict):
    """A federated partner for the Access Edge's Allow tab."""

    domain: Fqdn = Field(description="The partner's SIP domain (e.g. fabrikam.com).")
    access_edge: Fqdn | None = Field(
        None, description="The FQDN of the partner's Access Edge (or LCS 2005 Access "
        "Proxy). Optional: without it the edge finds the partner through the partner's "
        "_sipfederationtls._tcp DNS SRV record.")


class Edge(Strict):
    fqdns: RoleFqdns
    features: Features = Field(default_factory=lambda: Features.model_validate({}))
    federation_partners: list[FederationPartner] = Field(
        default_factory=list, description="Federated partners to put on the Access Edge's "
        "Allow tab (with discovery off, the only domains it federates with).")
    servers: list[Server] = Field(min_length=1)
    load_balancer: LoadBalancer | None = None


_CRL_SCHEMES = ("http", "ldap")


def _crl_url(value: str) -> str:
    if any(c.isspace() or unicodedata.category(c)[0] == "C" for c in value):
        raise ValueError(f"{shown(value)} holds white space or control characters: write the "
                         "URL as the CA's certificates show it, spaces encoded as %20")
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise ValueError(f"{shown(value)} is not a URL: write the CRL distribution point as "
                         "the internal CA's certificates show it (e.g. "
                         "http://pki.contoso.local/CertEnroll/ca.crl)") from None
    scheme = parts.scheme.lower()
    if scheme == "https":
        raise ValueError(f"{shown(value)} is an HTTPS URL: revocation lists are fetched over "
                         "HTTP or LDAP (an HTTPS distribution point would need a revocation "
                         "check of its own first); write the CA's http:// distribution point")
    if scheme not in _CRL_SCHEMES:
        raise ValueError(f"{shown(value)} is not an http:// or ldap:// URL: write the CRL "
                         "distribution point as the internal CA's certificates show it")
    if not parts.hostname:
        raise ValueError(f"{shown(value)} names no host: an LDAP distribution point without "
                         "one is looked up in the domain, which a workgroup edge is not part "
                         "of; write the host (ldap://dc01.contoso.local/...) or the CA's "
                         "http:// distribution point")
    try:
        ipaddress.IPv4Address(parts.hostname)
    except ValueError:
        _fqdn(parts.hostname)
    if port == 0:
        raise ValueError(f"{shown(value)} names port 0: remove the port, or write the one the "
                         "distribution point listens on")
    return value


CrlUrl = Annotated[StrictStr, Field(max_length=500), AfterValidator(_crl_url), _text_schema(
    r"^(?:[hH][tT][tT][pP]|[lL][dD][aA][pP])://[^\s/?#@]+(?:[/?#]\S*)?$",
    "An http:// or ldap:// URL with a host, as the CA's certificates show their CRL "
    "distribution point", maxLength=500)]


class CrlPoint(Strict):
    url: CrlUrl = Field(description="The CRL distribution point of the internal CA, as its "
                        "certificates show it (http:// or ldap:// with a host).")
    ip: IPv4 | None = Field(None, description="The distribution point host's address: the "
                            "destination of the internal firewall rule (default: its name).")


class Certificates(Strict):
    public_ca: Text | None = Field(None, description="Issuer of the external certificate.")
    internal_ca: Text = Field("Internal enterprise CA", description="Internal issuing CA.")
    internal_crl: list[CrlPoint] = Field(
        default_factory=list, description="Where the edge servers download the internal CA's "
        "certificate revocation list (its CRL distribution points); each becomes an internal "
        "firewall rule from the edges' internal addresses.")
    key_size: Literal[1024, 2048, 4096] = 2048
    external: Literal["separate", "combined"] = Field(
        "separate", description="One certificate per external role (Access Edge, Web "
        "Conferencing Edge), as Microsoft's deployment guidance has it, or one certificate "
        "carrying both names, as the seed article's lab does.")


def _vault_entry(value: str) -> str:
    if not _VAULT_ENTRY.fullmatch(value):
        raise ValueError("this does not look like the name of a vault entry: name the entry "
                         "(letters, digits and . _ : / @ + -, e.g. contoso/ocs/RTCProxyService),"
                         " never the secret itself")
    return value


VaultEntry = Annotated[StrictStr, AfterValidator(_vault_entry), _text_schema(
    f"^{_VAULT_ENTRY.pattern}$", "The name of a vault entry, never the secret")]


class ReverseProxy(Strict):
    fqdn: Fqdn = Field(description="External web farm FQDN the pool's Web Components are "
                       "published under (e.g. webext.contoso.com).")
    external_ip: IPv4 = Field(description="The listener's address on the reverse proxy's "
                              "external NIC.")
    public_ip: IPv4 | None = Field(None, description="Address a NAT maps to the listener; "
                                   "public DNS points here when set.")
    internal_ip: IPv4 = Field(description="The reverse proxy's internal address (source of "
                              "its connections to the Web Components).")
    product: Literal["isa2006", "generic"] = Field(
        "isa2006", description="ISA Server 2006 (the wizard screen by screen) or any HTTPS "
        "reverse proxy.")
    sp1: StrictBool = Field(True, description="ISA Server 2006 SP1 is installed (certificates "
                            "with several SAN entries, Test Rule); isa2006 only.")


class Vault(Strict):
    service_account: VaultEntry | None = Field(None, description="Vault entry of "
                                               "RTCProxyService.")
    product_key: VaultEntry | None = Field(None, description="Vault entry of the product key.")


class Change(Strict):
    id: Text | None = None
    title: Text | None = None
    window_start: Text | None = None
    window_end: Text | None = None
    timezone: Text | None = None
    requester: Text | None = None
    implementer: Text | None = None
    approvers: list[Text] = Field(default_factory=list)
    risk: Literal["low", "medium", "high"] | None = None
    business_reason: Annotated[StrictStr, Field(max_length=2000),
                               AfterValidator(_not_blank)] | None = None
    contacts: list[Text] = Field(default_factory=list)


class Topology(Strict):
    """A site's edge deployment, as written in ``inputs/<site>.yaml``."""

    site: Slug
    title: Text | None = None
    organization: Text
    environment: Literal["production", "lab"] = "production"
    product: Literal["ocs2007"] = Field(
        "ocs2007", description="The product deployed: its catalog of ports, names and "
        "addresses (runbook/plan/catalogs/). Only ocs2007 (Office Communications Server 2007).")
    domains: Domains
    pools: list[Pool] = Field(min_length=1)
    next_hop: Fqdn | None = None
    mediation: list[MediationServer] = Field(
        default_factory=list, description="Mediation Servers (Enterprise Voice): each needs "
        "the A/V Edge's authentication service set on its General tab.")
    edge: Edge
    reverse_proxy: ReverseProxy | None = Field(
        None, description="The HTTPS reverse proxy publishing the pool's Web Components to "
        "remote users (address book, group expansion, meeting content).")
    certificates: Certificates = Field(default_factory=lambda: Certificates.model_validate({}))
    vault: Vault = Field(default_factory=lambda: Vault.model_validate({}))
    change: Change | None = None


@dataclass(frozen=True)
class EffectiveFeatures:
    """The feature settings one Access Edge actually runs with."""

    remote_access: bool
    anonymous_meetings: bool
    federation: bool
    federation_discovery: bool
    public_im: tuple[str, ...]


def server_fqdn(topology: Topology, server: Server) -> str:
    """The server's internal FQDN: ``fqdn:`` if given, else name + internal zone."""
    return server.fqdn or f"{server.name}.{topology.domains.internal}"


def role_fqdn(topology: Topology, server: Server, role: str) -> str | None:
    """The public FQDN of ``role`` on ``server`` (a per-server name wins)."""
    own: str | None = getattr(server.fqdns, role) if server.fqdns is not None else None
    shared: str | None = getattr(topology.edge.fqdns, role)
    return own if own is not None else shared


def servers_with(topology: Topology, role: str) -> list[Server]:
    """Servers running ``role``, in file order."""
    return [s for s in topology.edge.servers if role in s.roles]


def deployed_roles(topology: Topology) -> list[str]:
    """Roles some server runs, in the canonical order access, webconf, av."""
    return [r for r in ROLES if servers_with(topology, r)]


def effective_features(topology: Topology, server: Server, *,
                       webconf_deployed: bool | None = None) -> EffectiveFeatures:
    """Edge-wide features with the server's own overrides applied.

    ``webconf_deployed`` (whether some server runs the Web Conferencing Edge, the default of
    anonymous meetings) spares a caller asking for every server a scan of them all each time.
    """
    base = topology.edge.features
    over = server.features or FeatureOverrides()

    def pick(name: str) -> object:
        value = getattr(over, name)
        return getattr(base, name) if value is None else value

    anonymous = pick("anonymous_meetings")
    if anonymous is None:
        anonymous = (bool(servers_with(topology, "webconf")) if webconf_deployed is None
                     else webconf_deployed)
    return EffectiveFeatures(
        remote_access=bool(pick("remote_access")),
        anonymous_meetings=bool(anonymous),
        federation=bool(pick("federation")),
        federation_discovery=bool(pick("federation_discovery")),
        public_im=tuple(pick("public_im") or ()),  # type: ignore[arg-type]
    )


def next_hop_pool(topology: Topology) -> Pool | None:
    """The pool the edge sends SIP to: ``next_hop`` if set, else the Director, else the first."""
    if topology.next_hop is not None:
        return next((p for p in topology.pools if p.fqdn == topology.next_hop), None)
    directors = [p for p in topology.pools if p.kind == "director"]
    return directors[0] if directors else topology.pools[0]


SCHEMA_ID = "urn:runbook:schema:topology:1"
"""The schema's ``$id``: a name, not a place (the schema ships in the package, and a built site
publishes it as ``schema/topology.schema.json``)."""


def json_schema() -> dict[str, object]:
    """The JSON Schema of a topology file, generated from the model."""
    schema = Topology.model_json_schema()
    schema["$schema"] = "http://json-schema.org/draft-07/schema#"
    schema["$id"] = SCHEMA_ID
    schema["title"] = "runbook topology"
    return schema
