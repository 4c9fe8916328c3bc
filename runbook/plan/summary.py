"""A plain-text summary of a plan, for ``runbook plan`` without ``--json``."""

from __future__ import annotations

from runbook.plan.derive import Plan


def summarize(plan: Plan) -> str:
    """A terminal-friendly digest: servers, addresses, certificates, DNS, firewall counts."""
    s = plan.summary
    out = [f"{plan.meta.title} [{plan.meta.site}, {plan.meta.environment}]",
           plan.meta.provenance, "",
           f"Layout:      {s.layout_text}",
           f"SIP domains: {', '.join(s.sip_domains)} (default {s.default_sip_domain})",
           f"Zones:       internal {s.internal_zone}, external {s.external_zone}"]
    if s.next_hop:
        hop = s.next_hop
        out.append(f"Next hop:    {hop.fqdn} ({hop.kind_name})")
    out += ["", "Addresses:"]
    for a in plan.addresses:
        public = f" -> {a.public_ip}" if a.public_ip else ""
        gw = f" gw {a.gateway}" if a.gateway else ""
        out.append(f"  {a.server:<10} {a.role_name:<22} {a.ip}/{a.prefix}{public}{gw}  {a.fqdn}")
    for v in plan.vips:
        out.append(f"  VIP        {v.role_name:<22} {v.external_ip} public {v.public_ip or '-'}"
                   f" internal {v.internal_ip or '-'}")
    out += ["", "Certificates:"]
    for c in plan.certificates:
        key = "exportable key" if c.exportable_key else "key stays on server"
        out.append(f"  {c.title}: CN={c.subject_cn} SAN={', '.join(c.sans)} ({c.ca}, {key}) "
                   f"on {', '.join(c.servers)}")
    out += ["", "DNS records:"]
    for d in plan.dns:
        port = f" port {d.port}" if d.port else ""
        out.append(f"  [{d.zone}] {d.type:<3} {d.name} -> {d.value}{port}")
    out += ["", f"Firewall rules: {sum(r.firewall == 'external' for r in plan.firewall)} "
            f"external, {sum(r.firewall == 'internal' for r in plan.firewall)} internal"]
    if plan.pic:
        out.append(f"Public IM:   {', '.join(p.name for p in plan.pic.providers)}")
    if plan.warnings:
        out += ["", "Warnings:"] + [f"  {w.path}: {w.message}" for w in plan.warnings]
    return "\n".join(out)
