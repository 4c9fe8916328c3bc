"""What changed between two plans of a site, in the terms the people doing the work use.

:func:`diff_plans` compares two plans (never two YAML texts: a reordered or reformatted file
that plans the same deployment has no changes) and returns a :class:`PlanDiff` of plain data:
DNS records, certificates to re-issue, firewall rules, addresses, servers, and the wizard
steps to re-run on each server. :func:`format_diff` renders it for a terminal;
:func:`load_plan_at_revision` reads the plan of a file as committed in git.

Which steps to re-run is read from the plan's own runbook: a step must be re-run on a
server when a value the engineer enters on one of its screens (a tick, a typed name, a
selected address) differs between the two plans.
"""

from __future__ import annotations

import dataclasses
import subprocess
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from runbook.errors import RunbookError, ValidationFailed

if TYPE_CHECKING:
    from runbook.plan.derive import Plan

Row = dict[str, Any]
ENTERED = ("tick", "clear", "type", "select")
DNS_KEY = ("zone", "name", "type")
DNS_FIELDS = ("scope", "value", "port", "priority", "weight")
# A rule is the same rule while its firewall, direction and purpose stay: a new port or
# address is one changed rule (old and new), not one removed and one added.
FIREWALL_KEY = ("firewall", "direction", "purpose")
FIREWALL_FIELDS = ("source", "destination", "protocol", "ports")
ADDRESS_KEY = ("server", "nic")
ADDRESS_FIELDS = ("ip", "prefix", "netmask", "gateway", "public_ip", "fqdn", "dns_address",
                  "nic_name")
SERVER_FIELDS = ("roles", "fqdn", "internal_name")
ROUTE_KEY = ("server", "to")
VIP_FIELDS = ("fqdn", "external_ip", "public_ip", "internal_ip", "internal_fqdn", "members",
              "external_ports", "internal_ports")
# A certificate must be requested again when any of these differ.
REISSUE_FIELDS = {"subject_cn": "subject CN", "sans": "subject alternative names",
                  "ca": "issuing CA", "issuer": "issuer type", "eku": "enhanced key usage",
                  "exportable_key": "key exportability", "key_size": "key size"}
NEW_SERVER = "new server: the whole runbook"


def _step_titles(plan: dict[str, Any]) -> dict[int, str]:
    """The wizard's step titles from the catalog of the plan's product."""
    from runbook.plan.catalog import catalog

    return catalog(plan.get("meta", {}).get("product", "ocs2007")).step_titles()


ChangeKind = Literal["added", "removed", "changed"]


class GitError(RunbookError):
    """A git revision or a file in it cannot be read."""


class DifferentSites(RunbookError):
    """The two versions compared are topologies of two different sites."""

    exit_code = 2


def check_same_site(old: Plan | dict[str, Any], new: Plan | dict[str, Any], *,
                    old_name: str = "OLD", new_name: str = "NEW",
                    what: str = "a diff compares", anyway: str = "compare them") -> None:
    """Raise :class:`DifferentSites` unless both plans are of one site (the same slug);
    ``what`` compares them, and ``--force`` would ``anyway`` (the message's words)."""
    o, n = _as_dict(old)["meta"]["site"], _as_dict(new)["meta"]["site"]
    if o != n:
        raise DifferentSites(
            f"{old_name} is site {o} and {new_name} is site {n}: {what} two versions of one "
            f"site. If the site was renamed, give --force to {anyway} anyway.")


@dataclass
class Change:
    """One row added, removed or changed; ``fields`` names what changed."""

    kind: ChangeKind
    key: str
    old: Row | None = None
    new: Row | None = None
    fields: list[str] = field(default_factory=list)


@dataclass
class CertificateChange:
    """A certificate to request (added), retire (removed) or re-issue / re-deploy (changed)."""

    kind: ChangeKind
    id: str
    subject_cn: str
    reissue: bool
    reasons: list[str]
    servers: list[str]
    old: Row | None = None
    new: Row | None = None
    # The servers that must run Step 4 again for this change.
    step_servers: list[str] = field(default_factory=list)


@dataclass
class StepRerun:
    """A wizard step to run again on one server, and why."""

    server: str
    step: int
    title: str
    reasons: list[str]


@dataclass
class PlanDiff:
    """Everything that differs between two plans of one site, as plain data."""

    site: str
    old_provenance: str
    new_provenance: str
    servers: list[Change] = field(default_factory=list)
    dns: list[Change] = field(default_factory=list)
    certificates: list[CertificateChange] = field(default_factory=list)
    firewall: list[Change] = field(default_factory=list)
    addresses: list[Change] = field(default_factory=list)
    routes: list[Change] = field(default_factory=list)
    vips: list[Change] = field(default_factory=list)
    steps: list[StepRerun] = field(default_factory=list)
    integration: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    old_site: str | None = None
    """The old plan's site, where it is another (a diff forced across two sites)."""
    renumbered: list[Row] = field(default_factory=list)
    """Firewall rules whose id changed (``firewall``, ``old_id``, ``new_id``, ``changed``):
    the ids number the rules in order, so a rule added or removed before others moves
    theirs; ``changed`` when the rule changed too (it is also in :attr:`firewall`)."""

    @property
    def empty(self) -> bool:
        """True when nothing that affects the deployment changed."""
        return not (self.servers or self.dns or self.certificates or self.firewall
                    or self.addresses or self.routes or self.vips or self.steps
                    or self.integration or self.notices)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data."""
        return {**dataclasses.asdict(self), "empty": self.empty}


# -- matching rows -------------------------------------------------------------------------


def _key(row: Row, names: Iterable[str]) -> tuple[Any, ...]:
    return tuple(row.get(n) for n in names)


def _differs(old: Row, new: Row, names: Iterable[str]) -> list[str]:
    return [n for n in names if old.get(n) != new.get(n)]


def _pairs(olds: list[Row], news: list[Row], fields: tuple[str, ...]) -> list[tuple[int, int]]:
    """Pair the rows left under one key, each old with at most one new: closest first.

    Closest is fewest differing ``fields``, then fewest differing values of the whole row
    (what else identifies it: its server, its id), then the order of the plan (old, then new).
    So with one rule per edge under a key, each edge's old rule pairs with its new one.
    """
    every = tuple(dict.fromkeys(k for r in (*olds, *news) for k in r))
    ranked = sorted((len(_differs(o, n, fields)), len(_differs(o, n, every)), i, j)
                    for i, o in enumerate(olds) for j, n in enumerate(news))
    used_old: set[int] = set()
    used_new: set[int] = set()
    pairs = []
    for _, _, i, j in ranked:
        if i not in used_old and j not in used_new:
            used_old.add(i)
            used_new.add(j)
            pairs.append((i, j))
    return sorted(pairs, key=lambda p: p[1])


def _match(old: list[Row], new: list[Row], key: Callable[[Row], tuple[Any, ...]],
           fields: Iterable[str], label: Callable[[Row], str]) -> list[Change]:
    """Pair rows by ``key``; a row that differs in some ``fields`` is one changed row.

    Under one key, equal rows pair up first; the rest pair closest first (:func:`_pairs`), as
    many as both sides have. Only rows left without a partner are removed or added.
    """
    fields = tuple(fields)
    by_old: dict[tuple[Any, ...], list[Row]] = {}
    for r in old:
        by_old.setdefault(key(r), []).append(r)
    by_new: dict[tuple[Any, ...], list[Row]] = {}
    for r in new:
        by_new.setdefault(key(r), []).append(r)
    removed: list[Change] = []
    added: list[Change] = []
    changed: list[Change] = []
    for k in dict.fromkeys([*by_old, *by_new]):
        olds, news = list(by_old.get(k, [])), list(by_new.get(k, []))
        for r in list(olds):
            same = next((n for n in news if not _differs(r, n, fields)), None)
            if same is not None:
                olds.remove(r)
                news.remove(same)
        pairs = _pairs(olds, news, fields)
        changed += [Change("changed", label(news[j]), olds[i], news[j],
                           _differs(olds[i], news[j], fields)) for i, j in pairs]
        paired_old, paired_new = {i for i, _ in pairs}, {j for _, j in pairs}
        removed += [Change("removed", label(r), old=r) for i, r in enumerate(olds)
                    if i not in paired_old]
        added += [Change("added", label(r), new=r) for j, r in enumerate(news)
                  if j not in paired_new]
    return removed + added + changed


def _rows(plan: dict[str, Any], part: str) -> list[Row]:
    return list(plan.get(part) or [])


# -- certificates ---------------------------------------------------------------------------


def _cert_reasons(old: Row, new: Row, org_changed: tuple[str, str] | None) -> list[str]:
    reasons = []
    if old["subject_cn"] != new["subject_cn"]:
        reasons.append(f"subject CN {old['subject_cn']} → {new['subject_cn']}")
    gone = [s for s in old["sans"] if s not in new["sans"]]
    came = [s for s in new["sans"] if s not in old["sans"]]
    if gone:
        reasons.append("SAN removed: " + ", ".join(gone))
    if came:
        reasons.append("SAN added: " + ", ".join(came))
    for name in ("ca", "issuer", "key_size"):
        if old[name] != new[name]:
            reasons.append(f"{REISSUE_FIELDS[name]} {old[name]} → {new[name]}")
    if old["eku"] != new["eku"]:
        reasons.append(f"enhanced key usage {', '.join(old['eku']) or 'none'} → "
                       f"{', '.join(new['eku']) or 'none'}")
    if old["exportable_key"] != new["exportable_key"]:
        reasons.append("key must now be exportable (shared by several servers)"
                       if new["exportable_key"] else "key no longer needs to be exportable")
    if org_changed is not None:
        reasons.append(f"organization (O) {org_changed[0]} → {org_changed[1]}")
    return reasons


def _certificates(old: dict[str, Any], new: dict[str, Any]) -> list[CertificateChange]:
    olds, news = _rows(old, "certificates"), _rows(new, "certificates")
    o_org, n_org = old["meta"].get("organization"), new["meta"].get("organization")
    org_changed = (o_org, n_org) if o_org != n_org else None
    pairs: list[tuple[Row, Row]] = []
    # Ids derive from names, so a renamed certificate keeps its purpose and first server.
    for match in (lambda c: (c["id"],), lambda c: (c["purpose"], c["request_on"]),
                  lambda c: (c["purpose"], tuple(c["servers"]))):
        for o in list(olds):
            n = next((x for x in news if match(x) == match(o)), None)
            if n is not None:
                pairs.append((o, n))
                olds.remove(o)
                news.remove(n)
    out: list[CertificateChange] = []
    for o in olds:
        out.append(CertificateChange("removed", o["id"], o["subject_cn"], False,
                                     [f"no longer needed: revoke it at {o['ca']} and remove "
                                      "it from " + ", ".join(o["servers"])],
                                     list(o["servers"]), old=o,
                                     step_servers=list(o["servers"])))
    for n in news:
        out.append(CertificateChange("added", n["id"], n["subject_cn"], True,
                                     [f"new certificate: request it from {n['ca']}"],
                                     list(n["servers"]), new=n,
                                     step_servers=list(n["servers"])))
    for o, n in pairs:
        reasons = _cert_reasons(o, n, org_changed)
        reissue = bool(reasons)
        gained = [s for s in n["servers"] if s not in o["servers"]]
        lost = [s for s in o["servers"] if s not in n["servers"]]
        if gained and not reissue:
            reasons.append("install the existing certificate on " + ", ".join(gained)
                           + f" (export it with its key from {n['request_on']})")
        if lost:
            reasons.append("remove it from " + ", ".join(lost))
        if reasons:
            step_servers = list(n["servers"]) if reissue else gained
            step_servers += [s for s in lost if s not in step_servers]
            out.append(CertificateChange("changed", n["id"], n["subject_cn"], reissue,
                                         reasons, list(n["servers"]), old=o, new=n,
                                         step_servers=step_servers))
    return out


# -- wizard steps ---------------------------------------------------------------------------


def _entered(actions: Iterable[Row]) -> list[tuple[str, str]]:
    """(label, what the engineer enters) for the actions that set a value."""
    out = []
    for a in actions:
        if a["kind"] not in ENTERED:
            continue
        if a["kind"] == "tick":
            value = "ticked"
        elif a["kind"] == "clear":
            value = "cleared"
        else:
            value = a["value"] if a["value"] is not None else "chosen"
        out.append((a["label"], str(value)))
    return out


def _value_changes(old: list[tuple[str, str]], new: list[tuple[str, str]]) -> list[str]:
    """Readable differences between two lists of (label, value), grouped by label."""
    labels = list(dict.fromkeys([lbl for lbl, _ in new] + [lbl for lbl, _ in old]))
    out = []
    for label in labels:
        o = Counter(v for lbl, v in old if lbl == label)
        n = Counter(v for lbl, v in new if lbl == label)
        gone = [v for v in dict.fromkeys(v for lbl, v in old if lbl == label)
                for _ in range((o - n)[v])]
        came = [v for v in dict.fromkeys(v for lbl, v in new if lbl == label)
                for _ in range((n - o)[v])]
        if len(gone) == 1 and len(came) == 1:
            out.append(f"{label}: {gone[0]} → {came[0]}")
            continue
        if gone:
            verb = "remove" if n else "no longer"
            out.append(f"{label}: {verb} " + ", ".join(gone))
        if came:
            out.append(f"{label}: add " + ", ".join(came) if o else
                       f"{label}: " + ", ".join(came) + " (new)")
    return out


def _step_values(runbook: Row, number: int) -> list[tuple[str, str]]:
    for step in runbook["steps"]:
        if step["number"] == number:
            return [v for screen in step["screens"] for v in _entered(screen["actions"])]
    return []


def _steps(old: dict[str, Any], new: dict[str, Any],
           certs: list[CertificateChange]) -> list[StepRerun]:
    before = {r["server"]: r for r in _rows(old, "wizard")}
    out: list[StepRerun] = []
    known = _step_titles(new)
    for rb in _rows(new, "wizard"):
        name = rb["server"]
        titles = {s["number"]: s["title"] for s in rb["steps"]} or known
        if name not in before:
            out += [StepRerun(name, n, titles.get(n, known.get(n, f"Step {n}")),
                              [NEW_SERVER]) for n in sorted(titles)]
            continue
        reasons: dict[int, list[str]] = {}
        for n in (2, 3, 4):
            found = _value_changes(_step_values(before[name], n), _step_values(rb, n))
            if found:
                reasons[n] = found
        cert_reasons = [f"{_cert_verb(c)} {c.id}: {r}" for c in certs
                        if name in c.step_servers for r in c.reasons]
        if cert_reasons:
            # The certificate's own reasons say it better than the wizard fields do.
            reasons[4] = cert_reasons
        if 2 in reasons:
            for n in (3, 4):
                reasons.setdefault(n, ["follows the role change in Step 2"])
        if reasons:
            reasons[5] = ["restart the services so the changes take effect"]
            reasons[6] = ["validate after the changes"]
        out += [StepRerun(name, n, titles.get(n, known.get(n, f"Step {n}")), reasons[n])
                for n in sorted(reasons)]
    return out


def _cert_verb(c: CertificateChange) -> str:
    if c.kind == "changed":
        return "re-issue" if c.reissue else "re-deploy"
    return "request" if c.kind == "added" else "retire"


def _integration(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    def values(plan: dict[str, Any]) -> list[tuple[str, str]]:
        screens = list((plan.get("pool_side") or {}).get("screens") or [])
        screens += (plan.get("federation") or {}).get("screens") or []
        return [(f"{s['title']} › {label}", value) for s in screens
                for label, value in _entered(s["actions"])]

    return _value_changes(values(old), values(new))


def _notices(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    out = []
    o_pic, n_pic = old.get("pic"), new.get("pic")
    o_prov = [p["name"] for p in (o_pic or {}).get("providers", [])]
    n_prov = [p["name"] for p in (n_pic or {}).get("providers", [])]
    if o_pic and n_pic:
        # Providers route to what was provisioned: any change means a new request to them.
        before = {r["field"]: r["value"] for r in o_pic.get("submit", [])}
        for row in n_pic.get("submit", []):
            if row["field"] in before and before[row["field"]] != row["value"]:
                out.append(f"Public IM: {row['field']} {before[row['field']]} → "
                           f"{row['value']}: send every provider an updated provisioning "
                           "request")
    for p in n_prov:
        if p not in o_prov:
            out.append(f"Public IM: {p} to be provisioned (new provider)")
    for p in o_prov:
        if p not in n_prov:
            out.append(f"Public IM: {p} no longer used: cancel its provisioning")
    if old["meta"]["site"] != new["meta"]["site"]:
        out.append(f"site slug {old['meta']['site']} → {new['meta']['site']}: page and file "
                   "names change")
    return out


def _renumbered(old: list[Row], new: list[Row], changes: list[Change]) -> list[Row]:
    """The firewall rules whose id changed (see :attr:`PlanDiff.renumbered`): the unchanged
    rules under another id, and the changed rules (``changes``) whose id moved."""
    def same(r: Row) -> tuple[Any, ...]:
        return _key(r, FIREWALL_KEY + FIREWALL_FIELDS)

    new_ids: dict[tuple[Any, ...], list[str]] = {}
    for r in new:
        new_ids.setdefault(same(r), []).append(r["id"])
    moved = []
    for r in old:
        ids = new_ids.get(same(r))
        if ids:
            now = ids.pop(0)
            if now != r["id"]:
                moved.append({"firewall": r["firewall"], "old_id": r["id"], "new_id": now,
                              "changed": False})
    moved += [{"firewall": c.new["firewall"], "old_id": c.old["id"], "new_id": c.new["id"],
               "changed": True} for c in changes
              if c.kind == "changed" and c.old and c.new and c.old["id"] != c.new["id"]]
    return sorted(moved, key=lambda m: (m["firewall"], m["old_id"]))


def _renumbered_notice(moved: list[Row]) -> list[str]:
    if not moved:
        return []
    return ["Firewall rule ids renumbered by the rules added or removed before them: "
            + ", ".join(f"{m['old_id']} → {m['new_id']}" + (" (changed too)" if m["changed"]
                                                            else "") for m in moved)
            + "; rules on the firewalls named by id need the new ids"]


# -- public API -----------------------------------------------------------------------------


def _as_dict(plan: Plan | dict[str, Any]) -> dict[str, Any]:
    return plan if isinstance(plan, dict) else plan.to_dict()


def diff_plans(old: Plan | dict[str, Any], new: Plan | dict[str, Any]) -> PlanDiff:
    """Compare two plans of a site; the result lists only what changes the deployment."""
    o, n = _as_dict(old), _as_dict(new)

    def dns_label(r: Row) -> str:
        return f"{r['zone']} {r['name']} {r['type']}"

    def fw_label(r: Row) -> str:
        return (f"{r['firewall']} {r['direction']} {r['source']} → {r['destination']} "
                f"{r['protocol']} {r['ports']}")

    certs = _certificates(o, n)
    firewall = _match(_rows(o, "firewall"), _rows(n, "firewall"),
                      lambda r: _key(r, FIREWALL_KEY), FIREWALL_FIELDS, fw_label)
    moved = _renumbered(_rows(o, "firewall"), _rows(n, "firewall"), firewall)
    return PlanDiff(
        site=n["meta"]["site"],
        old_provenance=o["meta"]["provenance"],
        new_provenance=n["meta"]["provenance"],
        servers=_match(_rows(o, "servers"), _rows(n, "servers"), lambda r: (r["name"],),
                       SERVER_FIELDS, lambda r: r["name"]),
        dns=_match(_rows(o, "dns"), _rows(n, "dns"), lambda r: _key(r, DNS_KEY), DNS_FIELDS,
                   dns_label),
        certificates=certs,
        firewall=firewall,
        addresses=_match(_rows(o, "addresses"), _rows(n, "addresses"),
                         lambda r: _key(r, ADDRESS_KEY), ADDRESS_FIELDS,
                         lambda r: f"{r['server']} {r['nic']}"),
        routes=_match(_rows(o, "routes"), _rows(n, "routes"), lambda r: _key(r, ROUTE_KEY),
                      ("via",), lambda r: f"{r['server']} to {r['to']}"),
        vips=_match(_rows(o, "vips"), _rows(n, "vips"), lambda r: (r["role"],), VIP_FIELDS,
                    lambda r: f"{r['role_name']} VIP"),
        steps=_steps(o, n, certs),
        integration=_integration(o, n),
        notices=_notices(o, n) + _renumbered_notice(moved),
        old_site=o["meta"]["site"] if o["meta"]["site"] != n["meta"]["site"] else None,
        renumbered=moved,
    )


def _git(args: list[str], cwd: Path) -> str:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, timeout=30,
                              check=False)
    except FileNotFoundError:
        raise GitError("git is not installed; --git needs it") from None
    except (OSError, subprocess.SubprocessError) as exc:
        raise GitError(f"git {' '.join(args)} failed: {exc}") from None
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GitError(message[-1] if message else f"git {' '.join(args)} failed")
    try:
        return done.stdout.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise GitError(f"git output is not UTF-8 text ({exc.reason})") from None


def load_plan_at_revision(path: Path | str, rev: str) -> Plan:
    """The plan of ``path`` as committed at git revision ``rev`` of its repository.

    Raises :class:`GitError` when the file is not in a repository or not in that revision,
    :class:`~runbook.errors.ValidationFailed` when the committed version is invalid.
    """
    from runbook.plan.derive import Provenance, build_plan
    from runbook.topology.loader import load_text
    from runbook.topology.validate import check_source, display_name

    path = Path(path)
    folder = path.resolve().parent
    if not folder.is_dir():
        raise GitError(f"{path}: folder does not exist")
    try:
        root = Path(_git(["rev-parse", "--show-toplevel"], folder).strip()).resolve()
    except GitError as exc:
        raise GitError(f"{path} is not in a git repository ({exc.message})") from None
    rel = path.resolve().relative_to(root).as_posix()
    try:
        commit = _git(["rev-parse", "--short", "--verify", "--end-of-options",
                       f"{rev}^{{commit}}"], root).strip()
    except GitError:
        raise GitError(f"{rev}: not a revision of the repository at {root}; list the "
                       f"revisions that changed the file with: git log --oneline -- "
                       f"{rel}") from None
    try:
        text = _git(["show", f"{commit}:{rel}"], root)
    except GitError:
        raise GitError(f"{rel} does not exist at revision {rev} ({commit})") from None
    # As the pages' provenance names it (runbook.plan.provenance): the last commit at or
    # before rev that changed the file, merges left out (their --name-only lists nothing).
    touched = _git(["log", "-1", "--no-merges", "--format=%h", commit, "--", rel],
                   root).strip() or commit
    shown = display_name(path)
    src, problems = load_text(text, f"{shown}@{rev}")
    loaded = check_source(src, path) if not problems else None
    errors = problems if loaded is None else loaded.errors
    if errors or loaded is None or loaded.topology is None:
        raise ValidationFailed(f"{len(errors)} error(s) in {shown} at {rev}", errors)
    return build_plan(loaded.topology, Provenance(source=shown, revision=touched),
                      [w.as_dict() for w in loaded.warnings])


# -- the terminal report ----------------------------------------------------------------------


def _count(items: list[Any], kinds: Iterable[str]) -> str:
    counts = Counter(i.kind for i in items)
    return ", ".join(f"{counts[k]} {k}" for k in kinds if counts[k])


def _dns_text(r: Row) -> str:
    if r["type"] == "SRV":
        value = f"{r['priority']} {r['weight']} {r['port']} {r['value']}"
    else:
        value = str(r["value"])
    return f"{r['name']} {r['type']} {value}  ({r['zone']}, {r['scope']})"


def _fw_text(r: Row) -> str:
    return (f"{r['id']} {r['firewall']} {r['direction']}: {r['source']} → {r['destination']}"
            f"  {r['protocol']} {r['ports']}  ({r['purpose']})")


def _value_text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return ", ".join(_value_text(v) for v in value) or "-"
    if isinstance(value, dict):
        return " ".join(str(v) for v in value.values())
    return str(value)


def _fields_text(c: Change) -> str:
    assert c.old is not None and c.new is not None
    return "; ".join(f"{f} {_value_text(c.old.get(f))} → {_value_text(c.new.get(f))}"
                     for f in c.fields)


def format_diff(d: PlanDiff) -> str:
    """The diff as a plain-text report, one section per kind of change."""
    title = (f"Changes from site {d.old_site} to site {d.site}" if d.old_site
             else f"Changes to site {d.site}")
    lines = [title, f"  old: {d.old_provenance}", f"  new: {d.new_provenance}"]
    if d.empty:
        return "\n".join([*lines, "", "No changes: the two versions plan the same "
                          "deployment."]) + "\n"
    marks = {"added": "+", "removed": "-", "changed": "~"}

    def section(title: str, changes: list[Change], kept: Callable[[Change], str]) -> None:
        # Changed rows list their fields; added and removed rows say what the row is.
        if not changes:
            return
        lines.extend(["", f"{title} ({_count(changes, marks)})"])
        for c in changes:
            detail = f"{c.key}: {_fields_text(c)}" if c.kind == "changed" else kept(c)
            lines.append(f"  {marks[c.kind]} {detail}")

    def row(c: Change) -> dict[str, Any]:
        return c.new or c.old or {}

    section("Servers", d.servers, lambda c: (
        f"{c.key} ({', '.join(row(c).get('roles', []))}): "
        + ("new: see the wizard steps" if c.kind == "added" else
           "to decommission: uninstall OCS; its records and rules are below")))
    section("DNS records", d.dns, lambda c: _dns_text(row(c)))
    if d.certificates:
        verbs = Counter(_cert_verb(c) for c in d.certificates)
        lines += ["", "Certificates (" + ", ".join(
            f"{verbs[v]} to {v}" for v in ("request", "re-issue", "re-deploy", "retire")
            if verbs[v]) + ")"]
        for c in d.certificates:
            verb = _cert_verb(c)
            cert = c.new or c.old or {}
            lines.append(f"  {marks[c.kind]} {c.id} ({c.subject_cn}) from {cert.get('ca')} on "
                         f"{', '.join(c.servers)}: {verb}")
            lines += [f"      {r}" for r in c.reasons]
    if d.firewall:
        lines += ["", f"Firewall rules ({_count(d.firewall, marks)})"]
        lines += [f"  {marks[c.kind]} " + (
            f"{(c.new or {})['id']} {_fields_text(c)}  ({(c.new or {})['purpose']})"
            if c.kind == "changed" else _fw_text(c.new or c.old or {})) for c in d.firewall]
    section("Addresses", d.addresses, lambda c: (
        f"{c.key}: {row(c)['ip']}/{row(c)['prefix']} {row(c)['fqdn']}"))
    section("Persistent routes", d.routes, lambda c: f"{c.key}: via {row(c)['via']}")
    section("Load balancer VIPs", d.vips, lambda c: (
        f"{c.key}: {row(c)['external_ip'] or '-'} external, "
        f"{row(c)['internal_ip'] or '-'} internal"))
    if d.steps:
        lines += ["", "Wizard steps to re-run"]
        server = None
        for s in d.steps:
            if s.server != server:
                server = s.server
                lines.append(f"  {server}")
            if s.reasons == [NEW_SERVER]:
                # One line for the whole runbook, not six.
                numbers = [x.step for x in d.steps if x.server == s.server]
                if s.step == numbers[0]:
                    lines.append(f"    Steps {numbers[0]} to {numbers[-1]}: {NEW_SERVER}")
                continue
            lines.append(f"    Step {s.step}: {s.title}")
            lines += [f"      {r}" for r in s.reasons]
    if d.integration:
        lines += ["", "Settings on the internal servers (edge integration)"]
        lines += [f"  {r}" for r in d.integration]
    if d.notices:
        lines += ["", "Also"]
        lines += [f"  {n}" for n in d.notices]
    return "\n".join(lines) + "\n"
