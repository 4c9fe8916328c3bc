"""The derived plan: every fact a deployment needs, as plain data.

:func:`build_plan` turns a valid :class:`~runbook.topology.model.Topology` into a :class:`Plan` of
dataclasses; :meth:`Plan.to_dict` gives the dict every template, diagram and export reads.
Nothing downstream computes topology facts itself, so the pages, the diagrams and the
documents cannot disagree.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any, Literal, cast
from urllib.parse import urlsplit

from runbook.plan.catalog import PoolSettingKey, ValidationTestKey, catalog
from runbook.plan.model import (
    Action,
    AddressRow,
    CaImport,
    Certificate,
    CertificateAuthorities,
    Change,
    CrlPoint,
    DnsRecord,
    ExternalCertificates,
    FeatureRow,
    FederationPartnerRow,
    FederationPlan,
    FederationRoute,
    Finding,
    FirewallRule,
    HostEntry,
    Layout,
    MediationRow,
    Meta,
    NextHop,
    Pic,
    PicField,
    PicProvider,
    PicStep,
    Plan,
    PoolRow,
    PoolSetting,
    PoolSide,
    Protocol,
    Provenance,
    PublishedUrl,
    ReverseProxyPlan,
    Role,
    RouteRow,
    RuleRole,
    Screen,
    ServerRow,
    ServerRunbook,
    Step,
    Subnet,
    SubnetMember,
    Summary,
    Trust,
    UiPlace,
    Validation,
    ValidationTest,
    Vip,
    VipMember,
    WebConfEdgeEntry,
)
from runbook.topology.model import (
    EffectiveFeatures,
    Server,
    Topology,
    deployed_roles,
    effective_features,
    next_hop_pool,
    role_fqdn,
    server_fqdn,
    servers_with,
)
from runbook.topology.rules import is_public, is_split, load_balanced_roles

__all__ = ["Plan", "Provenance", "build_plan", "domain_alias"]

INTERNET = "Internet (any)"
ROLES: tuple[Role, ...] = ("access", "webconf", "av")
NICS: tuple[Literal["internal", "access", "webconf", "av"], ...] = ("internal", "access",
                                                                   "webconf", "av")
KIND_NAMES = {"enterprise": "Enterprise pool", "standard": "Standard Edition server",
              "director": "Director"}


@dataclasses.dataclass(frozen=True)
class _Cdp:
    url: str | None
    scheme: Literal["http", "ldap"]
    host: str
    ip: str | None
    port_id: str
    port: str
    label: str


def _addr(ip: str) -> str:
    return ip.split("/")[0]


def domain_alias(access_fqdn: str, domain: str) -> str:
    """The Access Edge's name in another SIP domain: its first label under that domain.

    ``sip.contoso.com`` serves SIP domain ``contoso.net`` as ``sip.contoso.net``; the external
    certificate carries it so clients of that domain can match the SRV target.
    """
    return f"{access_fqdn.split('.', 1)[0]}.{domain}"


class _Deriver:
    """Holds one topology while the parts of its plan are derived."""

    def __init__(self, t: Topology) -> None:
        self.t = t
        self.partners = [p.domain for p in t.edge.federation_partners]
        self.lb = t.edge.load_balancer
        self.balanced = cast(list[Role], load_balanced_roles(t))
        self.split = is_split(t)
        self.roles = cast(list[Role], deployed_roles(t))
        self.hop = next_hop_pool(t)
        self.features = t.edge.features
        self.cat = catalog(t.product)
        self.names = self.cat.role_names()
        self.providers: dict[str, str] = {k: v.name for k, v in self.cat.providers.items()}
        self.provider_addresses: dict[str, str] = {
            k: v.network_address for k, v in self.cat.providers.items()}
        # Indexes made once, so that no part of the plan scans every server per server.
        self._with_role: dict[str, list[Server]] = {r: servers_with(t, r) for r in ROLES}
        self._features: dict[int, EffectiveFeatures] = {}
        self._group_first: dict[frozenset[str], Server] = {}
        self._pic_owners: list[Server] | None = None
        for s in t.edge.servers:
            self._group_first.setdefault(frozenset(s.roles), s)

    # -- names and addresses -------------------------------------------------------------

    def vip(self, role: str) -> Any:
        return getattr(self.lb, role) if self.lb is not None and role in self.balanced else None

    def internal_name(self, server: Server) -> str:
        """The FQDN the internal interface answers to (the internal VIP's in an array)."""
        for role in ("access", "av"):
            vip = self.vip(role)
            if vip is not None and role in server.roles and vip.internal_fqdn:
                fqdn: str = vip.internal_fqdn
                return fqdn
        return server_fqdn(self.t, server)

    def internal_vip_ip(self, server: Server) -> str | None:
        """The internal VIP address of the array ``server`` belongs to, if any."""
        for role in ("access", "av"):
            vip = self.vip(role)
            if vip is not None and role in server.roles:
                address: str | None = vip.internal_ip
                return address
        return None

    def public_address(self, server: Server, role: str) -> str:
        """The address public DNS and remote clients use for ``role`` on ``server``."""
        vip = self.vip(role)
        if vip is not None:
            public: str = vip.public_ip or vip.external_ip
            return public
        nic = getattr(server.nics, role)
        return nic.public_ip or _addr(nic.ip)

    def access_servers(self) -> list[Server]:
        return self._with_role["access"]

    def with_role(self, role: str) -> list[Server]:
        """The servers running ``role``, in file order (one list per plan: do not change it)."""
        return self._with_role[role]

    def features_of(self, server: Server) -> EffectiveFeatures:
        """``server``'s effective features, worked out once per server."""
        found = self._features.get(id(server))
        if found is None:
            found = effective_features(self.t, server,
                                       webconf_deployed=bool(self._with_role["webconf"]))
            self._features[id(server)] = found
        return found

    def layout(self) -> Layout:
        if self.split:
            return "split"
        if self.balanced:
            return "load-balanced"
        if len(self.t.edge.servers) == 1:
            return "consolidated" if len(self.roles) == 3 else "single-server"
        return "single-site"

    def layout_text(self) -> str:
        roles = " + ".join(self.names[r] for r in self.roles)
        return {
            "consolidated": "one Consolidated Edge Server running all three edge roles, each "
                            "on its own NIC and address",
            "single-server": f"one edge server running {roles}",
            "single-site": "edge roles spread over several servers without load balancing "
                           "(Access and Web Conferencing together, A/V Edge on its own)",
            "load-balanced": "edge servers behind a hardware load balancer, one VIP per role, "
                             "with the A/V Edge on servers of its own",
            "split": "split Access Edges: one for remote user access, another for "
                     "federation and public IM",
        }[self.layout()]

    def server_order(self) -> list[Server]:
        return list(self.t.edge.servers)

    def first_of_group(self, server: Server) -> Server | None:
        """The server whose exported configuration ``server`` imports (None if it is first)."""
        if any(role in server.roles for role in self.balanced):
            # One group per set of roles, whatever order the topology lists them in.
            first = self._group_first[frozenset(server.roles)]
            if first is not server:
                return first
        return None

    # -- plan parts ----------------------------------------------------------------------

    def addresses(self) -> list[AddressRow]:
        rows = []
        for s in self.t.edge.servers:
            for nic_key in NICS:
                nic = getattr(s.nics, nic_key)
                if nic is None:
                    continue
                iface = ipaddress.IPv4Interface(nic.ip)
                if nic_key == "internal":
                    fqdn = server_fqdn(self.t, s)
                    dns_address = str(iface.ip)
                else:
                    fqdn = role_fqdn(self.t, s, nic_key) or ""
                    dns_address = self.public_address(s, nic_key)
                rows.append(AddressRow(
                    server=s.name, nic=nic_key,
                    nic_name=nic.name or f"{self.names[nic_key]}",
                    role=nic_key, role_name=self.names[nic_key], ip=str(iface.ip),
                    prefix=iface.network.prefixlen, netmask=str(iface.network.netmask),
                    gateway=nic.gateway, public_ip=nic.public_ip, fqdn=fqdn,
                    dns_address=dns_address))
        return rows

    def routes(self) -> list[RouteRow]:
        rows = []
        for s in self.t.edge.servers:
            for r in s.nics.internal.routes:
                net = ipaddress.IPv4Network(r.to)
                rows.append(RouteRow(server=s.name, to=r.to, via=r.via, command=(
                    f"route -p add {net.network_address} mask {net.netmask} {r.via}")))
        return rows

    def subnets(self) -> list[Subnet]:
        """Networks the edge NICs and VIPs sit on, for diagrams and the addressing page."""
        nets: dict[str, dict[str, Any]] = {}
        for row in self.addresses():
            net = ipaddress.IPv4Interface(f"{row.ip}/{row.prefix}").network
            side = "internal" if row.nic == "internal" else (
                "public" if is_public(row.ip) else "perimeter")
            entry = nets.setdefault(str(net), {"cidr": str(net), "side": side, "members": []})
            entry["members"].append({"server": row.server, "nic": row.nic, "ip": row.ip})
        for vip in self.vips():
            for ip, side in ((vip.external_ip, "external"), (vip.internal_ip, "internal")):
                if ip is None:
                    continue
                addr = ipaddress.IPv4Address(ip)
                for entry in nets.values():
                    if addr in ipaddress.IPv4Network(entry["cidr"]):
                        entry["members"].append({"server": "VIP", "nic": f"{vip.role}-{side}",
                                                 "ip": ip})
                        break
        order = {"public": 0, "perimeter": 1, "internal": 2}
        return [Subnet(cidr=e["cidr"], side=e["side"],
                       members=[SubnetMember(**m) for m in e["members"]])
                for e in sorted(nets.values(), key=lambda e: (order[e["side"]],
                                                              ipaddress.IPv4Network(e["cidr"])))]

    def vips(self) -> list[Vip]:
        port = self.cat.port
        out = []
        for role in self.balanced:
            vip = self.vip(role)
            if vip is None:
                continue
            members = []
            for s in self.with_role(role):
                nic = getattr(s.nics, role)
                members.append(VipMember(server=s.name, external_ip=_addr(nic.ip),
                                         internal_ip=_addr(s.nics.internal.ip)))
            out.append(Vip(
                role=role, role_name=self.names[role], fqdn=getattr(self.t.edge.fqdns, role),
                external_ip=vip.external_ip, public_ip=vip.public_ip,
                internal_ip=vip.internal_ip, internal_fqdn=vip.internal_fqdn,
                members=members, external_ports=self.cat.vip_ports("external", role),
                internal_ports=self.cat.vip_ports("internal", role),
                persistence=("source address affinity; each A/V session stays on the A/V "
                             "Edge that answered first" if role == "av" else
                             "TCP session affinity (source address), long idle timeout "
                             "(at least 20 minutes) for SIP and PSOM connections"),
                health_check=(f"TCP connect to each member's TCP {port('av-stun-tcp')} and "
                              f"{port('av-auth')}" if role == "av" else
                              f"TCP connect to each member's TCP {port('access-internal-in')}"
                              if role == "access" else
                              f"TCP connect to each member's TCP {port('webconf-psom')}"),
                nat=("none: the A/V VIP and members use public addresses, never NAT"
                     if role == "av" else "destination NAT to the VIP is allowed")))
        return out

    def certificates(self) -> list[Certificate]:
        t = self.t
        certs: list[Certificate] = []
        internal_ca = t.certificates.internal_ca
        key_size = t.certificates.key_size
        kinds = self.cat.certificates
        # Internal interface: one per server, or one per load-balanced array (VIP FQDN).
        arrays: dict[str, list[Server]] = {}
        for x in t.edge.servers:
            arrays.setdefault(self.internal_name(x), []).append(x)
        for name, members in arrays.items():
            s = members[0]
            holders = [x.name for x in members]
            shared = len(holders) > 1
            # Internal Web Conferencing servers connect to each Web Conferencing Edge's own
            # FQDN (its internal port is not load balanced), so an array running that role
            # names its members too; an A/V array is reached through its internal VIP only.
            direct = shared and any("webconf" in x.roles for x in members)
            sans = [name] + ([server_fqdn(t, x) for x in members] if direct else [])
            notes = (["Issued to the internal VIP's FQDN: request it on the first server "
                      "with an exportable key, then export it with its key and import it "
                      "on every other server behind the same VIP."] if shared else
                     ["Unique to this server: its name is the server's internal FQDN."])
            if direct:
                notes.append("The members' own internal FQDNs are alternate names: internal "
                             "Web Conferencing servers connect to each Web Conferencing Edge "
                             f"directly on port {self.cat.port('webconf-internal')}, which "
                             "the load balancer does not balance.")
            elif shared:
                notes.append("Only the VIP's name: internal servers reach these servers "
                             "through the internal VIP (A/V authentication on port "
                             f"{self.cat.port('av-auth')} and STUN are load balanced), never "
                             "by a member's own name.")
            certs.append(Certificate(
                id=f"internal-{name.split('.')[0] if shared else s.name}",
                purpose="internal", title=kinds["internal"].title,
                subject_cn=name, sans=sans, issuer="internal", ca=internal_ca,
                exportable_key=shared, servers=holders,
                interface=kinds["internal"].interface or "",
                component=kinds["internal"].component,
                eku=self.cat.eku_names("internal"), key_size=key_size,
                request_on=holders[0], notes=notes))
        certs += self.external_certificates()
        rp_cert = self.reverse_proxy_certificate()
        av = self.with_role("av")
        if av:
            cn = role_fqdn(t, av[0], "av") or ""
            shared = len(av) > 1
            certs.append(Certificate(
                id="av-auth", purpose="av_auth", title=kinds["av_auth"].title,
                subject_cn=cn, sans=[cn], issuer="internal", ca=internal_ca,
                exportable_key=shared, servers=[s.name for s in av],
                interface=kinds["av_auth"].interface or "",
                component=kinds["av_auth"].component,
                eku=self.cat.eku_names("av_auth"), key_size=key_size, request_on=av[0].name,
                notes=["Its private key signs the media relay credentials, so every A/V Edge "
                       "must hold the same certificate (same issuer and key).",
                       "Never reuse the internal interface certificate for A/V "
                       "authentication."] if shared else [
                       "Keep it separate from the internal interface certificate: sharing one "
                       "certificate for both is insecure."]))
        if rp_cert is not None:
            certs.append(rp_cert)
        return certs

    def external_certificates(self) -> list[Certificate]:
        """The Access and Web Conferencing Edges' external certificates.

        ``certificates.external: separate`` gives one per role and distinct public name;
        ``combined`` one per distinct pair of names (the seed article's lab).
        """
        t = self.t
        combined = t.certificates.external == "combined"
        groups: dict[tuple[str | None, str | None], list[Server]] = {}
        for s in t.edge.servers:
            access = role_fqdn(t, s, "access") if "access" in s.roles else None
            webconf = role_fqdn(t, s, "webconf") if "webconf" in s.roles else None
            if combined:
                if access or webconf:
                    groups.setdefault((access, webconf), []).append(s)
                continue
            if access:
                groups.setdefault((access, None), []).append(s)
            if webconf:
                groups.setdefault((None, webconf), []).append(s)
        public = t.certificates.public_ca is not None
        out = []
        for (access, webconf), members in groups.items():
            f = self.features_of(members[0])
            sans = [n for n in (access, webconf) if n]
            if access:
                for domain in t.domains.sip:
                    if domain == t.domains.external or access.endswith("." + domain):
                        continue
                    extra = domain_alias(access, domain)
                    if extra not in sans:
                        sans.append(extra)
            purpose: Literal["access_webconf", "access", "webconf"] = (
                "access_webconf" if access and webconf else "access" if access else "webconf")
            kind = self.cat.certificates[purpose]
            aol = bool(access) and "aol" in f.public_im
            eku = self.cat.eku_names(purpose, aol=aol)
            notes = []
            if aol:
                notes.append("AOL Public IM Connectivity requires both Server and Client "
                             "Authentication in the enhanced key usage: ask the CA for both.")
            if access and len(sans) > (2 if webconf else 1):
                notes.append("One name per additional SIP domain lets clients of that domain "
                             "match the SRV target against the certificate.")
            cn = sans[0]
            shared = len(members) > 1
            if shared:
                notes.append("Same certificate on every server behind the VIP: request it on "
                             "the first server with an exportable key, then export and import.")
            if not public:
                notes.append("Issued by the internal CA: only clients that trust that CA can "
                             "connect; production deployments use a public CA.")
            interface = " and ".join(self.names[r] + " external"
                                     for r, n in (("access", access), ("webconf", webconf)) if n)
            out.append(Certificate(
                id=f"external-{cn.replace('.', '-')}", purpose=purpose, title=kind.title,
                subject_cn=cn, sans=sans, issuer="public" if public else "internal",
                ca=t.certificates.public_ca or t.certificates.internal_ca,
                exportable_key=shared, servers=[m.name for m in members],
                interface=interface, component=kind.component, eku=eku,
                key_size=t.certificates.key_size, request_on=members[0].name, notes=notes))
        return out

    def dns(self) -> list[DnsRecord]:
        t = self.t
        ext = t.domains.external
        out: list[DnsRecord] = []
        public_admin = "Public DNS administrator (Internet zone)"
        ad_admin = "AD DNS administrator, by hand"
        ad_reason = ("the edge is not a domain member, and the zone accepts secure dynamic "
                     "updates only")
        seen: set[tuple[str, str, str]] = set()

        def add(rec: DnsRecord) -> None:
            key = (rec.zone, rec.name, rec.type + rec.value)
            if rec.added_by == ad_admin:
                rec = dataclasses.replace(rec, reason=ad_reason)
            if key not in seen:
                seen.add(key)
                out.append(rec)

        kinds = self.cat.dns_records
        role_a, internal_a = kinds["role-a"], kinds["internal-a"]
        for role in self.roles:
            for s in self.with_role(role):
                name = role_fqdn(t, s, role)
                if name is None:
                    continue
                add(DnsRecord(ext, role_a.zone, role_a.record_name(public_fqdn=name),
                              role_a.type, self.public_address(s, role), None, None, None,
                              role_a.record_purpose(role=self.names[role]), public_admin))
        if t.reverse_proxy is not None:
            add(DnsRecord(ext, "external", t.reverse_proxy.fqdn, "A", self.rp_address(), None,
                          None, None, "Reverse proxy: the external web farm FQDN",
                          public_admin))
        for s in self.access_servers():
            f = self.features_of(s)
            access_name = role_fqdn(t, s, "access") or ""
            for domain in t.domains.sip:
                target = access_name
                inside = domain == ext or access_name.endswith("." + domain)
                zone = ext if domain == ext or domain.endswith("." + ext) else domain
                if not inside:
                    # Each extra SIP domain points at the Access Edge's name in that domain,
                    # which the external certificate carries, so clients can match the target.
                    target = domain_alias(access_name, domain)
                    add(DnsRecord(zone, "external", target, "A",
                                  self.public_address(s, "access"), None, None, None,
                                  f"Access Edge name for SIP domain {domain}", public_admin))
                for kind, wanted in (("remote-access-srv", f.remote_access),
                                     ("federation-srv", f.federation)):
                    srv = kinds[kind]
                    if wanted:
                        add(DnsRecord(zone, srv.zone, srv.record_name(domain=domain), srv.type,
                                      target, int(self.cat.port(srv.port or "")), 0, 0,
                                      srv.record_purpose(domain=domain), public_admin))
        internal = t.domains.internal
        for s in t.edge.servers:
            add(DnsRecord(internal, internal_a.zone,
                          internal_a.record_name(internal_fqdn=server_fqdn(t, s)),
                          internal_a.type, _addr(s.nics.internal.ip), None, None, None,
                          internal_a.record_purpose(server=s.name), ad_admin))
        for vip in self.vips():
            if vip.internal_fqdn and vip.internal_ip:
                add(DnsRecord(internal, "internal", vip.internal_fqdn, "A", vip.internal_ip,
                              None, None, None, f"Internal VIP of the {vip.role_name} array",
                              ad_admin))
        return out

    def firewall(self) -> list[FirewallRule]:
        t = self.t
        rules: list[FirewallRule] = []
        counts = {"external": 0, "internal": 0}

        def add(fw: Literal["external", "internal"], direction: Literal["inbound", "outbound"],
                src: str, dst: str, proto: Protocol, ports: str, purpose: str,
                role: RuleRole) -> None:
            counts[fw] += 1
            rules.append(FirewallRule(f"{'E' if fw == 'external' else 'I'}{counts[fw]:02d}",
                                      fw, direction, src, dst, proto, ports, purpose, role,
                                      addresses.get(src), addresses.get(dst)))

        self.rule_ids: dict[str, list[str]] = {}  # catalog port id -> the rules opening it

        def allow(port_id: str, src: str, dst: str, proto: Protocol | None = None,
                  port: str | None = None) -> None:
            # The catalog's port: firewall side, direction, protocol(s), port and purpose.
            p = self.cat.ports[port_id]
            for each in [proto] if proto else p.protocols:
                add(p.side, p.direction, src, dst, each, port or p.port, p.purpose, p.role)
                self.rule_ids.setdefault(port_id, []).append(rules[-1].id)

        labels: dict[str, str] = {}  # address -> its one label
        addresses: dict[str, str] = {}  # label -> address, for the rules' *_ip fields

        def endpoint(ip: str, text: str) -> str:
            # One label per address, so a firewall request and its diagram name an address
            # the same way in every rule.
            label = labels.setdefault(ip, f"{ip} ({text})")
            addresses[label] = ip
            return label

        def external(s: Server, role: str) -> str:
            vip = self.vip(role)
            name = role_fqdn(t, s, role)
            if vip is not None:
                nat = f"; NAT to {vip.external_ip}" if vip.public_ip else ""
                return endpoint(vip.public_ip or vip.external_ip, f"{name} VIP{nat}")
            nic = getattr(s.nics, role)
            if nic.public_ip:
                return endpoint(nic.public_ip, f"{name}; NAT to {_addr(nic.ip)}")
            return endpoint(_addr(nic.ip), f"{name}")

        def outbound_sources(s: Server) -> list[str]:
            # Behind a load balancer the Access Edges open federation connections themselves:
            # from each member's own external address, or from the source-NAT address the
            # topology declares; never from the VIP.
            vip = self.vip("access")
            if vip is None:
                return [external(s, "access")]
            members = self.access_servers()
            if vip.source_nat_ip:
                names = ", ".join(m.name for m in members)
                return [endpoint(vip.source_nat_ip, f"source NAT of {names}")]
            out = []
            for m in members:
                nic = m.nics.access
                assert nic is not None
                if nic.public_ip:
                    out.append(endpoint(nic.public_ip,
                                        f"{m.name} Access Edge; NAT to {_addr(nic.ip)}"))
                else:
                    out.append(endpoint(_addr(nic.ip), f"{m.name} Access Edge"))
            return out

        hop = self.hop.fqdn if self.hop else "next hop"
        hop_addr = endpoint(self.hop.ip, hop) if self.hop and self.hop.ip else hop
        seen_dest: set[tuple[str, str]] = set()
        for s in self.access_servers():
            f = self.features_of(s)
            dst = self.public_address(s, "access")
            if ("access", dst) in seen_dest:
                continue
            seen_dest.add(("access", dst))
            label = external(s, "access")
            if f.remote_access:
                allow("access-remote", INTERNET, label)
            if f.federation:
                allow("access-federation-in", INTERNET, label)
                for src in outbound_sources(s):
                    allow("access-federation-out", src, INTERNET)
        for s in self.with_role("webconf"):
            dst = self.public_address(s, "webconf")
            if ("webconf", dst) in seen_dest:
                continue
            seen_dest.add(("webconf", dst))
            allow("webconf-psom", INTERNET, external(s, "webconf"))
        av = self.with_role("av")
        if av:
            vip = self.vip("av")
            front = [external(av[0], "av")] if vip else [external(s, "av") for s in av]
            for dst in front:
                allow("av-stun-udp", INTERNET, dst)
                allow("av-stun-tcp", INTERNET, dst)
            for s in av:
                av_nic = s.nics.av
                assert av_nic is not None  # with_role("av"): each has its A/V NIC
                member = endpoint(_addr(av_nic.ip), f"{s.name} A/V")
                if vip:
                    allow("av-stun-udp-member", INTERNET, member)
                for proto in self.cat.ports["av-media-in"].protocols:
                    allow("av-media-in", INTERNET, member, proto)
                    allow("av-media-out", member, INTERNET, proto)
        rp = t.reverse_proxy
        if rp is not None:
            nat = f"; NAT to {rp.external_ip}" if rp.public_ip else ""
            allow("rp-https-in", INTERNET,
                  endpoint(self.rp_address(), f"{rp.fqdn} reverse proxy{nat}"))
        seen_src: set[str] = set()
        for s in t.edge.servers:
            gw_role = next((r for r in ROLES if getattr(s.nics, r) is not None
                            and getattr(s.nics, r).gateway), None)
            if gw_role is None:
                continue
            nic = getattr(s.nics, gw_role)
            vip = self.vip(gw_role)
            if vip is None:
                src = external(s, gw_role)
            elif gw_role == "access" and vip.source_nat_ip:
                # Like the member's federation connections: the declared source-NAT address.
                src = outbound_sources(s)[0]
            elif nic.public_ip:
                src = endpoint(nic.public_ip, f"{s.name}; NAT to {_addr(nic.ip)}")
            else:
                src = endpoint(_addr(nic.ip), s.name)
            if src in seen_src:
                continue
            seen_src.add(src)
            allow("crl", src, INTERNET)
            allow("dns", src, INTERNET)
        # Internal firewall.
        access_int: list[str] = []
        vip = self.vip("access")
        def internal(s: Server) -> str:
            return endpoint(_addr(s.nics.internal.ip), server_fqdn(t, s))

        if vip is not None and vip.internal_ip:
            access_int = [endpoint(vip.internal_ip, f"{vip.internal_fqdn} VIP")]
        else:
            access_int = [internal(s) for s in self.access_servers()]
        for dst in access_int:
            allow("access-internal-in", hop_addr, dst)
        for s in self.access_servers():
            allow("access-internal-out", internal(s), hop_addr)
        pools = ", ".join(p.fqdn for p in t.pools if p.kind != "director") or hop
        for s in self.with_role("webconf"):
            allow("webconf-internal", f"Web Conferencing servers ({pools})", internal(s))
        if rp is not None:
            farm = self.web_farm()
            farm_ip = next((p.ip for p in t.pools if p.fqdn == farm and p.ip), None)
            allow("rp-web-components", endpoint(rp.internal_ip, "reverse proxy, internal"),
                  endpoint(_addr(farm_ip), f"Web Components, {farm}") if farm_ip
                  else f"Web Components ({farm})")
        if av:
            vip = self.vip("av")
            targets = [endpoint(vip.internal_ip, f"{vip.internal_fqdn} VIP")] \
                if vip and vip.internal_ip else [internal(s) for s in av]
            for dst in targets:
                allow("av-auth", f"Pools and A/V Conferencing servers ({pools})", dst)
                allow("av-stun-tcp-internal", "Internal clients and A/V MCUs", dst)
                allow("av-stun-udp-internal", "Internal clients and A/V MCUs", dst)
        # Each edge checks the internal CA's revocation list from its own internal address.
        self.cdp_rules: list[list[str]] = []
        for point in self.crl_points():
            dst = (endpoint(point.ip, f"{point.host}, CRL distribution point") if point.ip
                   else point.label)
            first = len(rules)
            for s in t.edge.servers:
                allow(point.port_id, internal(s), dst, port=point.port)
            self.cdp_rules.append([r.id for r in rules[first:]])
        return rules

    def crl_points(self) -> list[_Cdp]:
        """The internal CA's CRL distribution points (one assumed HTTP point when unknown)."""
        t = self.t
        ca = t.certificates.internal_ca
        out = []
        for p in t.certificates.internal_crl:
            parts = urlsplit(p.url)
            scheme: Literal["http", "ldap"] = "ldap" if parts.scheme.lower() == "ldap" \
                else "http"
            port_id = f"crl-internal-{scheme}"
            host = (parts.hostname or "").lower()
            out.append(_Cdp(p.url, scheme, host, p.ip, port_id,
                            str(parts.port or self.cat.port(port_id)),
                            f"{host} (CRL distribution point of {ca})"))
        if not out:
            out.append(_Cdp(None, "http", "not named in the topology", None,
                            "crl-internal-http", self.cat.port("crl-internal-http"),
                            f"CRL distribution point of {ca} (host to be named: "
                            "certificates.internal_crl)"))
        return out

    # -- reverse proxy -------------------------------------------------------------------

    def web_farm(self) -> str:
        """The internal web farm the reverse proxy forwards to: the first pool (or Standard
        Edition server) that runs Web Components, never a Director."""
        pools = [p.fqdn for p in self.t.pools if p.kind != "director"]
        return pools[0] if pools else (self.hop.fqdn if self.hop else "")

    def rp_address(self) -> str:
        rp = self.t.reverse_proxy
        assert rp is not None
        return rp.public_ip or rp.external_ip

    def reverse_proxy_certificate(self) -> Certificate | None:
        t = self.t
        rp = t.reverse_proxy
        if rp is None:
            return None
        kind = self.cat.certificates["reverse_proxy"]
        product = self.cat.reverse_proxy.products[rp.product]
        notes = ["Subject name = the external web farm FQDN the rules publish; remote "
                 "Communicator clients download the address book over HTTPS and fail without "
                 "a prompt if they do not trust it, so a public CA issues it."]
        if rp.product == "isa2006":
            notes.append("ISA Server 2006 before SP1 reads only the first subject alternative "
                         "name: the published FQDN is the subject name and the first SAN."
                         + ("" if rp.sp1 else " This ISA server has no SP1: request no "
                            "other names on this certificate."))
        notes.append(f"{product} bridges SSL to the Web Components, so it must trust the root "
                     f"of {t.certificates.internal_ca}, which issued their certificate: import "
                     "it into the computer's Trusted Root Certification Authorities store.")
        return Certificate(
            id="reverse-proxy", purpose="reverse_proxy", title=kind.title,
            subject_cn=rp.fqdn, sans=[rp.fqdn],
            issuer="public" if t.certificates.public_ca else "internal",
            ca=t.certificates.public_ca or t.certificates.internal_ca, exportable_key=False,
            servers=[f"reverse proxy ({product})"], interface=kind.interface or "",
            component=kind.component, eku=self.cat.eku_names("reverse_proxy"),
            key_size=t.certificates.key_size, request_on=f"the reverse proxy ({product})",
            notes=notes)

    def _rp_urls(self) -> list[PublishedUrl]:
        rp = self.t.reverse_proxy
        assert rp is not None
        return [PublishedUrl(url=f"https://{rp.fqdn}{p.path}", path=p.path, serves=p.serves)
                for p in self.cat.reverse_proxy.paths]

    def reverse_proxy(self) -> ReverseProxyPlan | None:
        t = self.t
        rp = t.reverse_proxy
        if rp is None:
            return None
        facts = self.cat.reverse_proxy
        product = facts.products[rp.product]
        farm = self.web_farm()
        urls = self._rp_urls()
        paths = ", ".join(p.path + "/*" if not p.path.endswith(".asmx") else p.path
                          for p in facts.paths)
        cert = f"{rp.fqdn} (certificate reverse-proxy)"
        ui = self.cat.ui_name
        before = Screen(self.cat.screen("rp_before"), [
            Action("check", f"The reverse proxy has two NICs: external {rp.external_ip}"
                   + (f" (NAT from {rp.public_ip})" if rp.public_ip else "")
                   + f", internal {rp.internal_ip}"),
            Action("check", f"It resolves {farm} (internal DNS on the internal NIC); if it "
                   "cannot, enter the pool's address as the internal site name's IP"),
            Action("do", f"Import the root certificate of {t.certificates.internal_ca} into the "
                   "computer's Trusted Root Certification Authorities store",
                   why="the reverse proxy opens HTTPS to the Web Components, whose certificate "
                   "that CA issued"),
            Action("do", f"Install the listener certificate {cert} with its private key in "
                   "the computer's Personal store")])
        screens = [before]
        if rp.product == "isa2006":
            port = self.cat.port("rp-https-in")
            fields: dict[str, list[Action]] = {
                "rule": [
                    Action("type", ui("isa_rule_name"),
                           f"OCS Web Components ({rp.fqdn})")],
                "internal": [
                    Action("type", ui("isa_internal_site"), farm,
                           why="on ISA 2006 before SP1 it must equal the first SAN of the "
                           "Web Components' certificate"),
                    Action("type", ui("isa_path"), paths,
                           why="the three Web Components directories remote users need; "
                           "leave 'Forward the original host header' clear")],
                "public_name": [Action("type", ui("isa_public_name"), rp.fqdn)],
                "listener": [
                    Action("select", ui("isa_listener_ip"), f"{rp.external_ip}:{port}"),
                    Action("select", ui("isa_listener_certificate"), rp.fqdn)],
            }
            for sc in facts.isa_screens:
                if sc.id == "completing":
                    actions = [Action("click", "Finish"), Action("click", ui("isa_apply"))]
                    if rp.sp1:
                        actions.append(Action("click", ui("isa_test_rule"),
                                              why="SP1 checks the rule and that "
                                              f"{farm} answers"))
                elif sc.id in ("rule", "internal"):
                    actions = fields[sc.id]  # fields to fill in, no option to pick
                    if sc.unconfirmed:
                        actions = [*actions, Action("note", f"Unconfirmed: {sc.unconfirmed}")]
                else:
                    actions = [Action("select", sc.choice, why=sc.unconfirmed and
                                      f"Unconfirmed: {sc.unconfirmed}"),
                               *fields.get(sc.id, [])]
                screens.append(Screen(sc.title, actions))
        else:
            screens.append(Screen(self.cat.screen("rp_rule"), [
                Action("type", ui("rp_host"), rp.fqdn),
                Action("select", ui("rp_listener"), f"HTTPS on {rp.external_ip}:"
                       f"{self.cat.port('rp-https-in')}, certificate {rp.fqdn}"),
                Action("type", ui("rp_paths"), paths),
                Action("type", ui("rp_forward"), f"https://{farm}:"
                       f"{self.cat.port('rp-web-components')}",
                       why="SSL bridging: a new HTTPS session to the Web Components"),
                Action("select", ui("rp_authentication"),
                       "none on the proxy: pass the client through",
                       why="the Web Components (IIS) authenticate users themselves"),
            ]))
        screens.append(Screen(self.cat.screen("rp_test"), [
            Action("check", f"{u.url} answers over HTTPS without a certificate warning",
                   why=u.serves) for u in urls]))
        farms = [p.fqdn for p in t.pools if p.kind != "director"]
        notes = [f"Publishes only HTTPS content of {farm}; SIP, PSOM and media go through the "
                 "edge roles.",
                 *([f"Not published: the Web Components of {', '.join(farms[1:])}. Remote users "
                    "homed there get no address book, group expansion or meeting content "
                    "from outside until each of those pools is published under an external "
                    "web farm FQDN of its own (one reverse proxy per pool is not modelled)."]
                   if len(farms) > 1 else []),
                 f"The external web farm FQDN {rp.fqdn} is set on the pool (Pool side page), "
                 "which hands the external URLs to clients when they sign in."]
        return ReverseProxyPlan(
            fqdn=rp.fqdn, product=rp.product, product_name=product,
            external_ip=rp.external_ip, public_ip=rp.public_ip, dns_address=self.rp_address(),
            internal_ip=rp.internal_ip, internal_site=farm, urls=urls,
            certificate="reverse-proxy", screens=screens, notes=notes)

    # -- runbook steps -------------------------------------------------------------------

    def wizard(self) -> list[ServerRunbook]:
        out = []
        importers: dict[int, list[str]] = {}
        for x in self.t.edge.servers:
            first = self.first_of_group(x)
            if first is not None:
                importers.setdefault(id(first), []).append(x.name)
        for order, s in enumerate(self.server_order(), start=1):
            source = self.first_of_group(s)
            exports_to = importers.get(id(s), [])
            out.append(ServerRunbook(
                server=s.name, fqdn=server_fqdn(self.t, s), roles=list(s.roles),
                role_names=[self.names[r] for r in s.roles], order=order,
                imports_from=source.name if source else None, exports_to=exports_to,
                steps=[self.step_install(s), self.step_activate(s),
                       self.step_configure(s, source, exports_to),
                       self.step_certificates(s, source), self.step_services(s),
                       self.step_validate(s)]))
        return out

    def vault_entry(self, which: str) -> str:
        v = self.t.vault
        if which == "service_account":
            return v.service_account or f"{self.t.site}/ocs-edge/{self.cat.service_account.name}"
        return v.product_key or f"{self.t.site}/ocs-edge/product-key"

    def pfx_vault_entry(self, cert: Certificate) -> str:
        """Vault entry for the password protecting an exported certificate key."""
        return f"{self.t.site}/ocs-edge/pfx/{cert.id}"

    def step_name(self, number: int) -> str:
        """``Step N: <its title>``, the title as the catalog gives it."""
        return f"Step {number}: {self.cat.steps[number - 1].title}"

    def step(self, number: int, screens: list[Screen]) -> Step:
        """Wizard step ``number`` with its id and title from the catalog."""
        facts = self.cat.steps[number - 1]
        return Step(facts.number, facts.id, facts.title, screens)

    def step_install(self, s: Server) -> Step:
        screen, label = self.cat.screen, self.cat.label
        return self.step(1, [
            Screen(screen("install_before"), [
                Action("check", f"You are signed in to {s.name} as a local Administrator "
                       "(the server is in a workgroup, so no domain account works)"),
                Action("do", "Insert the OCS 2007 media (Standard Edition media can install "
                       "an edge) and run Setup"),
                Action("click", "Yes", why="installs the Visual C++ 2005 SP1 Redistributable"),
                Action("click", "Yes", why="installs the .NET Framework 2.0"),
            ]),
            Screen(screen("deployment_wizard"), [
                Action("click", label("deploy_other_roles")),
                Action("click", label("deploy_edge")),
                Action("click", label("install"), why=self.step_name(1)),
            ]),
            Screen(screen("install_license"), [
                Action("click", "Next"),
                Action("select", label("accept_license")),
                Action("click", "Next"),
            ]),
            Screen(screen("install_customer"), [
                Action("type", label("organization"), self.t.organization),
                Action("vault", label("product_key"), self.vault_entry("product_key"),
                       why="copy it from the vault into the field; never write it down"),
                Action("click", "Next"),
            ]),
            Screen(screen("install_folder"), [
                Action("click", "Next", why="keep the default installation folder"),
                Action("click", label("install_files")),
                Action("check", "The Deployment Wizard shows Step 1 as Completed"),
            ]),
        ])

    def step_activate(self, s: Server) -> Step:
        actions = []
        for role in ROLES:
            option = self.cat.roles[role].activate_option
            if role in s.roles:
                actions.append(Action("tick", option, why=f"{self.names[role]} runs on {s.name}"))
            elif role in self.roles:
                actions.append(Action("clear", option, why=self.why_role_absent(s, role)))
        if len(self.roles) < len(ROLES):
            actions.append(Action("note", "Leave every other role box clear",
                                  why="this site deploys only "
                                  + " and ".join(self.names[r] for r in self.roles)))
        actions.append(Action("click", "Next"))
        screen, label = self.cat.screen, self.cat.label
        account = self.cat.service_account.name
        return self.step(2, [
            Screen(screen("deployment_wizard"), [Action("click", label("run"),
                                                        why=self.step_name(2)),
                                                 Action("click", "Next", why="Welcome screen")]),
            Screen(screen("activate_roles"), actions),
            Screen(screen("activate_account"), [
                Action("note", f"The service account is {account}"),
                Action("vault", label("service_password", account=account),
                       self.vault_entry("service_account"),
                       why="paste it from the vault into both fields; a long random password; "
                       "never print or note it"),
                Action("click", "Next"),
            ]),
            Screen(screen("activate_ready"), [
                Action("check", "The settings list the roles ticked above"),
                Action("click", "Next"),
                Action("tick", label("view_log")),
                Action("click", "Finish"),
                Action("check", "The log shows success for every task; Step 2 shows Completed"),
            ]),
        ])

    def why_role_absent(self, s: Server, role: str) -> str:
        if not self.with_role(role):
            return f"this site does not deploy the {self.names[role]}"
        if "av" in self.balanced or (role == "av" and self.balanced):
            return f"the {self.names[role]} runs on other servers of this site"
        return f"the {self.names[role]} runs on another server of this site"

    def step_configure(self, s: Server, source: Server | None, exports_to: list[str]) -> Step:
        t = self.t
        screen, label = self.cat.screen, self.cat.label
        screens = [Screen(screen("deployment_wizard"), [
            Action("click", label("run"), why=self.step_name(3)),
            Action("click", "Next", why="Welcome screen")])]
        if source is not None:
            screens.append(Screen(screen("configure_import"), [
                Action("select", self.cat.label("import_settings"),
                       f"{t.site}-{source.name}-edge-config.xml",
                       why=f"every server behind the load balancer must be configured exactly "
                       f"like {source.name}; the file was exported there"),
                Action("check", "Every following screen is filled from the file: compare each "
                       "value with this runbook, then change only this server's own addresses"),
                Action("click", "Next")]))
        else:
            screens.append(Screen(screen("configure_import"), [
                Action("clear", self.cat.label("import_settings"),
                       why="this is the first edge server of its kind on this site"),
                Action("click", "Next")]))
        internal_name = self.internal_name(s)
        actions = [
            Action("select", label("internal_ip"), _addr(s.nics.internal.ip),
                   why=f"the internal NIC ({s.nics.internal.name or 'Internal'})"),
            Action("type", label("internal_fqdn"), internal_name,
                   why="the internal VIP's name, shared by the array" if internal_name !=
                   server_fqdn(t, s) else "the server's own name in the AD DNS zone"),
            Action("warning", f"Check that the A record {server_fqdn(t, s)} -> "
                   f"{_addr(s.nics.internal.ip)}"
                   + (f" and the VIP record {internal_name} -> {self.internal_vip_ip(s)} are"
                      f" in the {t.domains.internal} zone: they are added by hand"
                      if internal_name != server_fqdn(t, s) else
                      f" is in the {t.domains.internal} zone: it is added by hand")
                   + ", because the edge is not a domain member and the zone only accepts "
                   "secure dynamic updates"),
            Action("click", "Next"),
        ]
        screens.append(Screen(screen("configure_internal"), actions))
        ext = []
        for role in ROLES:
            if role not in s.roles:
                continue
            nic = getattr(s.nics, role)
            ext.append(Action("select", label("role_ip", role=self.names[role]), _addr(nic.ip),
                              why=f"the {nic.name or self.names[role]} NIC"))
            ext.append(Action("type", label("role_fqdn", role=self.names[role]),
                              role_fqdn(t, s, role)))
            if role == "webconf":
                ext.append(Action("note", "The Access Edge hands this name to Live Meeting "
                                  "clients, so it must resolve in public DNS"))
            if role == "av":
                ext.append(Action("warning", "The A/V Edge address must be publicly routable "
                                  "and reach the server without NAT; media relay fails "
                                  "otherwise"))
        ext.append(Action("click", "Next"))
        screens.append(Screen(screen("configure_external"), ext))
        if "access" in s.roles:
            screens += self.access_screens(s)
        screens.append(Screen(screen("configure_ready"), [
            Action("do", "Review the settings against this runbook"),
            Action("click", "Next")]))
        finish = [Action("tick", label("view_log"))]
        if exports_to:
            finish.append(Action("click", self.cat.label("export"),
                                 f"{t.site}-{s.name}-edge-config.xml",
                                 why="save the configuration and copy it to "
                                 + ", ".join(exports_to)
                                 + (", which imports" if len(exports_to) == 1 else
                                    ", which import") + " it in Step 3"))
        finish += [Action("click", "Finish"),
                   Action("check", "The log shows success; Step 3 shows Completed")]
        screens.append(Screen(screen("configure_finish"), finish))
        return self.step(3, screens)

    def access_screens(self, s: Server) -> list[Screen]:
        t = self.t
        f = self.features_of(s)
        a = []

        def box(on: bool, label: str, why: str) -> None:
            a.append(Action("tick" if on else "clear", label, why=why))

        box(f.remote_access, self.cat.label("remote_access"),
            "remote users sign in through this Access Edge" if f.remote_access else
            "remote user access runs elsewhere or is not offered")
        box(f.federation, self.cat.label("federation"),
            "partners and public IM providers connect through this Access Edge" if f.federation
            else "federation is not offered through this Access Edge")
        if f.federation:
            box(f.federation_discovery, self.cat.label("federation_discovery"),
                "partners are found through their "
                f"{self.cat.dns_records['federation-srv'].record_name(domain='').rstrip('.')} "
                "SRV record"
                if f.federation_discovery else "only partners on the Allow list federate")
        if self.anonymous_on(s):
            box(True, self.cat.label("anonymous"),
                "external participants without an account may join web conferences")
        elif f.anonymous_meetings and self.with_role("webconf"):
            box(False, self.cat.label("anonymous"),
                "anonymous participants enter through the remote-access Access Edge")
        elif self.with_role("webconf"):
            box(False, self.cat.label("anonymous"),
                "only authenticated users join meetings")
        box(bool(f.public_im), self.cat.label("public_im"),
            "users may add " + ", ".join(self.providers[p] for p in f.public_im) + " contacts"
            if f.public_im else self.pic_elsewhere(s))
        for p in self.providers:
            if f.public_im or p in f.public_im:
                box(p in f.public_im, self.providers[p], "licensed and provisioned for this site"
                    if p in f.public_im else "not chosen for this site")
        if f.federation:
            a.append(Action("note", self.cat.label("remote_federated"),
                            "greyed out",
                            why="it is only available on an Access Edge with federation "
                            "disabled (the remote-access half of a split design); here "
                            "federation runs on this edge, so remote users already reach "
                            "federated contacts"))
        elif f.remote_access and self.split:
            a.append(Action("tick", self.cat.label("remote_federated"),
                            why="federation runs on another Access Edge of this site; this "
                            "option lets the remote users signed in here reach partners"))
        elif f.remote_access:
            a.append(Action("clear", self.cat.label("remote_federated"),
                            why="it belongs to the remote-access half of a split design; "
                            "this site federates through no Access Edge, so there are no "
                            "federated contacts to reach"))
        a.append(Action("click", "Next"))
        hop = self.hop
        hop_actions = []
        if hop is not None:
            hop_actions = [
                Action("type", self.cat.label("next_hop_fqdn"), hop.fqdn,
                       why=self.next_hop_reason()),
                Action("type", self.cat.label("next_hop_port"),
                       self.cat.port("access-internal-in")),
                Action("note", "Enter a name, never an IP address: the certificate check "
                       "against the next hop needs its FQDN"),
                Action("check", f"{s.name} resolves {hop.fqdn} (hosts file or perimeter DNS)"),
                Action("click", "Next")]
        domains = [Action("type", self.cat.label("sip_domain"), d,
                          why="the default routing domain" if i == 0 else "additional SIP domain")
                   for i, d in enumerate(t.domains.sip)]
        domains.append(Action("click", "Next"))
        servers = [Action("type", self.cat.label("internal_server"), p.fqdn,
                          why=KIND_NAMES[p.kind]) for p in t.pools]
        servers.append(Action("click", "Next"))
        screen = self.cat.screen
        return [Screen(screen("configure_features"), a),
                Screen(screen("configure_next_hop"), hop_actions),
                Screen(screen("configure_sip_domains"), domains),
                Screen(screen("configure_servers"), servers)]

    def anonymous_on(self, s: Server) -> bool:
        """Anonymous meetings are enabled on this Access Edge (in a split design only on
        the one that serves remote users)."""
        f = self.features_of(s)
        return (f.anonymous_meetings and bool(self.with_role("webconf"))
                and (f.remote_access or not self.split))

    def pic_owners(self) -> list[Server]:
        """The Access Edges that run public IM connectivity, in file order."""
        if self._pic_owners is None:
            self._pic_owners = [x for x in self.access_servers() if self.features_of(x).public_im]
        return self._pic_owners

    def pic_elsewhere(self, s: Server) -> str:
        """Why public IM stays off on this Access Edge."""
        owners = [x.name for x in self.pic_owners() if x is not s]
        if owners:
            return f"public IM connectivity runs on {', '.join(owners)}"
        return "no public IM provider is licensed for this site"

    def next_hop_reason(self) -> str:
        hop = self.hop
        if hop is None:
            return ""
        if hop.kind == "director":
            return ("a Director (or the load balancer in front of Directors) screens external "
                    "traffic before it reaches a pool, so the edge always hands SIP to it")
        if hop.kind == "standard":
            return ("this site's front end is a Standard Edition server: its pool FQDN is the "
                    "server's own FQDN")
        return ("there is no Director, so the edge hands SIP straight to the Enterprise pool's "
                "FQDN (its load balancer VIP)")

    def step_certificates(self, s: Server, source: Server | None) -> Step:
        t = self.t
        screen, label = self.cat.screen, self.cat.label
        screens = [Screen(screen("certificates_trust"), [
            Action("check", f"The root certificate of {t.certificates.internal_ca} is in the "
                   "computer's Trusted Root Certification Authorities store (import it with "
                   "the Certificates MMC snap-in: the edge is not a domain member, so Group "
                   "Policy does not deliver it)"),
            *([Action("check", f"The intermediate CA certificate(s) of "
                      f"{t.certificates.public_ca} are in the computer's Intermediate "
                      "Certification Authorities store",
                      why="this server hands the chain of its public certificate to remote "
                      "clients and partners (Certificates page: chains and revocation)")]
              if t.certificates.public_ca and any(
                  c.issuer == "public" for c in self.certs_for(s)) else [])]),
            Screen(screen("deployment_wizard"), [Action("click", label("run"),
                                                        why=self.step_name(4)),
                                                 Action("click", "Next", why="Welcome screen")])]
        for cert in self.certs_for(s):
            copy = cert.exportable_key and cert.request_on != s.name
            if copy:
                screens.append(Screen(screen("certificates_import", certificate=cert.title), [
                    Action("check", f"The .pfx of {cert.subject_cn} exported with its private "
                           f"key on {cert.request_on} is on this server"),
                    Action("select", label("import_pfx"), cert.subject_cn),
                    Action("vault", label("pfx_password"), self.pfx_vault_entry(cert),
                           why=f"stored there when {cert.request_on} exported the key"),
                    Action("select", label("assign_to"), cert.component),
                    Action("click", "Finish"),
                    Action("do", "Delete the .pfx file from this server and from the share it "
                           "came through", why="a copied private key must not be left lying "
                           "around once every server holds the certificate")]))
                continue
            actions = [
                Action("select", label("create_certificate")),
                Action("select", label("component"), cert.component),
                Action("select", label("delayed_request"),
                       why="the edge is not a domain member, so the request is submitted, "
                       "approved and collected offline"),
                Action("type", label("friendly_name"), f"{cert.title} ({cert.subject_cn})"),
                Action("select", label("bit_length"), str(cert.key_size)),
                Action("tick" if cert.exportable_key else "clear", label("exportable"),
                       why="it is copied to " + ", ".join(x for x in cert.servers
                                                          if x != s.name)
                       if cert.exportable_key else "it stays on this server only"),
                Action("type", label("certificate_organization"), t.organization),
                Action("type", label("subject_name"), cert.subject_cn),
            ]
            for san in cert.sans:
                actions.append(Action("type", label("subject_alternate_name"), san))
            actions += [
                Action("type", label("request_file"), f"C:\\certreq\\{t.site}-{cert.id}.req"),
                Action("click", "Finish"),
                Action("do", f"Submit the request to {cert.ca}"
                       + (" (public CA: allow for its lead time)" if cert.issuer == "public"
                          else ", have it approved, and collect the .cer file")),
                Action("click", label("run"), why="run Step 4 again: process the pending request"),
                Action("select", label("process_pending")),
                Action("type", label("certificate_file"), f"C:\\certreq\\{t.site}-{cert.id}.cer"),
                Action("select", label("assign_to"), cert.component),
            ]
            if cert.exportable_key and len(cert.servers) > 1:
                rest = [x for x in cert.servers if x != s.name]
                others = ", ".join(rest)
                actions += [
                    Action("do", "Generate a new long random password for the exported key and "
                           "store it in the vault as entry", self.pfx_vault_entry(cert),
                           why=f"{others} {'needs' if len(rest) == 1 else 'need'} it to "
                           "import the certificate"),
                    Action("click", label("export_pfx"), f"{t.site}-{cert.id}.pfx",
                           why="protect the file with the password from that vault entry; "
                           "copy it to " + others
                           + " over an administrative share, never by e-mail")]
            screens.append(Screen(screen("certificates_request", certificate=cert.title,
                                         subject=cert.subject_cn), actions))
        screens.append(Screen(screen("certificates_done"), [
            Action("check", "Every certificate above shows as assigned; Step 4 shows "
                   "Completed")]))
        return self.step(4, screens)

    def certs_for(self, s: Server) -> list[Certificate]:
        return self._certs_of.get(s.name, [])

    def step_services(self, s: Server) -> Step:
        actions = [Action("click", self.cat.label("run"), why=self.step_name(5))]
        for role in ROLES:
            if role in s.roles:
                for svc in self.cat.roles[role].services:
                    actions.append(Action("check", f"Service '{svc}' is Running"))
        return self.step(5, [Screen(self.cat.screen("services_start"), actions)])

    def step_validate(self, s: Server) -> Step:
        t = self.t
        v = self.cat.validation
        f = self.features_of(s) if "access" in s.roles else None
        screen, label = self.cat.screen, self.cat.label
        start = Screen(screen("deployment_wizard"), [
            Action("click", label("run"), why=self.step_name(6)),
            Action("click", "Next", why="Welcome screen")])
        options = [Action("tick", v.wizard["local"].label,
                          why="checks this server's configuration, certificates and services"
                          + (f"; unconfirmed: {v.wizard['local'].unconfirmed}"
                             if v.wizard["local"].unconfirmed else "")),
                   Action("tick", v.wizard["connectivity"].label,
                          why=f"checks that {s.name} reaches "
                          + (self.hop.fqdn if self.hop and "access" in s.roles
                             else "the internal servers")
                          + " and that they reach it"),
                   Action("click", "Next")]
        screens = [start, Screen(screen("validate_options"), options)]
        if f is not None and (f.remote_access or f.federation):
            users = []
            for n in (1, 2):
                users += [
                    Action("type", label("test_user_uri", n=n),
                           f"sip:<test user {n}>@{t.domains.sip[0]}",
                           why="a test user enabled for remote access" if f.remote_access
                           else "a test user enabled for federation"),
                    Action("vault", label("test_user_password", n=n), self.test_user_vault(n),
                           why="paste it from the vault; never type it from paper")]
            users.append(Action("type", label("test_pool"), self.web_farm(),
                                why="the pool the test users are homed on"))
            if f.federation:
                partner = self.partner_domain()
                users.append(Action("type", v.wizard["federated"].label,
                                    f"sip:<partner user>@{partner}" if partner else None,
                                    why="a user of the partner that agreed to test"
                                    if partner else "a user of a partner that agreed to test; "
                                    "this site names no partner domain"))
            users.append(Action("click", "Next"))
            screens.append(Screen(v.wizard["users"].label, users))
        screens.append(Screen(screen("validate_results"), [
            Action("tick", label("view_log")),
            Action("click", "Finish"),
            Action("check", "Every task in the log shows success; save the log with the change "
                   "record"),
            Action("note", v.not_proof.label,
                   why="the end-to-end tests at the end of this runbook are the proof")]))
        return self.step(6, screens)

    def test_user_vault(self, n: int) -> str:
        """Vault entry of test user ``n``'s password (the runbooks never hold it)."""
        return f"{self.t.site}/ocs-edge/test-user-{n}"

    def partner_domain(self) -> str | None:
        """The federation partner the tests use: the first one named, if any."""
        return self.partners[0] if self.partners else None

    # -- revocation and chains -----------------------------------------------------------

    def trust(self) -> Trust:
        t = self.t
        facts = self.cat.trust
        root = facts.stores["root"].label
        inter = facts.stores["intermediate"].label
        ca = t.certificates.internal_ca
        public = t.certificates.public_ca
        edges = [s.name for s in t.edge.servers]
        crl = [CrlPoint(ca=ca, issuer="internal", url=p.url, scheme=p.scheme, host=p.host,
                        port=p.port, firewall="internal", rules=ids, servers=edges)
               for p, ids in zip(self.crl_points(), self.cdp_rules, strict=True)]
        crl.append(CrlPoint(
            ca=(f"{public}, and the CAs of partners and providers" if public
                else "The CAs of partners and providers"), issuer="public", url=None,
            scheme="http", host=INTERNET, port=self.cat.port("crl"), firewall="external",
            rules=list(self.rule_ids.get("crl", [])), servers=edges))
        rp_product = (self.cat.reverse_proxy.products[t.reverse_proxy.product]
                      if t.reverse_proxy else None)
        rp_name = [f"reverse proxy ({rp_product})"] if rp_product else []
        imports = [
            CaImport(f"Root certificate of {ca}'s hierarchy", root, edges + rp_name,
                     "these are workgroup servers, so Group Policy does not deliver the "
                     "enterprise root; the edges' internal certificates and the internal "
                     "servers' certificates chain to it"
                     + (", and the reverse proxy bridges SSL to the Web Components, whose "
                        "certificate it issued" if rp_name else "")),
            CaImport(f"CA certificate of {ca}, when it is an issuing CA below a separate root",
                     inter, edges, "the edge presents the whole chain on its internal interface "
                     "and must build it without Active Directory")]
        holders = sorted({srv for c in self._certs if c.issuer == "public"
                          and c.purpose != "reverse_proxy" for srv in c.servers},
                         key=edges.index)
        if public:
            on = holders + rp_name
            if on:
                imports.append(CaImport(
                    f"Intermediate CA certificate(s) of {public}, from its download page",
                    inter, on, "each server hands its public certificate's chain to remote "
                    "clients and partners, who cannot complete it without the intermediates"))
                imports.append(CaImport(
                    f"Root certificate of {public}", root, on,
                    "Windows ships the roots of public CAs: check it is listed, import it only "
                    "if it is missing"))
        *console, importer = facts.snap_in
        screens = [Screen(x.title, [Action(x.kind, x.choice,
                                           why=x.unconfirmed and f"Unconfirmed: {x.unconfirmed}")])
                   for x in console]
        for store in (root, inter):
            these = [i for i in imports if i.store == store]
            if not these:
                continue
            screens.append(Screen(self.cat.screen("trust_import", wizard=importer.title,
                                                  store=store), [
                Action("do", f"Expand Certificates (Local Computer), {store}; right-click "
                       "Certificates, All Tasks, Import"),
                *[Action("do", f"Import the .cer file of: {i.certificate}",
                         why="on " + ", ".join(i.servers)) for i in these],
                Action("select", importer.choice, store),
                Action("check", f"Each certificate above is listed under {store}, Certificates")]))
        internal = [Action("check", f"The pool servers trust {ca}: as domain members they "
                           "receive its root through Active Directory, so nothing is imported "
                           "there for the edge's internal certificate")]
        if public:
            internal.append(Action(
                "check", f"Remote users' computers trust the root of {public} (Windows root "
                "certificate update, or Group Policy for managed computers)",
                why="they check the Access Edge's, the Web Conferencing Edge's and the reverse "
                "proxy's certificates; the internal servers never see those certificates"))
        else:
            internal.append(Action(
                "warning", f"The external certificates come from {ca}: every computer that "
                f"connects from outside (remote users' own PCs, anonymous participants, partners' "
                f"edges) must have its root in {root} first"))
        notes = [facts.revocation.label]
        if any(p.scheme == "ldap" for p in crl):
            notes.append(facts.ldap_cdp.label)
        if not t.certificates.internal_crl:
            notes.append(f"The topology does not name the CRL distribution point of {ca}: ask "
                         "its administrator (it is in the CDP field of any certificate the CA "
                         "issued) and add it under certificates.internal_crl, so the internal "
                         "firewall rule names its host.")
        computers = list(dict.fromkeys(c for i in imports for c in i.servers))
        return Trust(crl=crl, imports=imports, computers=computers, screens=screens,
                     internal=internal, notes=notes)

    # -- validation ----------------------------------------------------------------------

    def rules_for(self, *port_ids: str) -> list[str]:
        """The ids of the firewall rules opening ``port_ids``, in rule order."""
        return [i for p in port_ids for i in self.rule_ids.get(p, [])]

    def validation(self) -> Validation:
        t = self.t
        facts = self.cat.validation.tests
        domain = t.domains.sip[0]
        outside = "A computer on the Internet, outside the corporate network, without VPN"
        tests: list[ValidationTest] = []

        def test(key: ValidationTestKey, where: str, steps: list[Action], on_failure: list[str],
                 rules: list[str], title: str | None = None,
                 then: list[Action] | None = None) -> None:
            f = facts[key]
            tests.append(ValidationTest(
                id=key, title=title or f.title, where=where, steps=steps, success=f.success,
                check=Action("check", f"Success: {f.success}"), then=then or [],
                failure=list(f.failure),
                on_failure=on_failure + (
                    [f"Firewall rules {', '.join(rules)} are in place"] if rules else []),
                rules=rules))

        remote = [s for s in self.access_servers() if self.features_of(s).remote_access]
        port = self.cat.port("access-remote")
        ui = self.cat.ui_name
        user = Action("vault", ui("communicator_password", n=1), self.test_user_vault(1))
        if remote:
            ae = role_fqdn(t, remote[0], "access") or ""
            ae_ip = self.public_address(remote[0], "access")
            srv_name = self.cat.dns_records["remote-access-srv"].record_name
            srv = next((r for r in self.dns_records if r.name == srv_name(domain=domain)), None)
            cert = next((c for c in self._certs if ae in c.sans), None)
            trust = (f"the certificate of {ae} comes from {cert.ca} and the test computer "
                     "trusts that CA's root" if cert else f"{ae} has a certificate")
            others = [Action("note", f"Repeat with a test user of {d}",
                             why=f"its SRV record is {srv_name(domain=d)}")
                      for d in t.domains.sip[1:]]
            test("signin-auto", outside, [
                Action("do", "Start Communicator 2007 on the test computer"),
                Action("type", ui("communicator_address"), f"<test user 1>@{domain}",
                       why="a user enabled for remote user access"),
                Action("select", ui("communicator_configuration"),
                       ui("communicator_automatic")),
                user, Action("click", ui("communicator_sign_in")), *others],
                [f"nslookup -type=SRV {srv_name(domain=domain)} answers "
                 f"{srv.value if srv else ae}, port {port}",
                 f"{ae} resolves to {ae_ip} from outside",
                 f"telnet {ae} {port} opens a connection from outside", trust,
                 "The user is enabled for remote user access (Configure Users wizard or the "
                 "user's Communications tab)"],
                self.rules_for("access-remote"))
            test("signin-manual", outside, [
                Action("do", "Sign out of Communicator"),
                Action("do", f"Open {ui('communicator_advanced')}",
                       why=f"unconfirmed: {facts['signin-manual'].unconfirmed}"),
                Action("select", ui("communicator_manual")),
                Action("type", ui("communicator_server"), f"{ae}:{port}"),
                Action("select", ui("communicator_transport"), ui("communicator_tls")),
                Action("click", "OK"), user, Action("click", ui("communicator_sign_in"))],
                [f"The A record {ae} -> {ae_ip}", f"telnet {ae} {port} from outside", trust],
                self.rules_for("access-remote"),
                then=[Action("do", "Set Advanced back to automatic configuration")])
        rp = t.reverse_proxy
        if rp is not None and remote:
            rp_cert = next((c for c in self._certs if c.purpose == "reverse_proxy"), None)
            test("address-book", outside, [
                *[Action("check", f"{u.url} opens in a browser without a certificate warning",
                         why=u.serves) for u in self._rp_urls()],
                Action("do", "Sign in to Communicator from outside (test above) and wait a few "
                       "minutes for the address book download"),
                Action("do", "Search for a colleague by name who is not in your contact list"),
                Action("do", "Add a distribution group to the contact list and expand it")],
                [f"{rp.fqdn} resolves to {self.rp_address()} from outside",
                 f"The pool's external web farm FQDN is {rp.fqdn} (Web Component Properties)",
                 f"The listener certificate ({rp_cert.ca if rp_cert else 'its CA'}) is trusted "
                 "by the test computer, and the reverse proxy trusts "
                 f"{t.certificates.internal_ca}",
                 "Communicator's configuration information (Ctrl + right-click the tray icon) "
                 "lists the external address book URL"],
                self.rules_for("rp-https-in", "rp-web-components"))
        anon = [s for s in self.access_servers() if self.anonymous_on(s)]
        web = self.with_role("webconf")
        if anon and web:
            wce = role_fqdn(t, web[0], "webconf") or ""
            content = ([f"Meeting content comes through {rp.fqdn}: the address-book test "
                        "above passes"] if rp else
                       ["This site has no reverse proxy: the meeting's slides and handouts "
                        "cannot download from outside (expected)"])
            test("meeting-anonymous",
                 "A computer on the Internet with no account in the organization", [
                     Action("do", "An internal user schedules a Live Meeting that allows "
                            "anonymous participants and sends the invitation with the meeting "
                            "key to the tester"),
                     Action("do", "On the outside computer, open the invitation's link and "
                            "install the Live Meeting 2007 client if asked (from Microsoft's "
                            "download link)"),
                     Action("type", ui("live_meeting_key"), why="the key from the invitation"),
                     Action("type", ui("live_meeting_name"),
                            why="any display name: you join as a guest"),
                     Action("do", "The organizer shares a slide")],
                 [f"telnet {wce} {self.cat.port('webconf-psom')} opens from outside",
                  f"The certificate of {wce} is from a CA the outside computer trusts",
                  f"Forest {self.cat.screen('pool_meetings')}: anonymous participants are allowed "
                  "(or enforced per user, and allowed for the organizer)", *content],
                 self.rules_for("webconf-psom"))
        av = self.with_role("av")
        if av and remote:
            ave = role_fqdn(t, av[0], "av") or ""
            ids = self.rules_for("av-stun-udp", "av-stun-tcp", "av-stun-udp-member",
                                 "av-media-in", "av-media-out", "av-auth")
            test("av-call", outside, [
                Action("do", "Signed in from outside (test above), call an internal user with "
                       "audio and video"),
                Action("do", "Talk for a minute: both sides hear and see each other"),
                Action("do", "Add a third participant to the call")],
                [f"From outside, telnet {ave} {self.cat.port('av-stun-tcp')} opens and UDP "
                 f"{self.cat.port('av-stun-udp')} reaches {ave}",
                 f"The A/V Edge's external address ({self.public_address(av[0], 'av')}) is "
                 "public and not behind NAT",
                 f"{self.cat.screen('pool_media')}: {self.cat.pool_side['pool_av_auth'].field} "
                 f"= {self.internal_name(av[0])}",
                 "The A/V authentication certificate is the same (issuer and key) on "
                 + ", ".join(s.name for s in av)],
                ids)
        fed = [s for s in self.access_servers() if self.features_of(s).federation]
        if fed:
            f0 = self.features_of(fed[0])
            partner = self.partner_domain()
            steps = [] if partner else [Action(
                "check", "The partner domain agreed for this test",
                why="this site names no federation partner: agree a test with one and write "
                "its SIP domain down")]
            steps += [
                Action("do", f"A user of {domain} adds a contact of "
                       f"{partner or 'the partner domain'}"),
                Action("do", "The partner's user accepts; both send an IM and change presence")]
            checks = [f"Event 14428 on {', '.join(x.name for x in fed)}: import the "
                      "partner's CA chain into "
                      f"{self.cat.trust.stores['root'].label} / "
                      f"{self.cat.trust.stores['intermediate'].label}",
                      f"Forest {self.cat.screen('pool_federation')}: federation is enabled "
                      "with the route to the edge",
                      "Both users are enabled for federation"]
            if f0.federation_discovery:
                fed_srv = self.cat.dns_records["federation-srv"].record_name(domain=domain)
                checks.insert(0, f"The partner finds {fed_srv} -> "
                              f"{role_fqdn(t, fed[0], 'access')}, port "
                              f"{self.cat.port('access-federation-in')}")
            else:
                checks.insert(0, f"{partner or 'The partner domain'} is on the "
                              f"{self.cat.federation.allow_tab.tab} tab of {fed[0].name} "
                              "(discovery is off)")
            test("federation", "Any signed-in user of this site, and a user of the partner",
                 steps, checks, self.rules_for("access-federation-in", "access-federation-out"),
                 title=self.cat.test_title("federation", partner=partner) if partner
                 else None)
        pic = self.pic_plan
        if pic is not None:
            first = pic.providers[0]
            checks = [f"{first.name} has confirmed provisioning of {pic.access_fqdn}",
                      f"{first.name} is allowed on the {ui('im_provider_tab')} of {pic.edge} "
                      f"(network address {first.network_address})",
                      "The user is enabled for public IM connectivity"]
            if first.id == "aol":
                checks.append("The external certificate has the Client Authentication EKU too")
            test("pic", "Any signed-in user of this site, and a user of the provider", [
                Action("check", f"{first.name} has confirmed provisioning",
                       why="test only then: providers go live separately"),
                Action("do", f"A user of {domain} adds a contact on {first.name}"),
                Action("do", "Both send an IM and change presence")],
                checks, self.rules_for("access-federation-in", "access-federation-out"),
                title=self.cat.test_title("pic", provider=first.name))
        screens = []
        for x in tests:
            screens.append(Screen(x.title, [
                Action("note", f"Where: {x.where}"), *x.steps, x.check, *x.then,
                *[Action("note", f"Failure: {sign}") for sign in x.failure],
                Action("note", "If it fails, check", why="; ".join(x.on_failure))]))
        return Validation(not_proof=self.cat.validation.not_proof.label, tests=tests,
                          screens=screens)

    # -- pool side -----------------------------------------------------------------------

    def place(self, key: PoolSettingKey) -> UiPlace:
        """Where the catalog says pool-side setting ``key`` lives."""
        facts = self.cat.pool_side[key]
        return UiPlace(console=facts.console, path=facts.path, tab=facts.tab,
                       field=facts.field, sources=list(facts.sources),
                       unconfirmed=facts.unconfirmed)

    @staticmethod
    def open_action(where: UiPlace) -> Action:
        tab = f", {where.tab} tab" if where.tab else ""
        return Action("do", f"In the {where.console}, open {where.path}{tab}")

    def pool_side(self) -> PoolSide:
        """What the pool and the forest must be told about the edge (on an internal server)."""
        t = self.t
        settings: list[PoolSetting] = []
        screens: list[Screen] = []
        trusted = sorted({self.internal_name(s) for s in self.access_servers()})
        av = self.with_role("av")
        av_name = self.internal_name(av[0]) if av else None
        av_port = int(self.cat.port("av-auth"))
        edge_tab = self.place("trusted_access_edge")
        mras = self.place("trusted_av_auth")
        if trusted:
            settings.append(PoolSetting(
                "trusted-access-edge", "Trusted Access Edge", trusted, edge_tab,
                "internal servers refuse SIP from an edge that is not on this list"))
        if av_name:
            settings.append(PoolSetting(
                "trusted-av-auth", "Trusted A/V authentication service",
                [f"{av_name}:{av_port}"], mras,
                "the pool asks this service for the media relay credentials it hands to "
                "clients at sign-in"))
        edge_actions = [self.open_action(edge_tab)]
        edge_actions += [Action("type", edge_tab.field, n, why="internal servers refuse an "
                                "edge that is not on this list") for n in trusted]
        if av_name:
            edge_actions += [Action("type", mras.field, f"{av_name}:{av_port}",
                                    why="the A/V authentication service listens on this port")]
        if trusted or av_name:
            screens.append(Screen(self.cat.screen("pool_edge_servers"), edge_actions))
        web = self.with_role("webconf")
        wce = [WebConfEdgeEntry(server=s.name, internal_fqdn=server_fqdn(t, s),
                                internal_port=int(self.cat.port("webconf-internal")),
                                external_fqdn=role_fqdn(t, s, "webconf") or "",
                                external_port=int(self.cat.port("webconf-psom")))
               for s in web]
        pools = [p.fqdn for p in t.pools if p.kind != "director"]
        pool_names = ", ".join(pools) if pools else "the pool"
        if wce:
            where = self.place("webconf_edge")
            settings.append(PoolSetting(
                "webconf-edge", "Web Conferencing Edge",
                [part for e in wce for part in (f"internal {e.internal_fqdn}:{e.internal_port}",
                                                f"external {e.external_fqdn}:{e.external_port}")],
                where,
                "the Web Conferencing servers connect to each edge on its internal port and "
                "give external participants its external name"))
            actions = [self.open_action(where),
                       Action("note", f"Do this on every pool that hosts meetings: {pool_names}")]
            for e in wce:
                actions += [Action("type", self.cat.ui_name("webconf_internal"),
                                   f"{e.internal_fqdn}:{e.internal_port}",
                                   why=f"one entry per Web Conferencing Edge ({e.server})"),
                            Action("type", self.cat.ui_name("webconf_external"),
                                   f"{e.external_fqdn}:{e.external_port}",
                                   why=f"one entry per Web Conferencing Edge ({e.server})")]
            screens.append(Screen(self.cat.screen("pool_webconf_edge"), actions))
        if av_name:
            where = self.place("pool_av_auth")
            settings.append(PoolSetting(
                "pool-av-auth", "A/V authentication service of the pool", [av_name], where,
                "the pool's A/V Conferencing servers authenticate remote media through it"))
            screens.append(Screen(self.cat.screen("pool_media"), [
                self.open_action(where),
                Action("note", f"Do this on every pool: {pool_names}"),
                Action("select", where.field, av_name,
                       why="listed once the Edge Servers tab names the A/V Edge")]))
        mediation = [MediationRow(fqdn=m.fqdn, av_edge=av_name)
                     for m in t.mediation] if av_name else []
        if mediation:
            where = self.place("mediation_av_edge")
            settings.append(PoolSetting(
                "mediation-av-edge", "A/V Edge of each Mediation Server",
                [f"{m.fqdn} → {m.av_edge}" for m in mediation], where,
                "remote users' calls to and from phones relay their media through the A/V "
                "Edge; the Mediation Server must trust its authentication service"))
            actions = []
            for m in mediation:
                actions += [Action("do", f"In the {where.console}, open {where.path} of "
                                   f"{m.fqdn}, {where.tab} tab"),
                            Action("select", where.field, m.av_edge)]
            screens.append(Screen(self.cat.screen("pool_mediation"), actions))
        fed = [s for s in self.access_servers() if self.features_of(s).federation]
        route = None
        if fed:
            director = self.hop is not None and self.hop.kind == "director"
            route = FederationRoute(
                fqdn=self.hop.fqdn if director and self.hop else self.internal_name(fed[0]),
                port=int(self.cat.port("access-internal-in")),
                via="director" if director else "access_edge")
            where = self.place("federation_route")
            settings.append(PoolSetting(
                "federation-route", "Global federation route", [f"{route.fqdn}:{route.port}"],
                where, "internal servers send federated and public IM traffic to the Director "
                "when there is one, else to the Access Edge's internal side"))
            screens.append(Screen(self.cat.screen("pool_federation"), [
                self.open_action(where),
                Action("tick", self.cat.ui_name("federation_enable"),
                       why="users can be enabled for federation and public IM only once the "
                       "forest allows it"),
                Action("type", self.cat.ui_name("federation_fqdn"), route.fqdn,
                       why="the Director when there is one, else the Access Edge's internal "
                       "name"),
                Action("type", self.cat.ui_name("federation_port"), str(route.port))]))
        anonymous = None
        if any(self.anonymous_on(s) for s in self.access_servers()):
            where = self.place("anonymous_participants")
            options = self.cat.pool_side["anonymous_participants"].options
            anonymous = options["allow"]
            per_user = self.cat.pool_side["anonymous_per_user"]
            settings.append(PoolSetting(
                "anonymous-participants", "Meeting policy for anonymous participants",
                [anonymous], where, "the edge admits anonymous users, but only organizers "
                "the meeting policy allows can invite them"))
            screens.append(Screen(self.cat.screen("pool_meetings"), [
                self.open_action(where),
                Action("select", where.field, anonymous,
                       why="anonymous meetings are on at the edge; to let only chosen "
                       f"organizers invite anonymous users, choose {options['per_user']} "
                       f"instead and tick {per_user.field} in each organizer's "
                       "Meeting Options")]))
        if t.reverse_proxy is not None:
            wcp = self.cat.reverse_proxy.web_component_properties
            by_path = {p.path: p for p in self.cat.reverse_proxy.paths}
            screens.append(Screen(wcp.label, [
                Action("type", self.cat.ui_name("web_farm_fqdn"), t.reverse_proxy.fqdn,
                       why="the pool hands the external URLs to remote clients at sign-in; "
                       + (wcp.unconfirmed or "")),
                *[Action("check", f"External URL: https://{t.reverse_proxy.fqdn}{path}",
                         why=by_path[path].serves)
                  for path in by_path]]))
        f_all = [self.features_of(s) for s in self.access_servers()]
        remote = self.cat.ui_name("user_remote_access")
        users = [label for on, label in (
            (any(f.remote_access for f in f_all), remote),
            (any(f.federation for f in f_all), self.cat.ui_name("user_federation")),
            (any(f.public_im for f in f_all), self.cat.ui_name("user_public_im"))) if on]
        if users:
            where = self.place("users_wizard")
            tab = self.place("user_properties")
            settings.append(PoolSetting(
                "user-access", "Users enabled for external access", users, where,
                "each user must be enabled for what they use from outside; remote access "
                "has no forest-wide switch"))
            screens.append(Screen(self.cat.screen("pool_users_wizard"), [
                self.open_action(where),
                *[Action("tick", label,
                         why="federation and public IM take effect only once the Federation "
                         "tab enables them for the forest" if label != remote
                         else "remote access is set per user (or pool) only")
                  for label in users],
                Action("note", f"For a single user: {tab.path}, {tab.tab} tab")]))
        return PoolSide(
            access_edges=trusted, av_auth_fqdn=av_name,
            av_auth_port=av_port if av_name else None, webconf_edges=wce,
            federation_route=route, mediation=mediation, anonymous_participants=anonymous,
            user_settings=users, settings=settings, screens=screens)

    # -- federation partners --------------------------------------------------------------

    def federation(self, dns: list[DnsRecord]) -> FederationPlan | None:
        """The Allow tab entries and the DNS both sides need (None: nobody federates)."""
        t = self.t
        fed = [s for s in self.access_servers() if self.features_of(s).federation]
        if not fed:
            return None
        facts = self.cat.federation
        discovery = self.features_of(fed[0]).federation_discovery
        port = self.cat.port(facts.partner_srv.port)
        srv = facts.partner_srv.name.split("<", 1)[0]
        rows = []
        for p in t.edge.federation_partners:
            srv_name = f"{srv}{p.domain}"
            if p.access_edge:
                rows.append(FederationPartnerRow(
                    domain=p.domain, access_edge=p.access_edge, entry="domain-and-edge",
                    found_by=f"the Allow tab entry: our Access Edge connects to "
                    f"{p.access_edge} on TCP {port}",
                    partner_dns=f"a public A record for {p.access_edge}, and a certificate "
                    "on that Access Edge whose subject name is that FQDN"))
            else:
                rows.append(FederationPartnerRow(
                    domain=p.domain, access_edge=None, entry="domain",
                    found_by=f"the partner's SRV record {srv_name}",
                    partner_dns=f"{srv_name} SRV pointing at the partner's Access Edge "
                    f"external FQDN, port {port}, and that FQDN's public A record"))
        fed_srv = [r for r in dns if r.type == "SRV" and r.name.startswith(srv)]
        targets = {r.value for r in fed_srv}
        ours = fed_srv + [r for r in dns if r.type == "A" and r.value != ""
                          and r.scope == "external" and r.name in targets]
        a = facts.allow_tab
        where = UiPlace(console=a.console, path=a.path, tab=a.tab, field=a.field,
                        sources=list(a.sources), unconfirmed=a.unconfirmed)
        screens = []
        for s in fed:
            actions = [Action("do", f"On {s.name}, open {a.console}: {a.path}, {a.tab} tab",
                              why="the edge is not a domain member: its federation settings "
                              "are made on the edge itself"),
                       Action("check", self.cat.label("federation_discovery"),
                              "ticked" if discovery else "cleared",
                              why=f"set in {self.step_name(3)}")]
            for r in rows:
                actions.append(Action("click", self.cat.ui_name("allow_add"),
                                      why=f"partner {r.domain}"))
                actions.append(Action("type", facts.partner_domain.label, r.domain))
                if r.access_edge:
                    actions.append(Action("type", facts.partner_edge.label, r.access_edge,
                                          why="direct federation with this Access Edge"))
                else:
                    actions.append(Action("note", f"Leave {facts.partner_edge.label} empty",
                                          why=f"found through {srv}{r.domain}"))
                actions.append(Action("click", "OK"))
            if rows:
                partners = "1 partner" if len(rows) == 1 else f"{len(rows)} partners"
                actions.append(Action("check", f"The {a.tab} tab lists {partners}",
                                      ", ".join(r.domain for r in rows)))
            elif not discovery:
                actions.append(Action("warning", "No partner is listed and discovery is off: "
                                      "this Access Edge federates with nobody (public IM "
                                      "providers aside)"))
            screens.append(Screen(self.cat.screen("federation_allow", server=s.name), actions))
        notes = [facts.throttling.label + ". List every partner you trust, even with "
                 "discovery on."]
        if discovery:
            notes.append("Discovery is on: a partner not on the list is found through its "
                         f"{facts.partner_srv.name} SRV record, at a lower trust level than "
                         "a listed one.")
        else:
            notes.append("Discovery is off: only the partners on the Allow list can "
                         "federate with this site.")
        notes.append("Partners find this site through its own records (above), with "
                     "discovery on their side, or through an Allow tab entry naming this "
                     "site's Access Edge.")
        notes.append(facts.firewall.label + ".")
        return FederationPlan(edges=[s.name for s in fed], discovery=discovery, partners=rows,
                              our_records=ours, where=where, screens=screens, notes=notes)

    def pic(self) -> Pic | None:
        t = self.t
        owners = self.pic_owners()
        if not owners:
            return None
        s = owners[0]
        providers = list(self.features_of(s).public_im)
        access = role_fqdn(t, s, "access")
        ui, screen = self.cat.ui_name, self.cat.screen
        rows = [PicProvider(id=p, name=self.providers[p],
                            network_address=self.provider_addresses[p],
                            filter=self.cat.provider_filter.option)
                for p in providers]
        return Pic(
            edge=s.name,
            access_fqdn=access,
            providers=rows,
            needs_client_auth_eku="aol" in providers,
            submit=[
                PicField(ui("pic_field_domains"), ", ".join(t.domains.sip)),
                PicField(ui("pic_field_fqdn"), access),
                PicField(ui("pic_field_organization"), t.organization),
                PicField(ui("pic_field_providers"),
                         ", ".join(self.providers[p] for p in providers)),
                PicField(ui("pic_field_agreement"), None),
                PicField(ui("pic_field_contact"), None),
            ],
            steps=[
                PicStep(screen("pic_edge"), [
                    Action("do", f"On {s.name}, open the Access Edge properties, "
                           f"{ui('im_provider_tab')}"),
                    *[Action("tick", ui("pic_allow", provider=self.providers[p]),
                             f"network address {self.provider_addresses[p]}",
                             why="the address published for OCS 2007; confirm it against the "
                             "provider's provisioning confirmation (Microsoft KB 897567 lists "
                             "the providers' addresses)") for p in providers],
                    Action("check", "Federation is enabled on this Access Edge")]),
                PicStep(screen("pic_users"), [
                    Action("tick", ui("user_enable_public_im"),
                           why="Configure Users wizard or each user's Communications tab; "
                           "needs federation enabled for the forest first")]),
                PicStep(screen("pic_submit"), [
                    Action("type", ui("pic_form"),
                           why="with the values below; the per-user PIC subscription must be "
                           "bought first")]),
                PicStep(screen("pic_wait"), [
                    Action("check", f"{self.providers[p]} has confirmed provisioning",
                           why="providers activate separately and can take weeks; if the "
                           "Access Edge FQDN ever changes, every provider must be "
                           "re-provisioned") for p in providers]),
                PicStep(screen("pic_test"), [
                    Action("check", "A user of this site adds a contact from "
                           f"{self.providers[p]} and exchanges IM and presence (no file "
                           "transfer, audio or video over public IM)") for p in providers]),
            ],
        )

    def checklist(self, warnings: list[Finding]) -> list[Action]:
        t = self.t
        items = [
            Action("check", "Each edge server is a workgroup server, not joined to "
                   f"{t.domains.internal}, and you can sign in as a local Administrator"),
            Action("check", "Each server has its NICs, addresses and single default gateway "
                   "as on the Addressing page, and the persistent static routes are in place"),
            Action("check", f"The root certificate of {t.certificates.internal_ca} is "
                   "imported into each server's Trusted Root store"),
            Action("check", "The DNS records on the DNS page are requested (the internal A "
                   "records are added by hand)"),
            Action("check", "The firewall rules on the Firewall page are requested and "
                   "implemented on both firewalls"),
            Action("check", "The certificate requests are planned with their CAs (a public CA "
                   "needs lead time)"),
            Action("check", f"The vault entries {self.vault_entry('service_account')} and "
                   f"{self.vault_entry('product_key')} exist and you can read them"),
            Action("check", "Each edge resolves the next hop and internal servers (hosts file "
                   "or a perimeter DNS server; do not point the edge at internal DNS)"),
        ]
        shared = [c for c in self._certs if c.exportable_key and len(c.servers) > 1]
        if shared:
            keys = ("the password of the exported certificate key" if len(shared) == 1
                    else f"the passwords of the {len(shared)} exported certificate keys")
            items.append(Action("check", f"You can create vault entries under {t.site}/ocs-edge/"
                                f"pfx/: Step 4 stores there {keys}"))
        if not t.certificates.internal_crl:
            items.append(Action("check", "The administrator of "
                                f"{t.certificates.internal_ca} has named its CRL distribution "
                                "point (host and URL) for the internal firewall rule",
                                why="add it to the topology under certificates.internal_crl"))
        items.append(Action("check", "Two test users exist, enabled for the features under "
                            "test, with their passwords in the vault entries "
                            f"{self.test_user_vault(1)} and {self.test_user_vault(2)}; a "
                            "computer on the Internet without VPN is ready for the tests"))
        if t.reverse_proxy is not None:
            items.append(Action("check", "The reverse proxy host is installed with its "
                                f"external ({t.reverse_proxy.external_ip}) and internal "
                                f"({t.reverse_proxy.internal_ip}) NICs, and its listener "
                                f"certificate for {t.reverse_proxy.fqdn} is ordered"))
        if self.balanced:
            items.append(Action("check", "The load balancer VIPs on the Load balancer section "
                                "are configured and their members are healthy"))
        if warnings:
            items.append(Action("check", "Every warning on the Overview page is understood "
                                "and accepted"))
        return items

    def build(self, provenance: Provenance, warnings: list[Finding]) -> Plan:
        t = self.t
        self._certs = self.certificates()
        self._certs_of: dict[str, list[Certificate]] = {}
        for cert in self._certs:
            for holder in dict.fromkeys(cert.servers):
                self._certs_of.setdefault(holder, []).append(cert)
        hop = self.hop
        feature_rows = []
        for s in self.access_servers():
            f = self.features_of(s)
            feature_rows.append(FeatureRow(
                server=s.name, remote_access=f.remote_access,
                anonymous_meetings=self.anonymous_on(s),
                federation=f.federation,
                federation_discovery=f.federation and f.federation_discovery,
                public_im=[self.providers[p] for p in f.public_im]))
        servers = [ServerRow(name=s.name, fqdn=server_fqdn(t, s), roles=list(s.roles),
                             role_names=[self.names[r] for r in s.roles],
                             internal_name=self.internal_name(s)) for s in t.edge.servers]
        title = t.title or f"{t.organization} edge deployment ({t.site})"
        summary = Summary(
            title=title,
            layout=self.layout(),
            layout_text=self.layout_text(),
            sip_domains=list(t.domains.sip),
            default_sip_domain=t.domains.sip[0],
            internal_zone=t.domains.internal,
            external_zone=t.domains.external,
            next_hop=NextHop(fqdn=hop.fqdn, kind=hop.kind, kind_name=KIND_NAMES[hop.kind],
                             reason=self.next_hop_reason(),
                             explicit=t.next_hop is not None) if hop else None,
            pools=[PoolRow(fqdn=p.fqdn, kind=p.kind, kind_name=KIND_NAMES[p.kind], ip=p.ip)
                   for p in t.pools],
            roles=list(self.roles),
            role_names=[self.names[r] for r in self.roles],
            role_fqdns={r: getattr(t.edge.fqdns, r) for r in self.roles},
            features=feature_rows,
            public_im=sorted({p for s in self.access_servers()
                              for p in self.features_of(s).public_im},
                             key=list(self.providers).index),
            load_balanced_roles=list(self.balanced),
            load_balancer_name=(self.lb.name if self.lb and self.lb.name else
                                "hardware load balancer") if self.balanced else None,
            split=self.split,
            certificate_authorities=CertificateAuthorities(
                public=t.certificates.public_ca, internal=t.certificates.internal_ca),
            external_certificates=ExternalCertificates(
                chosen=t.certificates.external,
                recommended=self.cat.external_certificates.recommended,
                reason=self.cat.external_certificates.reason),
            change=Change(**t.change.model_dump()) if t.change else None,
            status="warnings" if warnings else "valid",
        )
        hosts = [HostEntry(ip=p.ip, fqdn=p.fqdn) for p in t.pools if p.ip]
        # Trust and validation name the firewall rules, the DNS records and PIC.
        firewall = self.firewall()
        self.dns_records = self.dns()
        self.pic_plan = self.pic()
        return Plan(
            meta=Meta(site=t.site, title=title, organization=t.organization,
                      environment=t.environment, product=t.product, source=provenance.source,
                      revision=provenance.revision, generator=provenance.generator,
                      provenance=provenance.line()),
            summary=summary, servers=servers, addresses=self.addresses(),
            routes=self.routes(), vips=self.vips(), certificates=self._certs,
            dns=self.dns_records, firewall=firewall, wizard=self.wizard(),
            pool_side=self.pool_side(), federation=self.federation(self.dns_records),
            pic=self.pic_plan, reverse_proxy=self.reverse_proxy(), trust=self.trust(),
            validation=self.validation(),
            checklist=self.checklist(warnings), hosts_file=hosts,
            subnets=self.subnets(), warnings=warnings)


def build_plan(topology: Topology, provenance: Provenance,
               warnings: Iterable[Mapping[str, Any]] | None = None) -> Plan:
    """Derive the plan of a valid topology.

    ``warnings`` are the rule findings to carry into the pages (plain dicts from
    :meth:`~runbook.errors.Problem.as_dict`).
    """
    findings = [Finding(**w) for w in warnings or []]
    return _Deriver(topology).build(provenance, findings)
