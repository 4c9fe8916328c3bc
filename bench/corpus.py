"""Generated topologies for benchmarks: N valid, varied sites from a seed.

``generate(n, seed)`` returns topology dicts (what a user would write in YAML) that pass
validation; ``plans(topologies)`` validates them and returns their plan dicts; ``write`` saves
them as YAML files for benchmarks that go through the file loader. The same ``n`` and
``seed`` always give the same topologies.

Layouts cycle through what the rules accept: a Consolidated Edge Server, a load-balanced
array (Access + Web Conferencing servers and A/V servers behind VIPs), an IM-only Access
Edge (federation and Public IM Connectivity, no conferencing), Access + Web Conferencing
with the A/V Edge on a server of its own, and split Access Edges.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import yaml

KINDS = ("consolidated", "load-balanced", "im-only", "single-site", "split")
_WORDS = ("alpine", "birch", "cedar", "delta", "ember", "fjord", "granite", "harbor", "iris",
          "juniper", "kestrel", "lumen", "meadow", "nimbus", "onyx", "prairie", "quartz",
          "raven", "summit", "tundra", "umber", "vertex", "willow", "zephyr")
_PROVIDERS = ("msn", "aol", "yahoo")
_CAS = ("DigiCert", "Entrust", "GlobalSign", "Sectigo")


def _host(rng: random.Random, used: set[int]) -> int:
    while True:
        n = rng.randint(10, 250)
        if n not in used:
            used.add(n)
            return n


def _site(i: int, kind: str, rng: random.Random) -> dict[str, Any]:
    word = _WORDS[i % len(_WORDS)]
    org = f"{word.title()} {rng.choice(['Ltd', 'Inc', 'GmbH', 'AG', 'Corp'])} {i:03d}"
    ext = f"{word}{i:03d}.example"
    internal = f"corp.{word}{i:03d}.example"
    a, b = rng.randint(1, 250), rng.randint(1, 250)
    internal_net = f"10.{a}.{b}"
    perimeter_net = f"172.{16 + i % 16}.{rng.randint(0, 255)}"
    public_net = rng.choice(["198.51.100", "203.0.113", "192.0.2"])
    hosts_int: set[int] = set()
    hosts_per: set[int] = set()
    hosts_pub: set[int] = set()
    pools: list[dict[str, Any]] = [
        {"fqdn": f"pool01.{internal}", "kind": rng.choice(["enterprise", "standard"]),
         "ip": f"10.{a}.{(b + 1) % 256}.10"}]
    if kind == "load-balanced" or rng.random() < 0.3:
        pools.insert(0, {"fqdn": f"dir01.{internal}", "kind": "director",
                         "ip": f"10.{a}.{(b + 2) % 256}.5"})
    routes = [{"to": f"10.{a}.0.0/16", "via": f"{internal_net}.1"}]
    hosts_int.add(1)
    hosts_per.add(1)
    hosts_pub.add(1)

    def internal_nic() -> dict[str, Any]:
        return {"name": "Internal", "ip": f"{internal_net}.{_host(rng, hosts_int)}/24",
                "routes": routes}

    def perimeter_nic(name: str, gateway: bool, nat: bool) -> dict[str, Any]:
        nic: dict[str, Any] = {"name": name, "ip": f"{perimeter_net}.{_host(rng, hosts_per)}/24"}
        if gateway:
            nic["gateway"] = f"{perimeter_net}.1"
        if nat:
            nic["public_ip"] = f"{public_net}.{_host(rng, hosts_pub)}"
        return nic

    def av_nic(gateway: bool) -> dict[str, Any]:
        nic: dict[str, Any] = {"name": "A/V Edge",
                               "ip": f"{public_net}.{_host(rng, hosts_pub)}/24"}
        if gateway:
            nic["gateway"] = f"{public_net}.1"
        return nic

    fqdns: dict[str, str] = {"access": f"sip.{ext}"}
    features: dict[str, Any] = {"remote_access": True, "federation": rng.random() < 0.7}
    if features["federation"]:
        features["public_im"] = sorted(rng.sample(_PROVIDERS, rng.randint(0, 3)),
                                       key=_PROVIDERS.index)
    servers: list[dict[str, Any]] = []
    load_balancer: dict[str, Any] | None = None
    if kind == "consolidated":
        fqdns |= {"webconf": f"webconf.{ext}", "av": f"av.{ext}"}
        servers.append({"name": f"{word}-edge01", "roles": ["access", "webconf", "av"], "nics": {
            "internal": internal_nic(),
            "access": perimeter_nic("Access Edge", True, True),
            "webconf": perimeter_nic("Web Conferencing Edge", False, True),
            "av": av_nic(False)}})
    elif kind == "load-balanced":
        fqdns |= {"webconf": f"meet.{ext}", "av": f"av.{ext}"}
        for n in range(1, rng.randint(2, 3) + 1):
            servers.append({"name": f"{word}-edge{n:02d}", "roles": ["access", "webconf"],
                            "nics": {"internal": internal_nic(),
                                     "access": perimeter_nic("DMZ-AE", True, False),
                                     "webconf": perimeter_nic("DMZ-WCE", False, False)}})
        for n in range(1, rng.randint(2, 3) + 1):
            servers.append({"name": f"{word}-av{n:02d}", "roles": ["av"],
                            "nics": {"internal": internal_nic(), "av": av_nic(True)}})
        load_balancer = {
            "name": f"hlb-{word}",
            "access": {"external_ip": f"{perimeter_net}.{_host(rng, hosts_per)}",
                       "public_ip": f"{public_net}.{_host(rng, hosts_pub)}",
                       "internal_ip": f"{internal_net}.{_host(rng, hosts_int)}",
                       "internal_fqdn": f"edgepool.{internal}"},
            "webconf": {"external_ip": f"{perimeter_net}.{_host(rng, hosts_per)}",
                        "public_ip": f"{public_net}.{_host(rng, hosts_pub)}"},
            "av": {"external_ip": f"{public_net}.{_host(rng, hosts_pub)}",
                   "internal_ip": f"{internal_net}.{_host(rng, hosts_int)}",
                   "internal_fqdn": f"avpool.{internal}"}}
    elif kind == "im-only":
        features = {"remote_access": rng.random() < 0.5, "federation": True,
                    "public_im": list(_PROVIDERS[: rng.randint(1, 3)])}
        servers.append({"name": f"{word}-im01", "roles": ["access"], "nics": {
            "internal": internal_nic(), "access": perimeter_nic("Access", True, True)}})
    elif kind == "single-site":
        fqdns |= {"webconf": f"webconf.{ext}", "av": f"av.{ext}"}
        servers.append({"name": f"{word}-edge01", "roles": ["access", "webconf"], "nics": {
            "internal": internal_nic(),
            "access": perimeter_nic("Access Edge", True, True),
            "webconf": perimeter_nic("Web Conferencing Edge", False, True)}})
        servers.append({"name": f"{word}-av01", "roles": ["av"], "nics": {
            "internal": internal_nic(), "av": av_nic(True)}})
    else:  # split: one Access Edge for remote users, another for federation and PIC
        del fqdns["access"]
        features = {"remote_access": True, "federation": True,
                    "public_im": list(_PROVIDERS[: rng.randint(0, 3)])}
        for n, (remote, federation) in enumerate(((True, False), (False, True)), start=1):
            over: dict[str, Any] = {"remote_access": remote, "federation": federation}
            if not federation:
                over["public_im"] = []
            servers.append({"name": f"{word}-sip{n:02d}", "roles": ["access"],
                            "fqdns": {"access": f"sip{n}.{ext}"}, "features": over,
                            "nics": {"internal": internal_nic(),
                                     "access": perimeter_nic("Access", True, True)}})
    topology: dict[str, Any] = {
        "site": f"site-{i:03d}-{kind}",
        "title": f"{org} edge ({kind})",
        "organization": org,
        "environment": "production",
        "domains": {"sip": [ext] + ([f"{word}{i:03d}.example.net"] if i % 3 == 0 else []),
                    "internal": internal, "external": ext},
        "pools": pools,
        "edge": {"fqdns": fqdns, "features": features, "servers": servers,
                 "load_balancer": load_balancer},
        "certificates": {"public_ca": rng.choice(_CAS),
                         "internal_ca": f"{word.title()} Issuing CA"},
        "vault": {"service_account": f"{word}/ocs/RTCProxyService",
                  "product_key": f"{word}/ocs/product-key"},
    }
    return topology


def generate(n: int, seed: int = 1) -> list[dict[str, Any]]:
    """``n`` valid topology dicts, cycling through the layouts; the same seed, the same sites."""
    rng = random.Random(seed)
    return [_site(i, KINDS[i % len(KINDS)], rng) for i in range(n)]


def plans(topologies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Validate each topology dict and return its plan dict (raises if one is invalid)."""
    from runbook.errors import ValidationFailed
    from runbook.plan.derive import Provenance, build_plan
    from runbook.topology.loader import Source
    from runbook.topology.validate import check_source

    out = []
    for data in topologies:
        file = f"corpus/{data['site']}.yaml"
        loaded = check_source(Source(file=file, text="", data=data), Path(file))
        if not loaded.ok or loaded.topology is None:
            raise ValidationFailed(f"generated topology {file} is invalid", loaded.errors)
        warnings = [w.as_dict() for w in loaded.warnings]
        plan = build_plan(loaded.topology, Provenance(source=file), warnings)
        out.append(plan.to_dict())
    return out


def write(folder: Path, n: int, seed: int = 1) -> list[Path]:
    """Write ``generate(n, seed)`` as ``<site>.yaml`` files under ``folder``; return the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for data in generate(n, seed):
        path = folder / f"{data['site']}.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        paths.append(path)
    return paths


if __name__ == "__main__":
    import collections

    sample = plans(generate(50))
    print(collections.Counter(p["summary"]["layout"] for p in sample))
