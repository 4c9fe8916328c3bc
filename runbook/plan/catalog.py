"""Product facts as cited data: one catalog per product, shipped as YAML beside this module.

``catalogs/<product>.yaml`` holds what the deriver must know about a product (ports and
protocols per role and interface, services, DNS record kinds, certificate rules and EKUs,
public IM provider addresses, wizard steps, every screen title and every button, box, field
and option name a runbook shows), each fact with the sources it comes from. :func:`catalog`
loads it into the frozen models below and checks that every cited source, every referenced
port and every name the deriver asks for exists, so a typo fails at load, not in a page.
"""

from __future__ import annotations

import functools
import re
import string
from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, computed_field, model_validator

from runbook.plan.model import Protocol, RuleRole

CATALOGS = Path(__file__).resolve().parent / "catalogs"
RoleKey = Literal["access", "webconf", "av"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Cited(_Frozen):
    """A fact with its sources (keys of :attr:`Catalog.sources`)."""

    sources: tuple[str, ...] = Field(min_length=1)
    unconfirmed: str | None = None
    """What no source read backs up, if anything."""


class Source(_Frozen):
    """A page a fact comes from."""

    title: str
    url: str


class RoleFacts(Cited):
    """One edge role: its name, its box on the Activate screen, its Windows services."""

    name: str
    activate_option: str
    services: tuple[str, ...]


class ServiceAccount(Cited):
    """The account the edge services run as (Activate Edge Server asks for its password)."""

    name: str


class Port(Cited):
    """One port a role listens on or connects to, on one interface."""

    role: RuleRole
    side: Literal["external", "internal"]
    direction: Literal["inbound", "outbound"]
    protocols: tuple[Protocol, ...] = Field(min_length=1)
    port: str
    purpose: str

    def label(self) -> str:
        """``TCP 443``: how a VIP's port list names it."""
        return f"{'+'.join(self.protocols)} {self.port}"


class LoadBalancer(Cited):
    """The ports a hardware load balancer balances per role, by port id."""

    external: dict[RoleKey, tuple[str, ...]]
    internal: dict[RoleKey, tuple[str, ...]]


#: What each field of a DNS record kind's patterns stands for (the Reference page shows them).
DNS_FIELDS = {"public_fqdn": "role's public FQDN", "internal_fqdn": "edge server's internal FQDN",
              "domain": "SIP domain", "role": "role", "server": "server"}
#: The kinds the deriver fills in, with the fields it gives each (a pattern naming another
#: fails the catalog's load, not a derivation).
DNS_KIND_FIELDS = {"role-a": {"public_fqdn", "role"}, "remote-access-srv": {"domain"},
                   "federation-srv": {"domain"}, "internal-a": {"internal_fqdn", "server"}}


class DnsRecordKind(Cited):
    """One kind of DNS record the edge needs."""

    type: Literal["A", "SRV"]
    name: str
    """The record's name, a pattern of :data:`DNS_FIELDS` (``_sip._tls.{domain}``)."""
    zone: Literal["external", "internal"]
    port: str | None = None
    """The port id an SRV record points at."""
    purpose: str
    """What it is for, a pattern of :data:`DNS_FIELDS`."""

    @model_validator(mode="after")
    def _known_fields(self) -> DnsRecordKind:
        unknown = sorted(self.fields - set(DNS_FIELDS))
        if unknown:
            raise ValueError(f"{self.name!r}, {self.purpose!r}: no field {{{unknown[0]}}}; the "
                             "fields are " + ", ".join(f"{{{f}}}" for f in DNS_FIELDS))
        return self

    @property
    def fields(self) -> set[str]:
        """The fields its name and purpose use."""
        return _fields(self.name) | _fields(self.purpose)

    def record_name(self, **fields: str) -> str:
        """The record's name for these fields (``domain="contoso.com"``)."""
        return fill(self.name, **fields)

    def record_purpose(self, **fields: str) -> str:
        """Its purpose for these fields."""
        return fill(self.purpose, **fields)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def name_pattern(self) -> str:
        """The name as the Reference page shows it: ``_sip._tls.<SIP domain>``."""
        return _shown(self.name)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def purpose_pattern(self) -> str:
        """The purpose as the Reference page shows it (``... of <SIP domain>``)."""
        return _shown(self.purpose)


def _shown(pattern: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: f"<{DNS_FIELDS[m.group(1)]}>", pattern)


class Eku(Cited):
    """An extended key usage: its name in the wizards, its OID, OpenSSL's short name."""

    name: str
    oid: str = Field(pattern=r"^\d+(\.\d+)+$")
    openssl: str


class CertificateKind(Cited):
    """One kind of certificate the edge needs, with its rule and EKUs (keys of ``ekus``)."""

    title: str
    interface: str | None = None
    component: str
    """The Communications Certificate Wizard's Select Component option for it."""
    ekus: tuple[str, ...]
    aol_ekus: tuple[str, ...] | None = None
    """The EKUs when AOL public IM connectivity is used, if different."""
    rule: str


CertificateKey = Literal["internal", "access_webconf", "access", "webconf", "av_auth",
                         "reverse_proxy"]


class ExternalCertificates(Cited):
    """``certificates.external``: the way Microsoft recommends, and why."""

    recommended: Literal["separate", "combined"]
    reason: str


class PublishedPath(Cited):
    """A path of the pool's Web Components the reverse proxy publishes."""

    path: str
    serves: str
    lacking: str
    """What remote users lack without it."""


IsaScreenKey = Literal["rule", "action", "publishing_type", "security", "internal",
                       "public_name", "listener", "delegation", "users", "completing"]


class IsaScreen(Cited):
    """A page of ISA Server 2006's New Web Publishing Rule wizard and the choice on it."""

    id: IsaScreenKey
    title: str
    choice: str


class ReverseProxyFacts(Cited):
    """The reverse proxy in front of the pool's Web Components."""

    products: dict[Literal["isa2006", "generic"], str]
    paths: tuple[PublishedPath, ...]
    web_component_properties: Label
    isa_screens: tuple[IsaScreen, ...]


class UiStep(Cited):
    """A screen of a Windows tool (the Certificates snap-in) and what to choose on it."""

    title: str
    choice: str
    kind: Literal["do", "select"] = "select"
    """``do`` for a menu path to follow, ``select`` for an option to choose."""


class TrustFacts(Cited):
    """Certificate chains and revocation: the computer's stores and the snap-in screens."""

    stores: dict[Literal["root", "intermediate"], Label]
    snap_in: tuple[UiStep, ...]
    revocation: Label
    """Why every server must reach the CRL of every certificate in a chain."""
    ldap_cdp: Label
    """Why an LDAP distribution point does not serve a workgroup edge."""


class ValidationTestFacts(Cited):
    """An end-to-end test from outside: what success and failure look like."""

    title: str
    named_title: str | None = None
    """The title when the topology names the partner or provider (``{partner}``,
    ``{provider}``)."""
    success: str
    failure: tuple[str, ...] = Field(min_length=1)


ValidationTestKey = Literal["signin-auto", "signin-manual", "address-book", "meeting-anonymous",
                            "av-call", "federation", "pic"]


class ValidationFacts(Cited):
    """Step 6 (the Validation Wizard) and the tests that prove the deployment."""

    wizard: dict[Literal["local", "connectivity", "users", "federated"], Label]
    not_proof: Label
    tests: dict[ValidationTestKey, ValidationTestFacts]


class Provider(Cited):
    """A public IM provider: its name and its Access Edge's network address."""

    name: str
    network_address: str


class Option(Cited):
    """A filter option of the IM Provider tab."""

    option: str


class StepFacts(Cited):
    """A Deployment Wizard step for an edge server."""

    number: int
    id: Literal["install", "activate", "configure", "certificates", "services", "validate"]
    title: str


class Label(Cited):
    """A wizard screen, box or option name as the product shows it."""

    label: str


class ScreenName(Cited):
    """The title of a screen (or of a group of actions) a runbook shows.

    ``{name}`` fields are filled in by the deriver (a certificate, a server, a store).
    """

    title: str
    kind: Literal["screen", "group"] = "screen"
    """``screen``: a screen, page, tab or dialog the product shows under this title;
    ``group``: the runbook's own heading for actions the sources describe."""


ScreenKey = Literal[
    "install_before", "deployment_wizard", "install_license", "install_customer",
    "install_folder", "activate_roles", "activate_account", "activate_ready",
    "configure_import", "configure_internal", "configure_external", "configure_features",
    "configure_next_hop", "configure_sip_domains", "configure_servers", "configure_ready",
    "configure_finish", "certificates_trust", "certificates_import", "certificates_request",
    "certificates_done", "services_start", "validate_options", "validate_results",
    "rp_before", "rp_rule", "rp_test", "trust_import", "pool_edge_servers",
    "pool_webconf_edge", "pool_media", "pool_mediation", "pool_federation", "pool_meetings",
    "pool_users_wizard", "federation_allow", "pic_edge", "pic_users", "pic_submit",
    "pic_wait", "pic_test"]
"""Every screen title the deriver writes, by id (``screens`` in the catalog)."""

WizardKey = Literal[
    "deploy_other_roles", "deploy_edge", "install", "install_files", "accept_license",
    "organization", "product_key", "run", "service_password", "view_log", "import_settings",
    "internal_ip", "internal_fqdn", "role_ip", "role_fqdn", "remote_access", "federation",
    "federation_discovery", "anonymous", "public_im", "remote_federated", "next_hop_fqdn",
    "next_hop_port", "sip_domain", "internal_server", "export", "create_certificate",
    "component", "delayed_request", "friendly_name", "bit_length", "exportable",
    "certificate_organization", "subject_name", "subject_alternate_name", "request_file",
    "process_pending", "certificate_file", "assign_to", "import_pfx", "pfx_password",
    "export_pfx", "test_user_uri", "test_user_password", "test_pool"]
"""Every name of the Deployment Wizard's six steps the deriver writes (``wizard``)."""

UiKey = Literal[
    "isa_rule_name", "isa_internal_site", "isa_path", "isa_public_name", "isa_listener_ip",
    "isa_listener_certificate", "isa_apply", "isa_test_rule", "rp_host", "rp_listener",
    "rp_paths", "rp_forward", "rp_authentication", "webconf_internal", "webconf_external",
    "federation_enable", "federation_fqdn", "federation_port", "web_farm_fqdn",
    "user_remote_access", "user_federation", "user_public_im", "user_enable_public_im",
    "allow_add", "im_provider_tab", "pic_allow", "pic_form", "pic_field_domains",
    "pic_field_fqdn", "pic_field_organization", "pic_field_providers", "pic_field_agreement",
    "pic_field_contact", "communicator_address", "communicator_configuration",
    "communicator_automatic", "communicator_password", "communicator_sign_in",
    "communicator_advanced", "communicator_manual", "communicator_server",
    "communicator_transport", "communicator_tls", "live_meeting_key", "live_meeting_name"]
"""Every name in the other tools (snap-in, ISA, Communicator, PIC form) the deriver writes
(``ui``)."""


def _fields(text: str) -> set[str]:
    """The ``{name}`` fields of a catalog title or label."""
    found = set()
    for _, name, spec, conversion in string.Formatter().parse(text):
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:
            raise ValueError(f"{text!r}: a field is written {{name}}, not {{{name}}}")
        found.add(name)
    return found


def fill(text: str, **values: object) -> str:
    """``text`` with its ``{name}`` fields filled in; the fields and ``values`` must match."""
    if _fields(text) != set(values):
        raise ValueError(f"{text!r} has fields {sorted(_fields(text))}, "
                         f"given {sorted(values)}")
    return text.format(**values) if values else text


class UiPlace(Cited):
    """Where a setting lives in the OCS 2007 administration tools."""

    console: str
    path: str
    """The way to the dialog, e.g. ``Forest node, Properties, Global Properties``."""
    tab: str | None
    field: str
    """The box, list or option to use."""
    options: dict[str, str] = Field(default_factory=dict)
    """The choices of a list, by id, as the dialog names them."""


PoolSettingKey = Literal["trusted_access_edge", "trusted_av_auth", "webconf_edge",
                         "pool_av_auth", "federation_route", "mediation_av_edge",
                         "anonymous_participants", "anonymous_per_user", "users_wizard",
                         "user_properties"]


class PartnerSrv(Cited):
    """The DNS SRV record a federation partner publishes for discovery."""

    name: str
    port: str
    """The port id it points at."""


class FederationFacts(Cited):
    """Federation partners on the Access Edge: the Allow tab, its fields, DNS, limits."""

    allow_tab: UiPlace
    partner_domain: Label
    partner_edge: Label
    partner_srv: PartnerSrv
    throttling: Label
    firewall: Label


class Catalog(_Frozen):
    """Every product fact the deriver reads, with its sources."""

    product: str
    name: str
    version_note: str
    sources: dict[str, Source]
    roles: dict[RoleKey, RoleFacts]
    interfaces: dict[str, str]
    service_account: ServiceAccount
    ports: dict[str, Port]
    load_balancer: LoadBalancer
    dns_records: dict[str, DnsRecordKind]
    ekus: dict[str, Eku]
    certificates: dict[CertificateKey, CertificateKind]
    external_certificates: ExternalCertificates
    reverse_proxy: ReverseProxyFacts
    trust: TrustFacts
    validation: ValidationFacts
    providers: dict[Literal["msn", "aol", "yahoo"], Provider]
    provider_filter: Option
    steps: tuple[StepFacts, ...]
    screens: dict[ScreenKey, ScreenName]
    wizard: dict[WizardKey, Label]
    ui: dict[UiKey, Label]
    pool_side: dict[PoolSettingKey, UiPlace]
    federation: FederationFacts

    @model_validator(mode="after")
    def _references_exist(self) -> Catalog:
        cited: list[tuple[str, Cited]] = [
            ("service_account", self.service_account), ("load_balancer", self.load_balancer),
            ("provider_filter", self.provider_filter),
            ("external_certificates", self.external_certificates),
            ("reverse_proxy", self.reverse_proxy),
            ("reverse_proxy.web_component_properties",
             self.reverse_proxy.web_component_properties),
            *((f"reverse_proxy.paths.{p.path}", p) for p in self.reverse_proxy.paths),
            *((f"reverse_proxy.isa_screens.{x.title}", x)
              for x in self.reverse_proxy.isa_screens),
            *((f"roles.{k}", v) for k, v in self.roles.items()),
            *((f"ports.{k}", v) for k, v in self.ports.items()),
            *((f"dns_records.{k}", v) for k, v in self.dns_records.items()),
            *((f"ekus.{k}", v) for k, v in self.ekus.items()),
            *((f"certificates.{k}", v) for k, v in self.certificates.items()),
            *((f"providers.{k}", v) for k, v in self.providers.items()),
            *((f"steps.{s.id}", s) for s in self.steps),
            *((f"screens.{k}", v) for k, v in self.screens.items()),
            *((f"wizard.{k}", v) for k, v in self.wizard.items()),
            *((f"ui.{k}", v) for k, v in self.ui.items()),
            *((f"pool_side.{k}", v) for k, v in self.pool_side.items()),
            ("federation", self.federation),
            *((f"federation.{k}", getattr(self.federation, k))
              for k in ("allow_tab", "partner_domain", "partner_edge", "partner_srv",
                        "throttling", "firewall")),
            ("trust", self.trust), ("trust.revocation", self.trust.revocation),
            ("trust.ldap_cdp", self.trust.ldap_cdp),
            *((f"trust.stores.{k}", v) for k, v in self.trust.stores.items()),
            *((f"trust.snap_in.{x.title}", x) for x in self.trust.snap_in),
            ("validation", self.validation),
            ("validation.not_proof", self.validation.not_proof),
            *((f"validation.wizard.{k}", v) for k, v in self.validation.wizard.items()),
            *((f"validation.tests.{k}", v) for k, v in self.validation.tests.items())]
        for where, fact in cited:
            for key in fact.sources:
                if key not in self.sources:
                    raise ValueError(f"{where} cites unknown source {key!r}")
        ports = [p for side in (self.load_balancer.external, self.load_balancer.internal)
                 for ids in side.values() for p in ids]
        ports += [d.port for d in self.dns_records.values() if d.port]
        ports.append(self.federation.partner_srv.port)
        for port in ports:
            if port not in self.ports:
                raise ValueError(f"unknown port id {port!r}")
        for key, fields in DNS_KIND_FIELDS.items():
            if key not in self.dns_records:
                raise ValueError(f"dns_records: no {key!r} (the deriver makes records of it)")
            extra = self.dns_records[key].fields - fields
            if extra:
                raise ValueError(f"dns_records.{key}: {{{sorted(extra)[0]}}} is not given for "
                                 "this kind; it has "
                                 + ", ".join(f"{{{f}}}" for f in sorted(fields)))
        for kind in self.certificates.values():
            for eku in (*kind.ekus, *(kind.aol_ekus or ())):
                if eku not in self.ekus:
                    raise ValueError(f"unknown EKU {eku!r}")
        # Every name the deriver asks for is here (the keys are typed, so a typo in the
        # deriver fails the type check and a stray key fails the load).
        for section, table, keys in (("screens", self.screens, ScreenKey),
                                     ("wizard", self.wizard, WizardKey),
                                     ("ui", self.ui, UiKey),
                                     ("pool_side", self.pool_side, PoolSettingKey)):
            missing = [k for k in get_args(keys) if k not in table]
            if missing:
                raise ValueError(f"{section} lacks {', '.join(missing)}")
        isa = [x.id for x in self.reverse_proxy.isa_screens]
        if sorted(isa) != sorted(get_args(IsaScreenKey)):
            raise ValueError(f"reverse_proxy.isa_screens must have each id once: {isa}")
        for text in self.screen_titles() + [x.label for x in (*self.wizard.values(),
                                                             *self.ui.values())]:
            _fields(text)
        return self

    # -- what the deriver asks ------------------------------------------------------------

    def port(self, port_id: str) -> str:
        """The port number (or range) of ``port_id``, e.g. ``"5061"``."""
        return self.ports[port_id].port

    def role_name(self, role: str) -> str:
        """``Access Edge`` for ``access``; interfaces such as ``internal`` too."""
        if role in self.roles:
            return self.roles[role].name
        return self.interfaces[role]

    def role_names(self) -> dict[str, str]:
        """Role (and interface) key -> name, roles first in catalog order."""
        return {**{k: v.name for k, v in self.roles.items()}, **self.interfaces}

    def vip_ports(self, side: Literal["external", "internal"], role: RoleKey) -> list[str]:
        """The labels (``TCP 443``) of the ports a VIP of ``role`` balances on ``side``."""
        table = self.load_balancer.external if side == "external" else \
            self.load_balancer.internal
        return [self.ports[p].label() for p in table.get(role, ())]

    def eku_names(self, kind: CertificateKey, aol: bool = False) -> list[str]:
        """The EKU names a certificate of ``kind`` asks for."""
        facts = self.certificates[kind]
        keys = facts.aol_ekus if aol and facts.aol_ekus else facts.ekus
        return [self.ekus[k].name for k in keys]

    def eku_named(self, name: str) -> Eku | None:
        """The EKU the wizards call ``name`` (``Server Authentication``), or None."""
        return next((e for e in self.ekus.values() if e.name == name), None)

    def label(self, key: WizardKey, **values: object) -> str:
        """A name (box, button, option) of the Deployment Wizard, its fields filled in."""
        return fill(self.wizard[key].label, **values)

    def ui_name(self, key: UiKey, **values: object) -> str:
        """A name in another tool (snap-in, ISA, Communicator, PIC form), filled in."""
        return fill(self.ui[key].label, **values)

    def screen(self, key: ScreenKey, **values: object) -> str:
        """A screen title, its fields (``{certificate}``, ``{server}``...) filled in."""
        return fill(self.screens[key].title, **values)

    def test_title(self, key: ValidationTestKey, **values: object) -> str:
        """A test's title naming its partner or provider (its ``named_title``)."""
        facts = self.validation.tests[key]
        return fill(facts.named_title or facts.title, **values)

    def screen_titles(self) -> list[str]:
        """Every screen title a plan can show, ``{name}`` fields unfilled: the screens, the
        ISA and Certificates snap-in pages, the tests from outside, the Validation Wizard's
        user page and the pool's Web Component Properties."""
        tests = self.validation.tests.values()
        return [*(x.title for x in self.screens.values()),
                *(x.title for x in self.reverse_proxy.isa_screens),
                *(x.title for x in self.trust.snap_in),
                *(x.title for x in tests), *(x.named_title for x in tests if x.named_title),
                self.validation.wizard["users"].label,
                self.reverse_proxy.web_component_properties.label]

    def step_titles(self) -> dict[int, str]:
        """Wizard step number -> title."""
        return {s.number: s.title for s in self.steps}


PRODUCTS = ("ocs2007",)


@functools.cache
def catalog(product: str = "ocs2007") -> Catalog:
    """The catalog of ``product`` (``ocs2007``), loaded once per process."""
    if product not in PRODUCTS:
        raise ValueError(f"no catalog for product {product!r}; known: {', '.join(PRODUCTS)}")
    data = load_catalog_yaml((CATALOGS / f"{product}.yaml").read_text(encoding="utf-8"))
    return Catalog.model_validate(data)


class _UniqueKeys(yaml.SafeLoader):
    """YAML's safe loader, refusing a mapping that names a key twice (PyYAML keeps the last
    silently: a second source of one id would replace the first)."""


def _unique_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    keys = [loader.construct_object(key) for key, _ in node.value]
    for index, key in enumerate(keys):
        if key in keys[:index]:
            raise ValueError(f"line {node.value[index][0].start_mark.line + 1}: {key!r} is "
                             "given twice in one mapping")
    return loader.construct_mapping(node)


_UniqueKeys.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)


def load_catalog_yaml(text: str) -> Any:
    """A catalog file's data; ``ValueError`` for a key given twice in one mapping."""
    return yaml.load(text, Loader=_UniqueKeys)  # a safe loader
