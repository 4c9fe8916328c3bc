"""The plan's types: the contract between the deriver and every template, diagram and export.

Every section of a :class:`Plan` is a frozen dataclass; :meth:`Plan.to_dict` turns it into the
plain data the templates read (``plan.summary.next_hop.fqdn`` in Jinja is the field of that
name here). The attribute docstrings below are the field descriptions of the plan's JSON
Schema (:func:`json_schema`, committed as ``schema/plan.schema.json``) and of the template
authors' reference page (:func:`reference_markdown`).
"""

from __future__ import annotations

import copy
import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import ConfigDict

from runbook import __version__

# Field descriptions come from the attribute docstrings; every key is always present in
# ``to_dict``, so the serialization schema lists them all as required.
_CONFIG = ConfigDict(use_attribute_docstrings=True,
                     json_schema_serialization_defaults_required=True)

Role = Literal["access", "webconf", "av"]
"""An edge role: Access Edge, Web Conferencing Edge, A/V Edge."""
NicKind = Literal["internal", "access", "webconf", "av"]
ActionKind = Literal["click", "tick", "clear", "type", "select", "do", "check", "note",
                     "warning", "vault"]
"""The verb a renderer shows for an :class:`Action`."""
PoolKind = Literal["enterprise", "standard", "director"]
Layout = Literal["consolidated", "single-server", "single-site", "load-balanced", "split"]
StepId = Literal["install", "activate", "configure", "certificates", "services", "validate"]
#: A firewall rule's protocol.
Protocol = Literal["TCP", "UDP", "UDP+TCP"]
#: What a firewall rule serves: an edge role, the reverse proxy, or every server (``all``).
RuleRole = Literal["access", "webconf", "av", "all", "reverse_proxy"]


# The plan's types: what templates and renderers read (exported by the runbook package).
__all__ = [
    "Action",
    "ActionKind",
    "AddressRow",
    "CaImport",
    "Certificate",
    "CertificateAuthorities",
    "Change",
    "CrlPoint",
    "DnsRecord",
    "ExternalCertificates",
    "FeatureRow",
    "FederationPartnerRow",
    "FederationPlan",
    "FederationRoute",
    "Finding",
    "FirewallRule",
    "HostEntry",
    "Layout",
    "MediationRow",
    "Meta",
    "NextHop",
    "NicKind",
    "Pic",
    "PicField",
    "PicProvider",
    "PicStep",
    "Plan",
    "PoolKind",
    "PoolRow",
    "PoolSetting",
    "PoolSide",
    "Protocol",
    "Provenance",
    "PublishedUrl",
    "ReverseProxyPlan",
    "Role",
    "RouteRow",
    "RuleRole",
    "Screen",
    "ServerRow",
    "ServerRunbook",
    "Step",
    "StepId",
    "Subnet",
    "SubnetMember",
    "Summary",
    "Trust",
    "UiPlace",
    "Validation",
    "ValidationTest",
    "Vip",
    "VipMember",
    "WebConfEdgeEntry",
]


@dataclass(frozen=True)
class Provenance:
    """Where a plan came from: the topology file, its git revision, the generator."""

    __pydantic_config__ = _CONFIG

    source: str
    """The topology file as the user named it."""
    revision: str | None = None
    """The git revision that last touched the file (None outside git)."""
    generator: str = f"runbook {__version__}"
    """The program and version that made the plan."""

    def line(self) -> str:
        """One human line, the same on every page and document."""
        rev = f" at {self.revision}" if self.revision else " (not in git)"
        return f"Generated from {self.source}{rev} by {self.generator}"


@dataclass(frozen=True)
class Meta:
    """What the plan is of and where it came from (every page's header and footer)."""

    __pydantic_config__ = _CONFIG

    site: str
    """The site's slug: it names the site's folder, pages and files."""
    title: str
    """The site's title (the topology's ``title`` or one made from organization and site)."""
    organization: str
    """The organization, as typed into the wizards' Organization fields."""
    environment: Literal["production", "lab"]
    """Production or lab."""
    product: Literal["ocs2007"]
    """The product deployed: which catalog of ports, names and addresses the plan used."""
    source: str
    """The topology file the plan was derived from."""
    revision: str | None
    """The git revision of that file, if it is in git."""
    generator: str
    """The program and version that made the plan, e.g. ``runbook 0.1.0``."""
    provenance: str
    """The one provenance line every page and document prints."""


@dataclass(frozen=True)
class NextHop:
    """The internal server the Access Edge hands SIP to."""

    __pydantic_config__ = _CONFIG

    fqdn: str
    """Its FQDN (the wizard needs a name, never an address)."""
    kind: PoolKind
    """Director, Enterprise pool or Standard Edition server."""
    kind_name: str
    """The kind as words, e.g. ``Enterprise pool``."""
    reason: str
    """Why the edge points at this server."""
    explicit: bool
    """The topology names it (``next_hop``) rather than leaving the choice to runbook."""


@dataclass(frozen=True)
class PoolRow:
    """One internal pool, Director or Standard Edition server the edge must trust."""

    __pydantic_config__ = _CONFIG

    fqdn: str
    """Its FQDN."""
    kind: PoolKind
    """Director, Enterprise pool or Standard Edition server."""
    kind_name: str
    """The kind as words."""
    ip: str | None
    """Its address, when the topology gives one (then it goes into the hosts file)."""


@dataclass(frozen=True)
class FeatureRow:
    """The features one Access Edge runs with (after its per-server overrides)."""

    __pydantic_config__ = _CONFIG

    server: str
    """The Access Edge's server name."""
    remote_access: bool
    """Remote users sign in through it."""
    anonymous_meetings: bool
    """Anonymous users may join meetings through it."""
    federation: bool
    """Federation (and public IM) runs through it."""
    federation_discovery: bool
    """Federation partners are discovered through DNS SRV records."""
    public_im: list[str]
    """The public IM providers it connects to, by name."""


@dataclass(frozen=True)
class CertificateAuthorities:
    """The CAs that issue the site's certificates."""

    __pydantic_config__ = _CONFIG

    public: str | None
    """The public CA for the external interfaces (None: the internal CA issues them too)."""
    internal: str
    """The internal (enterprise) CA."""


@dataclass(frozen=True)
class ExternalCertificates:
    """How the Access and Web Conferencing Edges' external certificates are cut."""

    __pydantic_config__ = _CONFIG

    chosen: Literal["separate", "combined"]
    """The topology's ``certificates.external``: one certificate per role, or one for both."""
    recommended: Literal["separate", "combined"]
    """The way Microsoft's deployment guidance recommends."""
    reason: str
    """Why it recommends it."""


@dataclass(frozen=True)
class Change:
    """The change request's fields, as written in the topology's ``change:``."""

    __pydantic_config__ = _CONFIG

    id: str | None
    """The change's id in the change system."""
    title: str | None
    """The change's title."""
    window_start: str | None
    """Start of the change window."""
    window_end: str | None
    """End of the change window."""
    timezone: str | None
    """The time zone of the window."""
    requester: str | None
    """Who asks for the change."""
    implementer: str | None
    """Who carries it out."""
    approvers: list[str]
    """Who approves it."""
    risk: Literal["low", "medium", "high"] | None
    """The risk as assessed."""
    business_reason: str | None
    """Why the change is made."""
    contacts: list[str]
    """Whom to call during the window."""


@dataclass(frozen=True)
class Summary:
    """The site at a glance (the Overview page's table and the home page's row)."""

    __pydantic_config__ = _CONFIG

    title: str
    """The site's title."""
    layout: Layout
    """The deployment layout runbook recognised."""
    layout_text: str
    """The layout in one sentence."""
    sip_domains: list[str]
    """The SIP domains, the default first."""
    default_sip_domain: str
    """The default routing SIP domain."""
    internal_zone: str
    """The internal (AD) DNS zone."""
    external_zone: str
    """The external (Internet) DNS zone."""
    next_hop: NextHop | None
    """Where the Access Edge sends SIP inwards."""
    pools: list[PoolRow]
    """The internal pools and servers the edge trusts."""
    roles: list[Role]
    """The edge roles the site deploys."""
    role_names: list[str]
    """Those roles by name, in the same order."""
    role_fqdns: dict[str, str | None]
    """Role -> its public FQDN."""
    features: list[FeatureRow]
    """One row per Access Edge."""
    public_im: list[str]
    """The public IM provider ids used anywhere on the site (``msn``, ``aol``, ``yahoo``)."""
    load_balanced_roles: list[Role]
    """The roles behind the load balancer (empty without one)."""
    load_balancer_name: str | None
    """The load balancer's name (None without one)."""
    split: bool
    """Remote access and federation run on different Access Edges."""
    certificate_authorities: CertificateAuthorities
    """The CAs."""
    external_certificates: ExternalCertificates
    """Separate or combined external certificates, and which Microsoft recommends."""
    change: Change | None
    """The change request's fields, if the topology has them."""
    status: Literal["valid", "warnings"]
    """Valid, or valid with warnings."""


@dataclass(frozen=True)
class ServerRow:
    """One edge server."""

    __pydantic_config__ = _CONFIG

    name: str
    """Its host name."""
    fqdn: str
    """Its FQDN in the internal zone."""
    roles: list[Role]
    """The edge roles it runs."""
    role_names: list[str]
    """Those roles by name."""
    internal_name: str
    """The name its internal interface answers to (the internal VIP's in an array)."""


@dataclass(frozen=True)
class AddressRow:
    """One NIC of one server (the Addressing page's rows)."""

    __pydantic_config__ = _CONFIG

    server: str
    """The server's name."""
    nic: NicKind
    """Which NIC: the internal one or a role's external one."""
    nic_name: str
    """The NIC's name in Windows."""
    role: NicKind
    """The role the NIC serves (``internal`` for the internal NIC)."""
    role_name: str
    """That role by name."""
    ip: str
    """The NIC's address."""
    prefix: int
    """The prefix length."""
    netmask: str
    """The subnet mask, dotted."""
    gateway: str | None
    """The default gateway, on the one NIC that has it."""
    public_ip: str | None
    """The public address NAT maps to this NIC, if any."""
    fqdn: str
    """The name DNS gives this NIC."""
    dns_address: str
    """The address that name resolves to (public or VIP address where there is one)."""


@dataclass(frozen=True)
class RouteRow:
    """One persistent static route on an internal NIC."""

    __pydantic_config__ = _CONFIG

    server: str
    """The server's name."""
    to: str
    """The destination network (CIDR)."""
    via: str
    """The gateway."""
    command: str
    """The exact ``route -p add`` command."""


@dataclass(frozen=True)
class VipMember:
    """One server behind a VIP."""

    __pydantic_config__ = _CONFIG

    server: str
    """The server's name."""
    external_ip: str
    """Its address on the role's NIC."""
    internal_ip: str
    """Its internal address."""


@dataclass(frozen=True)
class Vip:
    """One role's virtual IP on the hardware load balancer."""

    __pydantic_config__ = _CONFIG

    role: Role
    """The role behind the VIP."""
    role_name: str
    """That role by name."""
    fqdn: str | None
    """The role's public FQDN."""
    external_ip: str | None
    """The external VIP address."""
    public_ip: str | None
    """The public address NAT maps to it, if any."""
    internal_ip: str | None
    """The internal VIP address."""
    internal_fqdn: str | None
    """The internal VIP's FQDN."""
    members: list[VipMember]
    """The servers behind it."""
    external_ports: list[str]
    """The ports balanced on the external side, e.g. ``TCP 443``."""
    internal_ports: list[str]
    """The ports balanced on the internal side."""
    persistence: str
    """The persistence setting to configure."""
    health_check: str
    """The health check to configure."""
    nat: str
    """Whether NAT is allowed."""


@dataclass(frozen=True)
class Certificate:
    """One certificate to request (or import) and assign."""

    __pydantic_config__ = _CONFIG

    id: str
    """Its id, used in file and vault entry names."""
    purpose: Literal["internal", "access_webconf", "access", "webconf", "av_auth",
                     "reverse_proxy"]
    """Internal interface, Access and Web Conferencing external interfaces together
    (``certificates.external: combined``) or each on its own, A/V authentication, the
    reverse proxy's listener."""
    title: str
    """What it is for, in words."""
    subject_cn: str
    """The subject name."""
    sans: list[str]
    """Every subject alternative name (the subject name first)."""
    issuer: Literal["internal", "public"]
    """Which CA kind issues it."""
    ca: str
    """The issuing CA's name."""
    exportable_key: bool
    """The private key is marked exportable (the certificate is shared by several servers)."""
    servers: list[str]
    """The servers it goes on."""
    interface: str
    """The interface or service it serves, in words."""
    component: str
    """The Certificate Wizard's Select Component option it is requested for and assigned to."""
    eku: list[str]
    """The enhanced key usages to ask for."""
    key_size: int
    """The key length in bits."""
    request_on: str
    """The server the request is made on."""
    notes: list[str] = field(default_factory=list)
    """Why it is shaped this way."""


@dataclass(frozen=True)
class DnsRecord:
    """One DNS record to request."""

    __pydantic_config__ = _CONFIG

    zone: str
    """The zone it goes into."""
    scope: Literal["external", "internal"]
    """Public DNS or AD DNS."""
    name: str
    """The record's owner name."""
    type: Literal["A", "SRV"]
    """The record type."""
    value: str
    """The address (A) or target host (SRV)."""
    port: int | None
    """The SRV port."""
    priority: int | None
    """The SRV priority."""
    weight: int | None
    """The SRV weight."""
    purpose: str
    """What the record is for."""
    added_by: str
    """Who adds it."""
    reason: str = ""
    """Why it is added that way (empty when obvious)."""


@dataclass(frozen=True)
class FirewallRule:
    """One firewall rule to request."""

    __pydantic_config__ = _CONFIG

    id: str
    """``E01``… on the external firewall, ``I01``… on the internal one."""
    firewall: Literal["external", "internal"]
    """Which firewall."""
    direction: Literal["inbound", "outbound"]
    """Towards the perimeter network or out of it."""
    source: str
    """The source, labelled (``address (name)``)."""
    destination: str
    """The destination, labelled."""
    protocol: Protocol
    """``TCP``, ``UDP`` or ``UDP+TCP``."""
    ports: str
    """A port or a range."""
    purpose: str
    """What the traffic is."""
    role: RuleRole
    """The role it serves (``all`` for every server)."""
    source_ip: str | None = None
    """The source's address, when it is one."""
    destination_ip: str | None = None
    """The destination's address, when it is one."""


@dataclass(frozen=True)
class Action:
    """One thing to do on a wizard screen; ``kind`` tells the renderer the verb."""

    __pydantic_config__ = _CONFIG

    kind: ActionKind
    """The verb: click, tick, clear, type, select, do, check, note, warning or vault."""
    label: str
    """The button, box, field or option, as the screen names it (or the thing to do)."""
    value: str | None = None
    """What to type or select, or the vault entry to paste from."""
    why: str | None = None
    """The reason, where it matters."""


@dataclass(frozen=True)
class Screen:
    """One wizard screen (or one group of things to do)."""

    __pydantic_config__ = _CONFIG

    title: str
    """The screen's title."""
    actions: list[Action]
    """What to do on it, in order."""


@dataclass(frozen=True)
class Step:
    """One step of the OCS 2007 Deployment Wizard for an edge server."""

    __pydantic_config__ = _CONFIG

    number: int
    """The wizard's step number (1 to 6)."""
    id: StepId
    """The step's id."""
    title: str
    """The wizard's name for the step."""
    screens: list[Screen]
    """Its screens, in order."""


@dataclass(frozen=True)
class ServerRunbook:
    """The installation runbook of one edge server."""

    __pydantic_config__ = _CONFIG

    server: str
    """The server's name."""
    fqdn: str
    """Its internal FQDN."""
    roles: list[Role]
    """The roles it runs."""
    role_names: list[str]
    """Those roles by name."""
    order: int
    """Its place in the installation order (from 1)."""
    imports_from: str | None
    """The server whose exported configuration it imports."""
    exports_to: list[str]
    """The servers that import its exported configuration."""
    steps: list[Step]
    """The six wizard steps."""


@dataclass(frozen=True)
class PicProvider:
    """One public IM provider the site connects to."""

    __pydantic_config__ = _CONFIG

    id: str
    """``msn``, ``aol`` or ``yahoo``."""
    name: str
    """The provider's name."""
    network_address: str
    """The provider's Access Edge address to enter on the IM Provider tab."""
    filter: str
    """The filter option to choose."""


@dataclass(frozen=True)
class PicField:
    """One field of the PIC provisioning request."""

    __pydantic_config__ = _CONFIG

    field: str
    """The form field."""
    value: str | None
    """Its value (None: to be filled in by the requester)."""


@dataclass(frozen=True)
class PicStep:
    """One stage of setting up Public IM Connectivity."""

    __pydantic_config__ = _CONFIG

    title: str
    """The stage."""
    actions: list[Action]
    """What to do."""


@dataclass(frozen=True)
class Pic:
    """Public IM Connectivity: enabling, provisioning and testing it."""

    __pydantic_config__ = _CONFIG

    edge: str
    """The Access Edge that connects to the providers."""
    access_fqdn: str | None
    """Its external FQDN (the providers are provisioned with it)."""
    providers: list[PicProvider]
    """The providers."""
    needs_client_auth_eku: bool
    """AOL is among them: the external certificate needs Client Authentication too."""
    submit: list[PicField]
    """The provisioning request's fields."""
    steps: list[PicStep]
    """The stages, in order."""


@dataclass(frozen=True)
class HostEntry:
    """One hosts-file line for the edge servers."""

    __pydantic_config__ = _CONFIG

    ip: str
    """The address."""
    fqdn: str
    """The name."""


@dataclass(frozen=True)
class SubnetMember:
    """One address on a subnet."""

    __pydantic_config__ = _CONFIG

    server: str
    """The server's name, or ``VIP``."""
    nic: str
    """The NIC (or ``<role>-external`` / ``<role>-internal`` for a VIP)."""
    ip: str
    """The address."""


@dataclass(frozen=True)
class Subnet:
    """A network the edge NICs and VIPs sit on (diagrams and the Addressing page)."""

    __pydantic_config__ = _CONFIG

    cidr: str
    """The network."""
    side: Literal["public", "perimeter", "internal"]
    """Where it is."""
    members: list[SubnetMember]
    """The addresses on it."""


@dataclass(frozen=True)
class Finding:
    """A deployment-rule warning about the topology, carried into the pages."""

    __pydantic_config__ = _CONFIG

    file: str
    """The topology file."""
    line: int
    """The line."""
    col: int
    """The column."""
    path: str
    """The field path."""
    message: str
    """What is wrong and what to do."""
    severity: Literal["error", "warning"]
    """Always ``warning`` in a plan."""
    code: str
    """The rule's code."""


@dataclass(frozen=True)
class PublishedUrl:
    """One URL the reverse proxy publishes."""

    __pydantic_config__ = _CONFIG

    url: str
    """The external URL remote clients use."""
    path: str
    """Its path on the pool's Web Components."""
    serves: str
    """What it serves."""


@dataclass(frozen=True)
class ReverseProxyPlan:
    """The reverse proxy publishing the pool's Web Components."""

    __pydantic_config__ = _CONFIG

    fqdn: str
    """The external web farm FQDN."""
    product: Literal["isa2006", "generic"]
    """ISA Server 2006 or any HTTPS reverse proxy."""
    product_name: str
    """The product by name."""
    external_ip: str
    """The listener's address on the external NIC."""
    public_ip: str | None
    """The address a NAT maps to the listener, if any."""
    dns_address: str
    """The address public DNS gives for the FQDN."""
    internal_ip: str
    """The reverse proxy's internal address."""
    internal_site: str
    """The published server: the pool FQDN (internal web farm) the rules forward to."""
    urls: list[PublishedUrl]
    """What it publishes."""
    certificate: str
    """The id of its listener certificate."""
    screens: list[Screen]
    """Setting it up, screen by screen."""
    notes: list[str]
    """Why it is set up this way."""


@dataclass(frozen=True)
class UiPlace:
    """Where a setting lives in the OCS 2007 administration tools (from the catalog)."""

    __pydantic_config__ = _CONFIG

    console: str
    """The console to open, e.g. the OCS 2007 administrative snap-in."""
    path: str
    """The way to the dialog, e.g. ``Forest node, Properties, Global Properties``."""
    tab: str | None
    """The dialog's tab (None for a wizard)."""
    field: str
    """The box, list or option to use."""
    sources: list[str]
    """The catalog's sources for this place (keys of the Reference page's source list)."""
    unconfirmed: str | None
    """What no source read backs up, if anything."""


@dataclass(frozen=True)
class PoolSetting:
    """One setting the pool side must hold for the edge, with where it lives."""

    __pydantic_config__ = _CONFIG

    id: Literal["trusted-access-edge", "trusted-av-auth", "webconf-edge", "pool-av-auth",
                "federation-route", "mediation-av-edge", "anonymous-participants",
                "user-access"]
    """What kind of setting it is."""
    title: str
    """The setting, in words."""
    entries: list[str]
    """What to enter or choose, one value per entry (e.g. ``FQDN:port``)."""
    where: UiPlace
    """Where it lives in the UI."""
    why: str
    """Why the pool needs it."""


@dataclass(frozen=True)
class WebConfEdgeEntry:
    """One Web Conferencing Edge as the pool's Web Conferencing Edge Server tab lists it."""

    __pydantic_config__ = _CONFIG

    server: str
    """The edge server's name."""
    internal_fqdn: str
    """Its internal FQDN."""
    internal_port: int
    """The internal (PSOM/MTLS) port the Web Conferencing servers connect to."""
    external_fqdn: str
    """Its public FQDN, handed to external meeting clients."""
    external_port: int
    """The external port those clients use."""


@dataclass(frozen=True)
class FederationRoute:
    """Where the internal servers send federated and public IM traffic (Federation tab)."""

    __pydantic_config__ = _CONFIG

    fqdn: str
    """The Director, or the Access Edge's internal name when there is no Director."""
    port: int
    """Its port."""
    via: Literal["director", "access_edge"]
    """A Director or the Access Edge."""


@dataclass(frozen=True)
class MediationRow:
    """One Mediation Server and the A/V authentication service it must use."""

    __pydantic_config__ = _CONFIG

    fqdn: str
    """The Mediation Server's FQDN."""
    av_edge: str
    """The A/V Edge's internal name to select (the A/V authentication service)."""


@dataclass(frozen=True)
class PoolSide:
    """What the pool and the forest must be told about the edge, done on an internal server."""

    __pydantic_config__ = _CONFIG

    access_edges: list[str]
    """The trusted Access Edge internal FQDNs (the internal VIP's in an array)."""
    av_auth_fqdn: str | None
    """The A/V authentication service's internal FQDN (None without an A/V Edge)."""
    av_auth_port: int | None
    """Its port (None without an A/V Edge)."""
    webconf_edges: list[WebConfEdgeEntry]
    """The Web Conferencing Edges the pool uses."""
    federation_route: FederationRoute | None
    """The global federation route (None when no Access Edge federates)."""
    mediation: list[MediationRow]
    """The Mediation Servers to point at the A/V Edge."""
    anonymous_participants: str | None
    """The Meetings tab's Anonymous participants choice (None: anonymous meetings are off)."""
    user_settings: list[str]
    """The per-user settings to enable for the users who need them."""
    settings: list[PoolSetting]
    """Every setting with where it lives in the UI."""
    screens: list[Screen]
    """The same, as steps to follow."""


@dataclass(frozen=True)
class FederationPartnerRow:
    """One federation partner and what each side needs."""

    __pydantic_config__ = _CONFIG

    domain: str
    """The partner's SIP domain."""
    access_edge: str | None
    """The partner's Access Edge FQDN, when the topology names it."""
    entry: Literal["domain-and-edge", "domain"]
    """What the Allow tab entry holds: the domain and the partner's Access Edge FQDN, or
    the domain alone."""
    found_by: str
    """How our Access Edge finds the partner's edge."""
    partner_dns: str
    """The DNS record the partner must publish for that."""


@dataclass(frozen=True)
class FederationPlan:
    """Federation with partners: the Allow tab entries, DNS on both sides, the limits."""

    __pydantic_config__ = _CONFIG

    edges: list[str]
    """The Access Edge servers that federate."""
    discovery: bool
    """Discovery of federation partners is allowed (enhanced federation)."""
    partners: list[FederationPartnerRow]
    """The partners on the Allow list."""
    our_records: list[DnsRecord]
    """Our public records partners use to find this site's Access Edge."""
    where: UiPlace
    """Where the Allow tab lives."""
    screens: list[Screen]
    """The Allow tab entries, step by step."""
    notes: list[str]
    """Why it is set up this way (trust, throttling, firewall)."""


@dataclass(frozen=True)
class CrlPoint:
    """One certificate revocation list the edge servers must be able to download."""

    __pydantic_config__ = _CONFIG

    ca: str
    """The CA whose list it is."""
    issuer: Literal["internal", "public"]
    """The internal CA, or the public CAs (this site's and its partners')."""
    url: str | None
    """The distribution point as the CA's certificates name it (None: not known here)."""
    scheme: Literal["http", "ldap"]
    """How the list is fetched."""
    host: str
    """The distribution point's host (or ``Internet (any)`` for the public CAs)."""
    port: str
    """The TCP port the rule opens."""
    firewall: Literal["external", "internal"]
    """The firewall the download crosses."""
    rules: list[str]
    """The ids of the firewall rules that allow it."""
    servers: list[str]
    """The servers that download it."""


@dataclass(frozen=True)
class CaImport:
    """One CA certificate to import into a computer's store by hand."""

    __pydantic_config__ = _CONFIG

    certificate: str
    """Which CA certificate, in words."""
    store: str
    """The computer account's store it goes into."""
    servers: list[str]
    """The servers (or other computers) it is imported on."""
    why: str
    """Why it is needed there."""


@dataclass(frozen=True)
class Trust:
    """Certificate chains and revocation: what each server imports and must reach."""

    __pydantic_config__ = _CONFIG

    crl: list[CrlPoint]
    """The revocation lists the edges download, with their firewall rules."""
    imports: list[CaImport]
    """The CA certificates imported by hand (the edges are not domain members)."""
    computers: list[str]
    """Every computer that imports one of them, in order."""
    screens: list[Screen]
    """Importing them with the Certificates snap-in, screen by screen."""
    internal: list[Action]
    """What the internal servers and the clients must trust."""
    notes: list[str]
    """Why it is set up this way."""


@dataclass(frozen=True)
class ValidationTest:
    """One end-to-end test from outside that proves part of the deployment."""

    __pydantic_config__ = _CONFIG

    id: str
    """Its id: ``signin-auto``, ``signin-manual``, ``address-book``, ``meeting-anonymous``,
    ``av-call``, ``federation`` or ``pic``."""
    title: str
    """What it proves."""
    where: str
    """Where to run it from."""
    steps: list[Action]
    """What to do."""
    success: str
    """What success looks like."""
    check: Action
    """The box that records it: a ``check`` of :attr:`success`, ticked (and the value seen
    written down) when the test passes."""
    then: list[Action]
    """What to do once it is checked (set back what the test changed)."""
    failure: list[str]
    """What failure looks like."""
    on_failure: list[str]
    """What to check when it fails, with this site's names and rules."""
    rules: list[str]
    """The ids of the firewall rules the test crosses."""


@dataclass(frozen=True)
class Validation:
    """Proving the deployment: the Validation Wizard, then tests from outside."""

    __pydantic_config__ = _CONFIG

    not_proof: str
    """Why the wizard's pass is not enough."""
    tests: list[ValidationTest]
    """The end-to-end tests this site's features call for, in order."""
    screens: list[Screen]
    """The same tests as screens of actions (the field runbook signs each one off)."""


@dataclass(frozen=True)
class Plan:
    """Everything derived from one topology, ready to render."""

    __pydantic_config__ = _CONFIG

    meta: Meta
    """What the plan is of, and its provenance."""
    summary: Summary
    """The site at a glance."""
    servers: list[ServerRow]
    """The edge servers."""
    addresses: list[AddressRow]
    """Every NIC of every server."""
    routes: list[RouteRow]
    """The persistent static routes."""
    vips: list[Vip]
    """The load balancer's VIPs (empty without one)."""
    certificates: list[Certificate]
    """The certificates."""
    dns: list[DnsRecord]
    """The DNS records."""
    firewall: list[FirewallRule]
    """The firewall rules, external then internal."""
    wizard: list[ServerRunbook]
    """The installation runbook, server by server in installation order."""
    pool_side: PoolSide
    """What the pool and the forest must configure for the edge."""
    federation: FederationPlan | None
    """Federation partners (None when no Access Edge federates)."""
    pic: Pic | None
    """Public IM Connectivity (None when no provider is used)."""
    reverse_proxy: ReverseProxyPlan | None
    """The reverse proxy for the Web Components (None when the topology has none)."""
    trust: Trust
    """Certificate chains and revocation lists."""
    validation: Validation
    """The tests that prove the deployment."""
    checklist: list[Action]
    """The "before you start" checklist."""
    hosts_file: list[HostEntry]
    """The hosts-file entries."""
    subnets: list[Subnet]
    """The networks, public, perimeter, internal."""
    warnings: list[Finding]
    """The deployment-rule warnings."""

    def to_dict(self) -> dict[str, Any]:
        """The plan as plain JSON-ready data (the templates' context).

        The same dict as ``dataclasses.asdict(self)``, made about five times faster.
        """
        result: dict[str, Any] = _plain(self)
        return result

    def to_json(self) -> str:
        """Deterministic JSON: same topology, same bytes."""
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"


_LEAVES = (str, int, float, bool, type(None))
_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _plain(value: Any) -> Any:
    """``dataclasses.asdict`` for a plan's values: dataclasses, lists, tuples, dicts, leaves.

    ``asdict`` looks up each dataclass's fields and deep-copies every leaf on every call;
    here the field names are looked up once per class, and immutable leaves are shared.
    """
    kind = type(value)
    if kind in _LEAVES:
        return value
    if kind is list:
        return [_plain(v) for v in value]
    if kind is dict:
        return {_plain(k): _plain(v) for k, v in value.items()}
    if kind is tuple:
        return tuple(_plain(v) for v in value)
    names = _FIELD_NAMES.get(kind)
    if names is None:
        if not (dataclasses.is_dataclass(value) and not isinstance(value, type)):
            return copy.deepcopy(value)  # as asdict does with anything else
        names = _FIELD_NAMES[kind] = tuple(f.name for f in dataclasses.fields(value))
    return {name: _plain(getattr(value, name)) for name in names}


SCHEMA_ID = "https://json-schema.org/draft/2020-12/schema"


def json_schema() -> dict[str, Any]:
    """The JSON Schema of ``runbook plan --json`` (and of the templates' ``plan``).

    Generated from the dataclasses above: every key is required and no other key is allowed,
    so a change of the plan's shape shows as a change of the committed schema file.
    """
    from pydantic import TypeAdapter

    schema: dict[str, Any] = TypeAdapter(Plan).json_schema(mode="serialization")
    for definition in [schema, *schema.get("$defs", {}).values()]:
        if definition.get("type") == "object" and "properties" in definition:
            definition["additionalProperties"] = False
    schema["$schema"] = SCHEMA_ID
    schema["title"] = "runbook plan"
    return schema


def _type_text(spec: dict[str, Any]) -> str:
    """A JSON Schema type, as a template author reads it."""
    if "$ref" in spec:
        name = spec["$ref"].rsplit("/", 1)[-1]
        return f"[{name}](#{name.lower()})"
    if "anyOf" in spec:
        return " or ".join(_type_text(s) for s in spec["anyOf"])
    if "enum" in spec:
        return " \\| ".join(f"`{json.dumps(v)}`" for v in spec["enum"])
    if "const" in spec:
        return f"`{json.dumps(spec['const'])}`"
    kind = spec.get("type")
    if kind == "array":
        return f"list of {_type_text(spec.get('items', {}))}"
    if kind == "object" and "additionalProperties" in spec:
        return f"mapping of string to {_type_text(spec['additionalProperties'])}"
    return {"string": "string", "integer": "integer", "boolean": "boolean", "null": "null",
            "number": "number"}.get(str(kind), "any")


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


#: What :func:`reference_markdown` says of where its text comes from, as ``schema/plan.md``.
REFERENCE_FILE_NOTE = ("This file is generated from `runbook/plan/model.py`: run "
                       "`runbook schema --plan --reference -o schema/plan.md` after changing "
                       "the types.")


def reference_markdown(note: str = REFERENCE_FILE_NOTE) -> str:
    """The template authors' reference: every section of the plan, field by field.

    Generated from the same types and docstrings as :func:`json_schema`; committed as
    ``schema/plan.md`` and published as the site's Template reference page, which says where
    it comes from in ``note`` (a Markdown paragraph) instead. Each type is a section whose
    anchor is its name in lower case, which every field of that type links to.
    """
    schema = json_schema()
    defs: dict[str, Any] = schema.get("$defs", {})
    out = ["# The plan: reference for template authors", "",
           "Every page template gets the site's plan as `plan` (the home page gets every plan "
           "as `sites`): the data `runbook plan --json FILE` prints, described by "
           "`schema/plan.schema.json`. In Jinja a field is `plan.summary.next_hop.fqdn`; a "
           "field that may be null is tested with `{% if ... %}` before use.", "",
           note, ""]
    sections = [("Plan", schema), *sorted(defs.items())]
    for name, definition in sections:
        out += [f"## {name}", "", _cell(definition.get("description", "")), ""]
        if "properties" not in definition:
            out += [f"One of: {_type_text(definition)}", ""]
            continue
        out += ["| Field | Type | Meaning |", "|---|---|---|"]
        for key, spec in definition["properties"].items():
            out.append(f"| `{key}` | {_type_text(spec)} | {_cell(spec.get('description', ''))} |")
        out.append("")
    return "\n".join(out)
