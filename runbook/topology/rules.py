"""Deployment rules for an OCS 2007 edge: what a well-formed topology must also satisfy.

Each rule is a function that yields :class:`~runbook.errors.Problem` objects positioned at
the field to change. Rules never stop at the first finding; :func:`check` runs them all.
``environment: lab`` downgrades the rules marked ``lab_ok`` to warnings.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator
from ipaddress import IPv4Address, IPv4Interface
from urllib.parse import urlsplit

from runbook.errors import Problem
from runbook.topology.loader import PathKey, Source, format_path
from runbook.topology.model import (
    ROLE_NAMES,
    ROLES,
    Topology,
    deployed_roles,
    effective_features,
    role_fqdn,
    server_fqdn,
    servers_with,
)

Rule = Callable[[Topology, Source], Iterator[Problem]]
RULES: list[Rule] = []

# Not publicly routable, so useless as an A/V Edge address (documentation ranges are
# deliberately absent: examples use them as stand-ins for public addresses).
NON_PUBLIC = [ipaddress.IPv4Network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "127.0.0.0/8",
    "169.254.0.0/16", "0.0.0.0/8", "224.0.0.0/4", "240.0.0.0/4", "192.0.0.0/24",
    "198.18.0.0/15")]
LB_SERVERS_HINT = ("load-balancing all three roles needs four servers: two or more running "
                   "Access + Web Conferencing and two or more running only the A/V Edge")


def rule(fn: Rule) -> Rule:
    """Register a rule; rules run in the order they are defined."""
    RULES.append(fn)
    return fn


def is_public(ip: str) -> bool:
    """True when ``ip`` can be reached from the Internet (documentation ranges count)."""
    addr = IPv4Address(ip)
    return not any(addr in net for net in NON_PUBLIC)


def _severity(t: Topology) -> str:
    return "warning" if t.environment == "lab" else "error"


def _server_path(i: int, *rest: str | int) -> PathKey:
    return ("edge", "servers", i, *rest)


def load_balanced_roles(t: Topology) -> list[str]:
    """Roles that run on more than one server behind the load balancer."""
    if t.edge.load_balancer is None:
        return []
    return [r for r in ROLES if len(servers_with(t, r)) > 1]


def is_split(t: Topology) -> bool:
    """Several Access Edges with no access VIP: one for remote users, one for federation."""
    lb = t.edge.load_balancer
    return len(servers_with(t, "access")) > 1 and (lb is None or lb.access is None)


@rule
def edge_not_domain_joined(t: Topology, src: Source) -> Iterator[Problem]:
    for i, s in enumerate(t.edge.servers):
        if s.domain_joined:
            yield src.problem(_server_path(i, "domain_joined"), "an edge server must stay in a "
                              "workgroup, never joined to the internal domain: set it to false")


@rule
def roles_have_nics_and_names(t: Topology, src: Source) -> Iterator[Problem]:
    for i, s in enumerate(t.edge.servers):
        if len(set(s.roles)) != len(s.roles):
            yield src.problem(_server_path(i, "roles"), "a role is listed twice: list each once")
        for role in ROLES:
            nic = getattr(s.nics, role)
            if role in s.roles and nic is None:
                yield src.problem(_server_path(i, "nics"), f"role '{role}' runs on {s.name} but "
                                  f"has no NIC: add nics.{role} with its own address")
            if role not in s.roles and nic is not None:
                yield src.problem(_server_path(i, "nics", role), f"{s.name} has a {role} NIC "
                                  "but does not run that role: remove the NIC or add "
                                  f"'{role}' to roles")
    if not servers_with(t, "access"):
        yield src.problem(("edge", "servers"), "no server runs the Access Edge role, which every "
                          "edge deployment needs: add 'access' to a server's roles")
    for role in ROLES:
        has_servers = bool(servers_with(t, role))
        declared = getattr(t.edge.fqdns, role) is not None
        per_server = all(s.fqdns is not None and getattr(s.fqdns, role) is not None
                         for s in servers_with(t, role))
        if has_servers and not declared and not per_server:
            yield src.problem(("edge", "fqdns"), f"the {ROLE_NAMES[role]} role is deployed but "
                              f"has no public name: add edge.fqdns.{role}")
        if declared and not has_servers:
            yield src.problem(("edge", "fqdns", role), f"no server runs the {ROLE_NAMES[role]} "
                              f"role: remove edge.fqdns.{role} or add the role to a server")


@rule
def addresses_unique(t: Topology, src: Source) -> Iterator[Problem]:
    seen: dict[str, PathKey] = {}

    def visit(ip: str | None, path: PathKey) -> Iterator[Problem]:
        if ip is None:
            return
        addr = ip.split("/")[0]
        if addr in seen:
            yield src.problem(path, f"address {addr} is already used at "
                              f"{format_path(seen[addr])}: every NIC, public address and VIP "
                              "needs its own address")
        else:
            seen[addr] = path

    for i, s in enumerate(t.edge.servers):
        for nic_name in ("internal", *ROLES):
            nic = getattr(s.nics, nic_name)
            if nic is not None:
                yield from visit(nic.ip, _server_path(i, "nics", nic_name, "ip"))
                yield from visit(nic.public_ip, _server_path(i, "nics", nic_name, "public_ip"))
    lb = t.edge.load_balancer
    if lb is not None:
        for role in ROLES:
            vip = getattr(lb, role)
            if vip is not None:
                for key in ("external_ip", "public_ip", "internal_ip"):
                    yield from visit(getattr(vip, key),
                                     ("edge", "load_balancer", role, key))
    for j, pool in enumerate(t.pools):
        yield from visit(pool.ip, ("pools", j, "ip"))


@rule
def av_address_public(t: Topology, src: Source) -> Iterator[Problem]:
    sev = _severity(t)
    for i, s in enumerate(t.edge.servers):
        if s.nics.av is None:
            continue
        ip = s.nics.av.ip.split("/")[0]
        # also behind a load balancer: each A/V Edge hands clients its own address
        if not is_public(ip):
            yield src.problem(_server_path(i, "nics", "av", "ip"), f"the A/V Edge address {ip} "
                              "is not publicly routable: media relay needs a public address "
                              "routed to this NIC without NAT", severity=sev, code="av-public")
        if s.nics.av.public_ip is not None:
            yield src.problem(_server_path(i, "nics", "av", "public_ip"), "the A/V Edge must not "
                              "be behind NAT: give the NIC its public address directly and "
                              "remove public_ip", severity=sev, code="av-nat")
    lb = t.edge.load_balancer
    if lb is not None and lb.av is not None:
        if lb.av.external_ip is not None and not is_public(lb.av.external_ip):
            yield src.problem(("edge", "load_balancer", "av", "external_ip"), "the A/V VIP must "
                              "be a publicly routable address: use a public address routed to "
                              "the load balancer without NAT", severity=sev, code="av-public")
        if lb.av.public_ip is not None:
            yield src.problem(("edge", "load_balancer", "av", "public_ip"), "the A/V VIP must "
                              "not be behind NAT: remove public_ip", severity=sev, code="av-nat")


@rule
def external_addresses_reachable(t: Topology, src: Source) -> Iterator[Problem]:
    sev = _severity(t)
    balanced = load_balanced_roles(t)

    def nat_target(public_ip: str | None, path: PathKey) -> Iterator[Problem]:
        if public_ip is not None and not is_public(public_ip):
            yield src.problem(path, f"public_ip {public_ip} is not a public address, yet public "
                              "DNS would point at it: give the address the NAT publishes on "
                              "the Internet", severity=sev, code="private-public-ip")

    def unreachable(ip: str, path: PathKey) -> Iterator[Problem]:
        if t.environment == "production" and not is_public(ip):
            yield src.problem(path, f"{ip} is private and has no public_ip: public DNS cannot "
                              "point at it; add the NAT address as public_ip",
                              severity="warning", code="no-public-ip")

    for i, s in enumerate(t.edge.servers):
        for role in ("access", "webconf"):
            nic = getattr(s.nics, role)
            if nic is None:
                continue
            yield from nat_target(nic.public_ip, _server_path(i, "nics", role, "public_ip"))
            if role not in balanced and nic.public_ip is None:
                yield from unreachable(nic.ip.split("/")[0], _server_path(i, "nics", role, "ip"))
    lb = t.edge.load_balancer
    for role in ("access", "webconf"):
        vip = getattr(lb, role) if lb is not None else None
        if vip is None:
            continue
        path: PathKey = ("edge", "load_balancer", role)
        yield from nat_target(vip.public_ip, (*path, "public_ip"))
        if vip.public_ip is None and vip.external_ip is not None:
            yield from unreachable(vip.external_ip, (*path, "external_ip"))


@rule
def gateways_and_routes(t: Topology, src: Source) -> Iterator[Problem]:
    for i, s in enumerate(t.edge.servers):
        internal = IPv4Interface(s.nics.internal.ip)
        if s.nics.internal.gateway is not None:
            yield src.problem(_server_path(i, "nics", "internal", "gateway"), "the internal NIC "
                              "must not have a default gateway: remove it and list the internal "
                              "networks under routes")
        overlapping = [r for r in ROLES if getattr(s.nics, r) is not None and
                       IPv4Interface(getattr(s.nics, r).ip).network.overlaps(internal.network)]
        if overlapping:
            yield src.problem(_server_path(i, "nics", "internal", "ip"), f"the internal NIC "
                              f"{internal} shares a subnet with the {', '.join(overlapping)} "
                              "NIC(s): put it on an internal subnet of its own")
        gateways = []
        for role in ROLES:
            nic = getattr(s.nics, role)
            if nic is None:
                continue
            iface = IPv4Interface(nic.ip)
            if nic.gateway is not None:
                gateways.append(role)
                if IPv4Address(nic.gateway) not in iface.network:
                    yield src.problem(_server_path(i, "nics", role, "gateway"), f"gateway "
                                      f"{nic.gateway} is outside the NIC's subnet {iface.network}: "
                                      "use a router on that subnet")
                elif IPv4Address(nic.gateway) == iface.ip:
                    yield src.problem(_server_path(i, "nics", role, "gateway"), "the gateway "
                                      "is the NIC's own address: use the router's address")
                elif IPv4Address(nic.gateway) in (iface.network.network_address,
                                                  iface.network.broadcast_address):
                    yield src.problem(_server_path(i, "nics", role, "gateway"), f"gateway "
                                      f"{nic.gateway} is the network or broadcast address of "
                                      f"{iface.network}, never a router: use the router's "
                                      "address")
            if nic.routes:
                yield src.problem(_server_path(i, "nics", role, "routes"), "static routes "
                                  "belong on the internal NIC: move them to nics.internal.routes")
        if not gateways:
            yield src.problem(_server_path(i, "nics"), f"{s.name} has no default gateway: set "
                              "gateway on one external NIC (usually the Access Edge NIC)")
        for role in gateways[1:]:
            yield src.problem(_server_path(i, "nics", role, "gateway"), f"{s.name} has more than "
                              f"one default gateway (also on {gateways[0]}): keep exactly one, "
                              "on one external NIC")
        for j, route in enumerate(s.nics.internal.routes):
            path = _server_path(i, "nics", "internal", "routes", j)
            if IPv4Address(route.via) not in internal.network:
                yield src.problem((*path, "via"), f"router {route.via} is not on the internal "
                                  f"NIC's subnet {internal.network}: use a router reachable "
                                  "from that NIC")
            elif IPv4Address(route.via) in (internal.network.network_address,
                                            internal.network.broadcast_address):
                yield src.problem((*path, "via"), f"router {route.via} is the network or "
                                  f"broadcast address of {internal.network}: use the router's "
                                  "address")
            elif IPv4Address(route.via) == internal.ip:
                yield src.problem((*path, "via"), "the router is the NIC's own address: use "
                                  "the router's address")
            if ipaddress.IPv4Network(route.to).prefixlen == 0:
                yield src.problem((*path, "to"), "a default route on the internal NIC would "
                                  "send Internet traffic inward: list internal networks only")
        for j, pool in enumerate(t.pools):
            if pool.ip is None:
                continue
            addr = IPv4Address(pool.ip)
            covered = addr in internal.network or any(
                addr in ipaddress.IPv4Network(r.to) for r in s.nics.internal.routes)
            if not covered:
                yield src.problem(("pools", j, "ip"), f"{s.name} cannot reach {pool.fqdn} "
                                  f"({pool.ip}) through its internal NIC: add a route to "
                                  f"edge.servers[{i}].nics.internal.routes")


@rule
def servers_unique(t: Topology, src: Source) -> Iterator[Problem]:
    """Each server has its own name and FQDN, which no pool has.

    Names are compared without case (they are stored lower-cased): Windows computer names
    and DNS ignore it, so EDGE01 and edge01 are one machine and one set of DNS records.
    """
    names: dict[str, int] = {}
    fqdns: dict[str, int] = {}
    pools = {p.fqdn: j for j, p in enumerate(t.pools)}
    for i, s in enumerate(t.edge.servers):
        first_name = names.setdefault(s.name, i)
        if first_name != i:
            yield src.problem(_server_path(i, "name"), f"server name {s.name} is already used "
                              f"by edge.servers[{first_name}] (names are compared without "
                              "case, as Windows and DNS do): give each server its own name")
        fqdn = server_fqdn(t, s)
        path = _server_path(i, "fqdn") if s.fqdn else _server_path(i, "name")
        first_fqdn = fqdns.setdefault(fqdn, i)
        if first_fqdn != i and first_name == i:  # a repeated name is reported once, above
            yield src.problem(path, f"internal FQDN {fqdn} is already the FQDN of "
                              f"edge.servers[{first_fqdn}]: each server needs its own")
        if fqdn in pools:
            yield src.problem(path, f"internal FQDN {fqdn} is also the FQDN of "
                              f"pools[{pools[fqdn]}]: an edge server is never a pool or "
                              "Director; give the edge server its own name")


# Pairs of kinds whose shared name another rule reports (servers_unique, names_in_zones,
# split_access_edges, load_balancing_layout), or that may share one: a server's own public
# name for a role and the edge-wide one for the same role.
_REPORTED_ELSEWHERE = {("pool", "pool"), ("pool", "server"), ("server", "server"),
                       ("role", "role")}


@rule
def fqdns_distinct(t: Topology, src: Source) -> Iterator[Problem]:
    """Every FQDN names one thing: a pool or Director, an edge server, an internal VIP, a
    role's public name, or the reverse proxy.

    Compared in that order, each repeat reported once, where it is written later. One name
    for two of them gives two hosts one DNS name, so the plan's records, certificates and
    wizard screens would send clients to the wrong one.
    """
    named: list[tuple[PathKey, str, str, str, str]] = []  # path, fqdn, kind, role, what
    for j, pool in enumerate(t.pools):
        named.append((("pools", j, "fqdn"), pool.fqdn, "pool", "",
                      f"the FQDN of pools[{j}]"))
    for i, s in enumerate(t.edge.servers):
        path = _server_path(i, "fqdn") if s.fqdn else _server_path(i, "name")
        named.append((path, server_fqdn(t, s), "server", "",
                      f"the internal FQDN of edge.servers[{i}]"))
    lb = t.edge.load_balancer
    for role in ("access", "av"):
        vip = getattr(lb, role) if lb is not None else None
        if vip is not None and vip.internal_fqdn:
            named.append((("edge", "load_balancer", role, "internal_fqdn"), vip.internal_fqdn,
                          "vip", role, f"the internal FQDN of the {ROLE_NAMES[role]} VIP"))
    for role in ROLES:
        name = getattr(t.edge.fqdns, role)
        if name is not None:
            named.append((("edge", "fqdns", role), name, "role", role,
                          f"the {ROLE_NAMES[role]}'s public name (edge.fqdns.{role})"))
    for i, s in enumerate(t.edge.servers):
        for role in ROLES:
            name = getattr(s.fqdns, role) if s.fqdns is not None else None
            if name is not None:
                named.append((_server_path(i, "fqdns", role), name, "role", role,
                              f"the {ROLE_NAMES[role]}'s public name on edge.servers[{i}]"))
    if t.reverse_proxy is not None:
        named.append((("reverse_proxy", "fqdn"), t.reverse_proxy.fqdn, "proxy", "",
                      "the reverse proxy's FQDN"))
    first: dict[str, tuple[str, str, str]] = {}
    for path, fqdn, kind, role, what in named:
        seen = first.setdefault(fqdn, (kind, role, what))
        if seen == (kind, role, what):
            continue
        seen_kind, seen_role, seen_what = seen
        if (seen_kind, kind) in _REPORTED_ELSEWHERE and (kind != "role" or role == seen_role
                                                         or path[1] == "fqdns"):
            continue
        yield src.problem(path, f"{fqdn} is already {seen_what}: one name for two hosts or "
                          "roles sends DNS, certificates and clients to the wrong one; give "
                          "this one a name of its own")


@rule
def names_in_zones(t: Topology, src: Source) -> Iterator[Problem]:
    internal, external = t.domains.internal, t.domains.external
    for i, s in enumerate(t.edge.servers):
        fqdn = server_fqdn(t, s)
        if not fqdn.endswith("." + internal):
            path = _server_path(i, "fqdn") if s.fqdn else _server_path(i, "name")
            yield src.problem(path, f"internal name {fqdn} is not in the internal zone "
                              f"{internal}: the edge's internal FQDN must be an AD DNS name")
        if s.fqdns is not None:
            for role in ROLES:
                name = getattr(s.fqdns, role)
                if name is not None and not name.endswith("." + external):
                    yield src.problem(_server_path(i, "fqdns", role), f"{name} is not in the "
                                      f"external zone {external}: public names live there")
    for role in ROLES:
        name = getattr(t.edge.fqdns, role)
        if name is not None and not name.endswith("." + external):
            yield src.problem(("edge", "fqdns", role), f"{name} is not in the external zone "
                              f"{external}: use a name under {external}")
    names = [(role, getattr(t.edge.fqdns, role)) for role in ROLES]
    seen: dict[str, str] = {}
    for role, name in names:
        if name is None:
            continue
        if name in seen:
            yield src.problem(("edge", "fqdns", role), f"{name} is already the {seen[name]} name:"
                              " each role needs its own public name and address")
        seen[name] = role
    lb = t.edge.load_balancer
    if lb is not None:
        for role in ("access", "av"):
            vip = getattr(lb, role)
            if vip is not None and vip.internal_fqdn and not vip.internal_fqdn.endswith(
                    "." + internal):
                yield src.problem(("edge", "load_balancer", role, "internal_fqdn"),
                                  f"{vip.internal_fqdn} is not in the internal zone {internal}")
    if len(set(t.domains.sip)) != len(t.domains.sip):
        yield src.problem(("domains", "sip"), "a SIP domain is listed twice: list each once")
    fqdns = [p.fqdn for p in t.pools]
    for j, pool in enumerate(t.pools):
        if fqdns.index(pool.fqdn) != j:
            yield src.problem(("pools", j, "fqdn"), f"pool {pool.fqdn} is listed twice")


@rule
def next_hop_declared(t: Topology, src: Source) -> Iterator[Problem]:
    if t.next_hop is None:
        return
    fqdns = [p.fqdn for p in t.pools]
    if t.next_hop not in fqdns:
        import difflib  # only when the rule fires

        hint = difflib.get_close_matches(t.next_hop, fqdns, n=1)
        extra = f"; did you mean '{hint[0]}'?" if hint else ""
        yield src.problem(("next_hop",), f"{t.next_hop} is not one of the pools "
                          f"({', '.join(fqdns)}){extra} Declare it under pools or pick one")


@rule
def features_consistent(t: Topology, src: Source) -> Iterator[Problem]:
    sev = _severity(t)
    edge_features = t.edge.features
    webconf = bool(servers_with(t, "webconf"))
    if edge_features.anonymous_meetings and not webconf:
        yield src.problem(("edge", "features", "anonymous_meetings"), "anonymous meetings need "
                          "a Web Conferencing Edge: add the webconf role or set this to false")
    for i, s in enumerate(t.edge.servers):
        if "access" not in s.roles:
            if s.features is not None:
                yield src.problem(_server_path(i, "features"), "feature settings belong to "
                                  "Access Edge servers: remove them from this server")
            continue
        f = effective_features(t, s, webconf_deployed=webconf)
        own = s.features is not None and s.features.public_im is not None
        path = _server_path(i, "features", "public_im") if own else (
            "edge", "features", "public_im")
        if f.public_im and not f.federation:
            yield src.problem(path, "Public IM Connectivity runs over federation: enable "
                              "federation on this Access Edge or remove the providers")
        if f.public_im and t.certificates.public_ca is None:
            yield src.problem(path, "Public IM Connectivity needs the Access Edge certificate "
                              "from a public CA: set certificates.public_ca", severity=sev,
                              code="pic-public-ca")
        if len(set(f.public_im)) != len(f.public_im):
            yield src.problem(path, "a provider is listed twice: list each once")
    anonymous = any(effective_features(t, s, webconf_deployed=webconf).anonymous_meetings
                    for s in servers_with(t, "access")) and webconf
    if anonymous and t.certificates.public_ca is None:
        yield src.problem(("edge", "features", "anonymous_meetings"), "anonymous meeting "
                          "participants must trust the Web Conferencing Edge certificate, so it "
                          "needs a public CA: set certificates.public_ca, or set "
                          "anonymous_meetings: false", severity=sev, code="anonymous-public-ca")
    external_roles = [r for r in ("access", "webconf") if servers_with(t, r)]
    if external_roles and t.certificates.public_ca is None and t.environment == "production" \
            and not anonymous:
        yield src.problem(("certificates",), "no public CA is named: external clients and "
                          "partners will not trust an internal CA's certificate on the "
                          "Access/Web Conferencing Edge; set certificates.public_ca",
                          severity="warning", code="no-public-ca")


@rule
def reverse_proxy_present(t: Topology, src: Source) -> Iterator[Problem]:
    rp = t.reverse_proxy
    webconf = bool(servers_with(t, "webconf"))
    remote = any(effective_features(t, s, webconf_deployed=webconf).remote_access
                 for s in servers_with(t, "access"))
    if rp is None:
        if remote and t.environment == "production":
            lacking = "no address book and no distribution group expansion"
            if servers_with(t, "webconf"):
                lacking = ("no address book, no distribution group expansion and no meeting "
                           "content (slides, handouts)")
            yield src.problem(("edge", "features", "remote_access"), "remote access without a "
                              f"reverse proxy: remote users will get {lacking}; add "
                              "reverse_proxy: (fqdn, external_ip, internal_ip)",
                              severity="warning", code="no-reverse-proxy")
        return
    zone = t.domains.external
    if not (rp.fqdn == zone or rp.fqdn.endswith("." + zone)):
        yield src.problem(("reverse_proxy", "fqdn"), f"'{rp.fqdn}' is not in the external "
                          f"zone {zone}: public DNS must resolve it, so use a name under {zone}")
    if not is_public(rp.public_ip or rp.external_ip):
        path = ("reverse_proxy", "public_ip" if rp.public_ip else "external_ip")
        yield src.problem(path, f"{rp.public_ip or rp.external_ip} is not reachable from the "
                          "Internet: give the public address a NAT maps to the listener "
                          "(reverse_proxy.public_ip)")


@rule
def crl_reachable(t: Topology, src: Source) -> Iterator[Problem]:
    points = t.certificates.internal_crl
    schemes = [urlsplit(p.url).scheme.lower() for p in points]
    if points and "http" not in schemes:
        yield src.problem(("certificates", "internal_crl", 0, "url"), "only LDAP distribution "
                          "points: the edges are workgroup servers in the perimeter network, so "
                          "reading the CRL from Active Directory needs LDAP through the internal "
                          "firewall to a domain controller that answers anonymous reads; publish "
                          "the CRL over HTTP on a host the perimeter reaches and add its http:// "
                          "URL", severity="warning", code="crl-ldap")
    for i, p in enumerate(points):
        if p.ip is None:
            continue
        addr = IPv4Address(p.ip)
        for j, s in enumerate(t.edge.servers):
            nic = s.nics.internal
            nets = [IPv4Interface(nic.ip).network,
                    *(ipaddress.IPv4Network(r.to) for r in nic.routes)]
            if not any(addr in n for n in nets):
                yield src.problem(("certificates", "internal_crl", i, "ip"), f"{p.ip} is neither "
                                  f"on {s.name}'s internal subnet nor on a route of its internal "
                                  "NIC: the CRL download would leave through the default gateway "
                                  "on the external side; add a route (edge.servers["
                                  f"{j}].nics.internal.routes)", severity="warning",
                                  code="crl-unrouted")
                break


@rule
def load_balancing_layout(t: Topology, src: Source) -> Iterator[Problem]:
    lb = t.edge.load_balancer
    multi = [r for r in ROLES if len(servers_with(t, r)) > 1]
    if lb is None:
        for role in multi:
            if role == "access":
                continue  # several Access Edges without a VIP is the split design
            yield src.problem(("edge", "servers"), f"the {ROLE_NAMES[role]} role runs on "
                              f"{len(servers_with(t, role))} servers, which needs a hardware "
                              f"load balancer: add edge.load_balancer with a VIP for {role}")
        return
    balanced = load_balanced_roles(t)
    if not balanced:
        yield src.problem(("edge", "load_balancer"), "a load balancer is declared but every "
                          "role runs on one server: add servers (" + LB_SERVERS_HINT + ") or "
                          "remove load_balancer")
    for role in ROLES:
        vip = getattr(lb, role)
        count = len(servers_with(t, role))
        if role in balanced and vip is None and not (role == "access" and is_split(t)):
            yield src.problem(("edge", "load_balancer"), f"the {ROLE_NAMES[role]} role runs on "
                              f"{count} servers: add load_balancer.{role} with its VIP")
        if vip is not None and count < 2:
            yield src.problem(("edge", "load_balancer", role), f"a VIP for the "
                              f"{ROLE_NAMES[role]} needs two or more servers running it, found "
                              f"{count}: {LB_SERVERS_HINT}")
        if vip is not None:
            needed = ["external_ip"] + (["internal_ip", "internal_fqdn"]
                                         if role in ("access", "av") else [])
            for key in needed:
                if getattr(vip, key) is None:
                    yield src.problem(("edge", "load_balancer", role), f"the {role} VIP needs "
                                      f"{key}: add it")
    if balanced:
        for i, s in enumerate(t.edge.servers):
            if "av" in s.roles and len(s.roles) > 1:
                yield src.problem(_server_path(i, "roles"), "with load balancing the A/V Edge "
                                  "runs on servers of its own: move it off this server; "
                                  + LB_SERVERS_HINT)
            if "webconf" in balanced and "webconf" in s.roles and "access" not in s.roles:
                yield src.problem(_server_path(i, "roles"), "a load-balanced Web Conferencing "
                                  "Edge must share its server with an Access Edge: add 'access'")
        for role in balanced:
            names = {role_fqdn(t, s, role) for s in servers_with(t, role)}
            if len(names) > 1:
                for i, s in enumerate(t.edge.servers):
                    if s.fqdns is not None and getattr(s.fqdns, role) is not None and \
                            role in s.roles:
                        yield src.problem(_server_path(i, "fqdns", role), f"servers behind one "
                                          f"{role} VIP share one public name, but this one "
                                          f"differs ({', '.join(sorted(n for n in names if n))}"
                                          "): remove the per-server name")
        for i, s in enumerate(t.edge.servers):
            if s.features is not None:
                yield src.problem(_server_path(i, "features"), "servers behind a load balancer "
                                  "must be configured identically: set features under "
                                  "edge.features only")


@rule
def split_access_edges(t: Topology, src: Source) -> Iterator[Problem]:
    if not is_split(t):
        return
    access = [(i, s) for i, s in enumerate(t.edge.servers) if "access" in s.roles]
    names: dict[str, int] = {}
    for i, s in access:
        name = role_fqdn(t, s, "access")
        if s.fqdns is None or s.fqdns.access is None:
            yield src.problem(_server_path(i, "fqdns"), "in a split design each Access Edge "
                              "needs its own public name: set fqdns.access on this server")
        elif name in names:
            yield src.problem(_server_path(i, "fqdns", "access"), f"{name} is already the name "
                              f"of edge.servers[{names[name]}]: give each Access Edge its own")
        if name is not None:
            names.setdefault(name, i)
    webconf = bool(servers_with(t, "webconf"))
    features = {i: effective_features(t, s, webconf_deployed=webconf) for i, s in access}
    for feature, label in (("remote_access", "remote user access"),
                           ("federation", "federation"), ("public_im", "Public IM Connectivity")):
        owners = [(i, s) for i, s in access if getattr(features[i], feature)]
        for i, s in owners[1:]:
            own = s.features is not None and getattr(s.features, feature) is not None
            path = _server_path(i, "features", feature) if own else ("edge", "features", feature)
            yield src.problem(path, f"{label} is enabled on {owners[0][1].name} and again on "
                              f"{s.name}: in a split design each feature runs on one Access "
                              "Edge; set it to false on one of them")


@rule
def federation_partners(t: Topology, src: Source) -> Iterator[Problem]:
    """Partners are other organizations, listed once each; an Allow list with discovery off
    is the only way such an edge federates with anyone."""
    ours = set(t.domains.sip)
    own_edges = {name for s in servers_with(t, "access")
                 for name in [role_fqdn(t, s, "access")] if name}
    seen: dict[str, int] = {}
    for j, p in enumerate(t.edge.federation_partners):
        path: PathKey = ("edge", "federation_partners", j)
        if p.domain in ours:
            yield src.problem((*path, "domain"), f"{p.domain} is one of this site's own SIP "
                              "domains (domains.sip): a federation partner is another "
                              "organization; remove the entry or correct the domain")
        # Fqdn values are stored lower-cased, so this comparison ignores case as DNS does.
        first = seen.setdefault(p.domain, j)
        if first != j:
            yield src.problem((*path, "domain"), f"partner {p.domain} is already listed as "
                              f"edge.federation_partners[{first}] (domains are compared "
                              "without case): list each partner once")
        if p.access_edge is not None and p.access_edge in own_edges:
            yield src.problem((*path, "access_edge"), f"{p.access_edge} is this site's own "
                              "Access Edge: give the partner's Access Edge FQDN, or leave "
                              "access_edge out to find it through the partner's DNS SRV record")
    federating = [s for s in servers_with(t, "access") if effective_features(t, s).federation]
    if t.edge.federation_partners and not federating:
        yield src.problem(("edge", "federation_partners"), "federation partners are listed "
                          "but no Access Edge has federation enabled, so the Allow tab is never "
                          "used: set edge.features.federation: true or remove the partners",
                          severity="warning", code="partners-without-federation")
    closed = [s for s in federating if not effective_features(t, s).federation_discovery]
    if closed and not t.edge.federation_partners:
        names = ", ".join(s.name for s in closed)
        yield src.problem(("edge", "features", "federation_discovery"), "federation is on and "
                          f"discovery of partners is off on {names}, but no partner is listed: "
                          "the Access Edge will federate with nobody (public IM providers "
                          "aside); add edge.federation_partners or allow discovery",
                          severity="warning", code="no-federation-partners")


@rule
def mediation_servers(t: Topology, src: Source) -> Iterator[Problem]:
    """Each Mediation Server is listed once and is not also a pool or an edge server."""
    pools = {p.fqdn: j for j, p in enumerate(t.pools)}
    edges = {server_fqdn(t, s): i for i, s in enumerate(t.edge.servers)}
    seen: dict[str, int] = {}
    for j, m in enumerate(t.mediation):
        path: PathKey = ("mediation", j, "fqdn")
        first = seen.setdefault(m.fqdn, j)
        if first != j:
            yield src.problem(path, f"Mediation Server {m.fqdn} is already listed as "
                              f"mediation[{first}]: list each once")
        if m.fqdn in pools:
            yield src.problem(path, f"{m.fqdn} is also pools[{pools[m.fqdn]}]: a Mediation "
                              "Server is its own server (it is never the edge's next hop); "
                              "remove it from one of the lists")
        if m.fqdn in edges:
            yield src.problem(path, f"{m.fqdn} is the internal FQDN of edge.servers"
                              f"[{edges[m.fqdn]}]: a Mediation Server sits on the internal "
                              "network, never on an edge server")
    if t.mediation and not servers_with(t, "av"):
        yield src.problem(("mediation",), "Mediation Servers are listed but no server runs "
                          "the A/V Edge: remote users' calls to phones have no media path "
                          "through the edge; add the av role or ignore this for internal "
                          "calls only", severity="warning", code="mediation-without-av")


def check(topology: Topology, src: Source) -> list[Problem]:
    """Run every rule and return all problems found, errors and warnings alike."""
    out: list[Problem] = []
    for fn in RULES:
        out.extend(fn(topology, src))
    return out


__all__ = ["RULES", "check", "deployed_roles", "is_public", "is_split", "load_balanced_roles"]
