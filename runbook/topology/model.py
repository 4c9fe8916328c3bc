"""The topology a user writes, as pydantic models (the input's public contract).

Only shape and syntax live here: types, required keys, unknown keys, address and name
syntax. Rules that relate one part of a topology to another live in :mod:`runbook.topology.rules`.
Values stay plain normalised strings so the plan and every renderer see the same text.
"""

# No `from __future__ import annotations` here: pydantic would have to evaluate every field's
# annotation from its text, which costs `runbook validate` more than writing them out.
import ipaddress
import re
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictStr

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

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_VAULT_ENTRY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,199}$")
_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def _slug(value: str) -> str:
    if not _SLUG.match(value):
        raise ValueError(
            f"'{value}' is not a valid site slug: use 1-63 lower-case letters, digits and "
            "hyphens, starting with a letter or digit (e.g. contoso-hq)"
        )
    return value


def _fqdn(value: str) -> str:
    name = value.rstrip(".").lower()
    if not name or len(name) > 253:
        raise ValueError(f"'{value}' is not a valid DNS name: it must be 1-253 characters")
    labels = name.split(".")
    if len(labels) < 2:
        raise ValueError(f"'{value}' is not a fully qualified name: add its DNS zone "
                         "(e.g. edge01.contoso.local)")
    for label in labels:
        if not _LABEL.match(label):
            raise ValueError(
                f"'{value}' is not a valid DNS name: label '{label}' must be 1-63 letters, "
                "digits or hyphens, not starting or ending with a hyphen"
            )
    return name


def _hostname(value: str) -> str:
    if not _LABEL.match(value):
        raise ValueError(f"'{value}' is not a valid host name: use 1-63 letters, digits and "
                         "hyphens (a single DNS label, e.g. edge01)")
    return value.lower()


def _ipv4(value: str) -> str:
    try:
        return str(ipaddress.IPv4Address(value))
    except ValueError:
        raise ValueError(f"'{value}' is not an IPv4 address: write four numbers 0-255 "
                         "separated by dots (e.g. 10.0.0.10), without a prefix") from None


def _ipv4_interface(value: str) -> str:
    if "/" not in value:
        raise ValueError(f"'{value}' has no prefix length: write address/prefix "
                         "(e.g. 10.0.0.10/24)")
    try:
        iface = ipaddress.IPv4Interface(value)
    except ValueError:
        raise ValueError(f"'{value}' is not an IPv4 address/prefix (e.g. 10.0.0.10/24)") from None
    if iface.network.prefixlen >= 31 or iface.ip in (iface.network.network_address,
                                                       iface.network.broadcast_address):
        raise ValueError(f"'{value}' is the network or broadcast address of its subnet "
                         "(or the prefix leaves no host addresses): pick a host address")
    return str(iface)


def _ipv4_network(value: str) -> str:
    try:
        return str(ipaddress.IPv4Network(value, strict=True))
    except ValueError:
        raise ValueError(f"'{value}' is not an IPv4 network: write network/prefix with the "
                         "host bits zero (e.g. 10.0.0.0/8)") from None


Slug = Annotated[StrictStr, AfterValidator(_slug)]
Fqdn = Annotated[StrictStr, AfterValidator(_fqdn)]
Hostname = Annotated[StrictStr, AfterValidator(_hostname)]
IPv4 = Annotated[StrictStr, AfterValidator(_ipv4)]
IPv4Iface = Annotated[StrictStr, AfterValidator(_ipv4_interface)]
IPv4Net = Annotated[StrictStr, AfterValidator(_ipv4_network)]
Text = Annotated[StrictStr, Field(min_length=1, max_length=200)]
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


class Server(Strict):
    name: Hostname
    fqdn: Fqdn | None = Field(None, description="Internal FQDN; default name + internal zone.")
    roles: list[Role] = Field(default_factory=lambda: list(ROLES), min_length=1)
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


class Edge(Strict):
    fqdns: RoleFqdns
    features: Features = Field(default_factory=Features)
    servers: list[Server] = Field(min_length=1)
    load_balancer: LoadBalancer | None = None


class Certificates(Strict):
    public_ca: Text | None = Field(None, description="Issuer of the external certificate.")
    internal_ca: Text = Field("Internal enterprise CA", description="Internal issuing CA.")
    key_size: Literal[1024, 2048, 4096] = 2048
    external: Literal["separate", "combined"] = Field(
        "separate", description="One certificate per external role (Access Edge, Web "
        "Conferencing Edge), as Microsoft's deployment guidance has it, or one certificate "
        "carrying both names, as the seed article's lab does.")


def _vault_entry(value: str) -> str:
    if not _VAULT_ENTRY.match(value):
        raise ValueError("this does not look like the name of a vault entry: name the entry "
                         "(letters, digits and . _ : / @ + -, e.g. contoso/ocs/RTCProxyService),"
                         " never the secret itself")
    return value


VaultEntry = Annotated[StrictStr, AfterValidator(_vault_entry)]


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
    business_reason: Annotated[StrictStr, Field(max_length=2000)] | None = None
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
    edge: Edge
    reverse_proxy: ReverseProxy | None = Field(
        None, description="The HTTPS reverse proxy publishing the pool's Web Components to "
        "remote users (address book, group expansion, meeting content).")
    certificates: Certificates = Field(default_factory=Certificates)
    vault: Vault = Field(default_factory=Vault)
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
    if server.fqdns is not None and getattr(server.fqdns, role) is not None:
        return getattr(server.fqdns, role)
    return getattr(topology.edge.fqdns, role)


def servers_with(topology: Topology, role: str) -> list[Server]:
    """Servers running ``role``, in file order."""
    return [s for s in topology.edge.servers if role in s.roles]


def deployed_roles(topology: Topology) -> list[str]:
    """Roles some server runs, in the canonical order access, webconf, av."""
    return [r for r in ROLES if servers_with(topology, r)]


def effective_features(topology: Topology, server: Server) -> EffectiveFeatures:
    """Edge-wide features with the server's own overrides applied."""
    base = topology.edge.features
    over = server.features or FeatureOverrides()

    def pick(name: str) -> object:
        value = getattr(over, name)
        return getattr(base, name) if value is None else value

    anonymous = pick("anonymous_meetings")
    if anonymous is None:
        anonymous = bool(servers_with(topology, "webconf"))
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


def json_schema() -> dict[str, object]:
    """The JSON Schema of a topology file, generated from the model."""
    schema = Topology.model_json_schema()
    schema["$schema"] = "http://json-schema.org/draft-07/schema#"
    schema["title"] = "runbook topology"
    return schema
