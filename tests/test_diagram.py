"""Network and traffic diagrams: real Graphviz, parsed SVG, batching, caching, escaping."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml

from runbook.errors import ToolMissing
from runbook.outputs import diagrams as diagram
from runbook.outputs import gvc
from runbook.plan.sites import load_sites, plan_file

ROOT = Path(__file__).resolve().parents[1]
SVG = "{http://www.w3.org/2000/svg}"
PAYLOAD = '<b>x</b> & "q"'


def svg_groups(svg: bytes, kind: str) -> dict[str, ET.Element]:
    """The SVG's node or edge groups (``kind``), keyed by their <title> (the DOT id)."""
    root = ET.fromstring(svg)
    return {g.findtext(f"{SVG}title"): g for g in root.iter(f"{SVG}g")
            if g.get("class") == kind}


def text_of(element: ET.Element) -> str:
    """Every <text> inside ``element``, joined by single spaces, as a reader sees it."""
    return " ".join(" ".join("".join(t.itertext()) for t in element.iter(f"{SVG}text")).split())


def left_x(group: ET.Element) -> float:
    """Leftmost x of a node group's text (good enough to order columns)."""
    return min(float(t.get("x", "0")) for t in group.iter(f"{SVG}text"))


@pytest.fixture(scope="module")
def plans() -> dict[str, dict[str, Any]]:
    return {name: plan_file(ROOT / "inputs" / f"{name}.yaml").to_dict()
            for name in ("contoso", "fabrikam-lb")}


@pytest.fixture(scope="module")
def rendered(plans: dict[str, dict[str, Any]],
             tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, bytes]]:
    return diagram.render_svgs(list(plans.values()), tmp_path_factory.mktemp("cache"))


@pytest.mark.parametrize("name", ["contoso", "fabrikam-lb"])
def test_network_diagram_shows_every_server_nic_vip_and_both_firewalls(
        name: str, plans: dict[str, dict[str, Any]],
        rendered: dict[str, dict[str, bytes]]) -> None:
    plan = plans[name]
    nodes = svg_groups(rendered[plan["meta"]["site"]]["network.svg"], "node")
    texts = {title: text_of(g) for title, g in nodes.items()}
    boxes = {row["name"]: next(t for title, t in texts.items()
                               if title.startswith("server_") and title.endswith(row["name"]))
             for row in plan["servers"]}
    for row in plan["addresses"]:  # each NIC's address inside its own server's box
        assert row["server"] in boxes[row["server"]]
        assert f'{row["ip"]}/{row["prefix"]}' in boxes[row["server"]]
        assert row["nic_name"] in boxes[row["server"]]
        if row["public_ip"]:
            assert f'public {row["public_ip"]}' in boxes[row["server"]]
    vip_text = " ".join(t for title, t in texts.items() if title.startswith("vip_"))
    for vip in plan["vips"]:
        for key in ("external_ip", "public_ip", "internal_ip", "internal_fqdn"):
            if vip[key]:
                assert vip[key] in vip_text, (vip["role"], key)
    assert texts["fw_external"] == "External firewall"
    assert texts["fw_internal"] == "Internal firewall"
    hop = plan["summary"]["next_hop"]["fqdn"]
    assert any("NEXT HOP" in t and hop in t for t in texts.values())
    for subnet in plan["subnets"]:
        clusters = svg_groups(rendered[plan["meta"]["site"]]["network.svg"], "cluster")
        assert any(subnet["cidr"] in text_of(c) for c in clusters.values())
    assert plan["summary"]["certificate_authorities"]["internal"] in texts["internal_ca"]
    for provider in (plan["pic"] or {}).get("providers", []):
        assert provider["name"] in texts[f'provider_{provider["id"]}']
    assert "Legend" in text_of(ET.fromstring(rendered[plan["meta"]["site"]]["network.svg"]))


def test_network_diagram_reads_left_to_right(plans: dict[str, dict[str, Any]],
                                             rendered: dict[str, dict[str, bytes]]) -> None:
    nodes = svg_groups(rendered["fabrikam-lb"]["network.svg"], "node")
    hop = next(g for t, g in nodes.items() if t.startswith("pool_") and "NEXT HOP" in text_of(g))
    order = [nodes["internet"], nodes["fw_external"], nodes["server_0_fbedge01"],
             nodes["fw_internal"], hop]
    xs = [left_x(g) for g in order]
    assert xs == sorted(xs)
    servers = [left_x(nodes[f"server_{i}_{s['name']}"]) for i, s in
               enumerate(plans["fabrikam-lb"]["servers"])]
    assert max(servers) < left_x(nodes["fw_internal"])


@pytest.mark.parametrize("name", ["contoso", "fabrikam-lb"])
def test_traffic_diagram_has_an_edge_pair_and_a_row_for_every_firewall_rule(
        name: str, plans: dict[str, dict[str, Any]],
        rendered: dict[str, dict[str, bytes]]) -> None:
    plan = plans[name]
    svg = rendered[plan["meta"]["site"]]["traffic.svg"]
    nodes = svg_groups(svg, "node")
    edges = {g.get("id"): g for g in ET.fromstring(svg).iter(f"{SVG}g")
             if g.get("class") == "edge"}
    assert texts_equal_firewalls(nodes)
    for rule in plan["firewall"]:
        table = text_of(nodes[f'fw_{rule["firewall"]}'])
        assert f'{rule["id"]} {rule["protocol"]} {rule["ports"]}' in table
        for half in ("outer", "inner"):
            edge = edges[f'rule_{rule["id"]}_{half}']
            assert edge.find(f".//{SVG}path") is not None
            link = edge.find(f".//{SVG}a")
            assert link is not None
            title = link.get("{http://www.w3.org/1999/xlink}title")
            assert title == (f'{rule["id"]}: {rule["protocol"]} {rule["ports"]} from '
                             f'{rule["source"]} to {rule["destination"]}')
    assert len(edges) >= 2 * len(plan["firewall"])


def texts_equal_firewalls(nodes: dict[str, ET.Element]) -> bool:
    return (text_of(nodes["fw_external"]).startswith("External firewall")
            and text_of(nodes["fw_internal"]).startswith("Internal firewall"))


def test_the_same_plans_give_the_same_bytes_without_graphviz_version(
        plans: dict[str, dict[str, Any]], rendered: dict[str, dict[str, bytes]],
        tmp_path: Path) -> None:
    again = diagram.render_svgs(list(plans.values()), tmp_path / "again")
    assert again == rendered
    # A site's diagrams do not depend on which other sites are rendered with it.
    alone = diagram.render_svgs([plans["fabrikam-lb"]], tmp_path / "alone")
    assert alone["fabrikam-lb"] == rendered["fabrikam-lb"]
    for files in again.values():
        for name, data in files.items():
            assert b"Generated by graphviz" not in data
            if name.endswith(".svg"):
                assert b"<!-- Generated from inputs/" in data
                assert b'font-family="DejaVu Sans,Verdana,sans-serif"' in data


def test_the_dot_file_beside_the_svg_renders_with_dot(rendered: dict[str, dict[str, bytes]],
                                                      tmp_path: Path) -> None:
    source = tmp_path / "network.dot"
    source.write_bytes(rendered["contoso-hq"]["network.dot"])
    assert source.read_text().startswith("// Generated from inputs/contoso.yaml")
    done = subprocess.run(["dot", "-Tsvg", str(source)], capture_output=True, check=False)
    assert done.returncode == 0, done.stderr
    ET.fromstring(done.stdout)


def test_topology_text_with_markup_is_shown_as_text(tmp_path: Path) -> None:
    data = yaml.safe_load((ROOT / "inputs" / "contoso.yaml").read_text())
    data["organization"] = PAYLOAD
    data["title"] = PAYLOAD
    data["certificates"]["internal_ca"] = PAYLOAD
    data["certificates"]["public_ca"] = PAYLOAD
    for nic in data["edge"]["servers"][0]["nics"].values():
        nic["name"] = f"{PAYLOAD} \\N"
    path = tmp_path / "hostile.yaml"
    path.write_text(yaml.safe_dump(data))
    plan = plan_file(path).to_dict()
    files = diagram.render_svgs([plan], tmp_path / "cache")["contoso-hq"]
    for name in ("network.svg", "traffic.svg"):
        root = ET.fromstring(files[name])  # still well-formed XML
        tags = {el.tag.removeprefix(SVG) for el in root.iter()}
        assert "b" not in tags and not any(t.endswith("}b") for t in tags)
        assert PAYLOAD in text_of(root)
    nodes = svg_groups(files["network.svg"], "node")
    server = text_of(nodes["server_0_edge01"])
    assert server.count(f"“{PAYLOAD} \\N”") == 4  # every NIC name, backslash kept literally
    assert PAYLOAD in text_of(nodes["internal_ca"])
    assert PAYLOAD in text_of(nodes["public_ca"])
    assert "&lt;b&gt;x&lt;/b&gt; &amp; &quot;q&quot;" in files["network.dot"].decode()


@pytest.fixture
def libgvc(monkeypatch: pytest.MonkeyPatch) -> None:
    """Opt in to the in-process renderer (runbook.outputs.gvc) for one test."""
    monkeypatch.setenv(gvc.ENV, gvc.IN_PROCESS)


@pytest.fixture(params=["in-process", "dot"])
def engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each test using this runs with both renderers: libgvc in-process, and `dot` per file."""
    if request.param == "in-process":
        monkeypatch.setenv(gvc.ENV, gvc.IN_PROCESS)
        if gvc.renderer() is None:
            pytest.skip("this Graphviz is not one runbook.outputs.gvc was checked against")
        assert gvc.engine().startswith("libgvc ")
    else:
        monkeypatch.delenv(gvc.ENV, raising=False)
        assert gvc.engine() == "dot"
    return request.param


def test_an_unchanged_diagram_is_not_rendered_again(plans: dict[str, dict[str, Any]],
                                                    tmp_path: Path, engine: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    rendered: list[str] = []
    real_run, real_render = subprocess.run, gvc.Renderer.render_svg

    def counting_run(args: list[str], **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
        rendered.extend(a for a in args if a.endswith(".gv"))
        return real_run(args, **kwargs)

    def counting_render(self: gvc.Renderer, source: str, name: str = "<graph>") -> bytes:
        rendered.append(name)
        return real_render(self, source, name)

    monkeypatch.setattr(diagram.subprocess, "run", counting_run)
    monkeypatch.setattr(gvc.Renderer, "render_svg", counting_render)
    first = diagram.render_svgs(list(plans.values()), tmp_path, workers=1)
    assert len(rendered) == 4
    rendered.clear()
    assert diagram.render_svgs(list(plans.values()), tmp_path, workers=1) == first
    assert rendered == []
    changed = dict(plans["contoso"], summary=dict(plans["contoso"]["summary"], title="Renamed"))
    diagram.render_svgs([changed, plans["fabrikam-lb"]], tmp_path, workers=1)
    assert len(rendered) == 2
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".svg"] * 6


def test_a_kept_layout_is_laid_out_again_after_graphviz_or_its_fonts_change(
        plans: dict[str, dict[str, Any]], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # The layout's key holds Graphviz's version and the fonts it measures labels with.
    tools = diagram.layout_tools()
    assert tools.startswith(subprocess.run(["dot", "-V"], capture_output=True,
                                           text=True).stderr.strip())
    assert "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf" in diagram.font_files()
    diagram.render_svgs([plans["contoso"]], tmp_path, workers=1)
    monkeypatch.setattr(diagram, "layout_tools", lambda: tools + " (upgraded)")
    diagram.render_svgs([plans["contoso"]], tmp_path, workers=1)
    assert len(list(tmp_path.glob("*.svg"))) == 4


def test_a_font_files_identity_changes_with_its_size_or_time(tmp_path: Path) -> None:
    from runbook.engine.store import files_fingerprint

    font = tmp_path / "DejaVuSans.ttf"
    font.write_bytes(b"glyphs")
    before = files_fingerprint([font])
    assert files_fingerprint([font]) == before
    os.utime(font, ns=(1, 1))
    assert files_fingerprint([font]) != before
    font.unlink()
    assert files_fingerprint([font]) not in (before, files_fingerprint([]))


def test_each_renderer_keeps_its_own_cache_entries(plans: dict[str, dict[str, Any]],
                                                   tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(gvc.ENV, gvc.IN_PROCESS)
    if gvc.renderer() is None:
        pytest.skip("this Graphviz is not one runbook.outputs.gvc was checked against")
    diagram.render_svgs([plans["contoso"]], tmp_path)
    monkeypatch.delenv(gvc.ENV)
    diagram.render_svgs([plans["contoso"]], tmp_path)
    # Two layouts of the same two diagrams: one SVG per renderer, never one for the other.
    assert len(list(tmp_path.glob("*.svg"))) == 4


def test_in_process_layout_depends_on_the_source_only(tmp_path: Path, libgvc: None) -> None:
    """The same graph gives the same SVG whatever the process drew before, even a failure."""
    sites = load_sites(sorted((ROOT / "inputs").glob("*.yaml")))
    sources = [s for site in sites
               for s in diagram.diagram_sources(site.plan.to_dict()).values()]
    engine = gvc.renderer()
    if engine is None:
        pytest.skip("no in-process Graphviz here")
    forward = [engine.render_svg(s) for s in sources]
    with pytest.raises(gvc.RenderError):
        engine.render_svg("digraph { a -> ")
    backward = [engine.render_svg(s) for s in reversed(sources)][::-1]
    assert backward == forward
    # A fresh process, drawing only the last graph, agrees too.
    script = ("import sys; from runbook.outputs import gvc; "
              "sys.stdout.buffer.write(gvc.renderer().render_svg(sys.stdin.read()))")
    done = subprocess.run([sys.executable, "-c", script], input=sources[-1].encode(),
                          capture_output=True, check=True)
    assert done.stdout == forward[-1]


def test_dot_given_many_graphs_changes_layouts_which_is_why_it_is_not_used(
        tmp_path: Path) -> None:
    """The premise of runbook.outputs.gvc: `dot` over many files lays later graphs out
    differently."""
    sites = load_sites(sorted((ROOT / "inputs").glob("*.yaml")))
    names = []
    for site in sites:
        for name, source in diagram.diagram_sources(site.plan.to_dict()).items():
            names.append(f"{site.slug}-{name}.gv")
            (tmp_path / names[-1]).write_text(source)
    alone = {n: subprocess.run(["dot", "-Tsvg", n], cwd=tmp_path, capture_output=True,
                               check=True).stdout for n in names}
    changed = 0
    for order in (names, names[::-1]):
        subprocess.run(["dot", "-Tsvg", "-O", *order], cwd=tmp_path, check=True)
        # A batch numbers its pages; that is not layout.
        batch = {n: (tmp_path / f"{n}.svg").read_bytes().replace(b"page0,1_", b"")
                 for n in names}
        assert batch[order[0]] == alone[order[0]]  # the first graph is drawn as by itself
        changed += sum(batch[n] != alone[n] for n in order[1:])
    assert changed > 0


def test_in_process_layout_ignores_whatever_follows_the_first_graph(libgvc: None) -> None:
    engine = gvc.renderer()
    if engine is None:
        pytest.skip("no in-process Graphviz here")
    first = engine.render_svg("digraph c { z }")
    engine.render_svg("digraph a { x } digraph b { y }")
    assert engine.render_svg("digraph c { z }") == first


# Graphviz 2.43 frees the layout of this graph twice (labelled edges within one rank).
FLAT_LABELS = """digraph G {
subgraph cluster_0 { label="C0"; } subgraph cluster_1 { label="C1"; }
{rank=same; n0; n1; n2; n3}
n3 -> n0 [label="e31"]; n1 -> n3 [label="e40"];
n0 -> n1 [label=flat1]; n2 -> n3 [label=flat2]; n1 -> n2 [label=flat3];
}
"""


def test_graphs_graphviz_cannot_free_safely_go_to_dot(tmp_path: Path, libgvc: None) -> None:
    assert not gvc.supports(FLAT_LABELS)
    assert not gvc.supports('digraph { edge [label="x"] a -> b }')
    # One statement per line, as the graphviz package writes DOT: node labels are fine.
    assert gvc.supports('digraph {\n a [label="x"]\n b [label=<<b>y</b>>]\n a -> b [color=red]\n}')
    engine = gvc.renderer()
    if engine is None:
        pytest.skip("no in-process Graphviz here")
    with pytest.raises(ValueError, match="dot"):
        engine.render_svg(FLAT_LABELS)
    # Through the diagram stage, in worker processes: it finishes, and the graph is drawn.
    script = (
        "import sys; from pathlib import Path\n"
        "from runbook.outputs import diagrams as diagram\n"
        "from runbook.api import plan_file\n"
        "bad = sys.stdin.read()\n"
        "real = diagram.diagram_sources\n"
        "diagram.diagram_sources = lambda plan: {**real(plan), 'network': bad}\n"
        f"plans = [plan_file(Path({str(ROOT / 'inputs')!r}) / n).to_dict()\n"
        "         for n in ('contoso.yaml', 'fabrikam-lb.yaml', 'adatum-im.yaml')]\n"
        f"out = diagram.render_svgs(plans, Path({str(tmp_path)!r}), workers=2)\n"
        "print(sum(b'flat1' in f['network.svg'] for f in out.values()))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], input=FLAT_LABELS, text=True,
                          capture_output=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "3"


def test_in_process_rendering_is_graphviz_itself(libgvc: None) -> None:
    """Same fonts, plugins and layout as `dot`, for a graph whose order is not in question."""
    source = ('digraph g {\n node [shape=box fontname="DejaVu Sans"];\n'
              ' subgraph cluster_a { label="A"; x [label=<<b>x</b> &amp; y>] }\n x -> z\n}\n')
    engine = gvc.renderer()
    if engine is None:
        pytest.skip("no in-process Graphviz here")
    done = subprocess.run(["dot", "-Tsvg"], input=source.encode(), capture_output=True,
                          check=True)
    assert engine.render_svg(source) == done.stdout


@pytest.mark.parametrize("source, said", [
    ("digraph { a -> ", "syntax error"),
    ("digraph { a [label=<<b>x</i>>] }", "mismatched tag"),
])
def test_in_process_failures_carry_graphvizs_message(source: str, said: str, libgvc: None) -> None:
    engine = gvc.renderer()
    if engine is None:
        pytest.skip("no in-process Graphviz here")
    with pytest.raises(gvc.RenderError) as caught:
        engine.render_svg(source, "broken.gv")
    assert said in str(caught.value)


def test_missing_dot_is_one_line_naming_the_install_command(
        plans: dict[str, dict[str, Any]], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))
    with pytest.raises(ToolMissing) as caught:
        diagram.render_svgs([plans["contoso"]], tmp_path / "cache")
    message = caught.value.format()
    assert "apt-get install graphviz" in message
    assert "\n" not in message


def test_a_broken_file_in_a_batch_is_reported_and_the_others_render(tmp_path: Path) -> None:
    good = [tmp_path / f"good{i}.gv" for i in range(3)]
    for path in good:
        path.write_text(f"digraph g{path.stem} {{ a -> b }}")
    bad = tmp_path / "bad.gv"
    bad.write_text("digraph { a -> ")
    failed = diagram.run_dot([good[0], bad, good[1], good[2]], workers=1)
    assert list(failed) == [bad]
    assert "bad.gv" in failed[bad] and "syntax error" in failed[bad]
    for path in good:
        assert (tmp_path / f"{path.name}.svg").read_bytes().rstrip().endswith(b"</svg>")


def test_a_diagram_dot_rejects_names_its_site_and_the_rest_is_cached(
        plans: dict[str, dict[str, Any]], tmp_path: Path, engine: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    real = diagram.diagram_sources

    def broken_for_fabrikam(plan: dict[str, Any]) -> dict[str, str]:
        sources = real(plan)
        if plan["meta"]["site"] == "fabrikam-lb":
            sources["network"] = sources["network"].replace("digraph network {", "digraph {{", 1)
        return sources

    monkeypatch.setattr(diagram, "diagram_sources", broken_for_fabrikam)
    with pytest.raises(diagram.DiagramFailed) as caught:
        diagram.render_svgs(list(plans.values()), tmp_path)
    message = caught.value.format()
    assert "fabrikam-lb/diagrams/network.dot" in message
    assert "contoso-hq" not in message and "traffic" not in message
    assert len(list(tmp_path.glob("*.svg"))) == 3  # the three good diagrams are cached


def test_produce_writes_svg_and_dot_per_site_under_its_diagrams_folder(tmp_path: Path) -> None:
    sites = load_sites([ROOT / "inputs" / "contoso.yaml", ROOT / "inputs" / "fabrikam-lb.yaml"])
    files = diagram.produce(sites, tmp_path)
    assert sorted(files) == [f"sites/{slug}/diagrams/{name}"
                             for slug in ("contoso-hq", "fabrikam-lb")
                             for name in ("network.dot", "network.svg", "traffic.dot",
                                          "traffic.svg")]
    assert (tmp_path / "diagrams").is_dir()


def test_a_build_cache_never_serves_one_renderers_diagrams_for_the_other(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from runbook.engine.store import Cache
    from runbook.site.generate import Builder, produce_cached

    sites = load_sites([ROOT / "inputs" / "contoso.yaml"])
    builder = Builder(Cache(tmp_path / "cache"), jobs=1)

    def build() -> dict[str, bytes]:
        return produce_cached("runbook.outputs.diagrams", diagram.produce, sites, tmp_path / "work",
                              None, builder)

    monkeypatch.setenv(gvc.ENV, gvc.IN_PROCESS)
    build()
    assert build() and builder.cache.hits["runbook.outputs.diagrams"] == 1  # warm: from the cache
    monkeypatch.delenv(gvc.ENV)
    build()
    assert builder.cache.misses["runbook.outputs.diagrams"] == 2  # the other renderer: made afresh


def test_dot_is_the_default_renderer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(gvc.ENV, raising=False)
    assert gvc.renderer() is None
    assert gvc.engine() == "dot"


def test_an_unverified_graphviz_version_falls_back_to_dot_with_a_one_line_notice(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Structures are declared for checked versions only; any other version runs `dot`."""
    from runbook.engine import optin

    monkeypatch.setenv(gvc.ENV, gvc.IN_PROCESS)
    monkeypatch.setattr(gvc, "VERIFIED_VERSIONS", frozenset({"0.0.0"}))
    monkeypatch.setattr(gvc, "_RENDERER", None)
    monkeypatch.setattr(gvc, "_TRIED", False)
    monkeypatch.setattr(optin, "_NOTIFIED", set())
    assert gvc.renderer() is None
    assert gvc.engine() == "dot"
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "RUNBOOK_GRAPHVIZ=libgvc not used" in err and "0.0.0" in err


def test_the_in_process_renderer_gives_the_bytes_dot_gives(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The opt-in fast path changes no byte: every diagram of every example and of a 50-site
    corpus (every layout the generator knows), both ways."""
    sys.path.insert(0, str(ROOT / "bench"))
    import corpus

    plans = ([site.plan.to_dict() for site in load_sites(sorted((ROOT / "inputs").glob("*.yaml")))]
             + corpus.plans(corpus.generate(50)))
    monkeypatch.setenv(gvc.ENV, gvc.IN_PROCESS)
    if gvc.renderer() is None:
        pytest.skip("this Graphviz is not one runbook.outputs.gvc was checked against")
    in_process = diagram.render_svgs(plans, tmp_path / "libgvc", workers=2)
    monkeypatch.delenv(gvc.ENV)
    by_dot = diagram.render_svgs(plans, tmp_path / "dot", workers=2)
    assert len(by_dot) == len(plans) == 55
    assert all(sorted(svgs) == ["network.dot", "network.svg", "traffic.dot", "traffic.svg"]
               for svgs in by_dot.values())
    differ = sorted((site, name) for site, svgs in by_dot.items() for name, svg in svgs.items()
                    if in_process[site][name] != svg)
    assert differ == []


def cluster_titles(svg: bytes) -> list[str]:
    """The clusters' names in the order the SVG draws them."""
    return [g.findtext(f"{SVG}title") or "" for g in ET.fromstring(svg).iter(f"{SVG}g")
            if g.get("class") == "cluster"]


def test_dot_draws_clusters_in_the_order_of_its_name_addresses_not_of_the_source() -> None:
    """Why the SVGs are put in order: ``dot`` itself (stock id discipline: an id is the address
    of the interned name) draws fabrikam-lb's perimeter before the Internet, which the source
    opens first; the in-process renderer numbers ids in source order."""
    plan = plan_file(ROOT / "inputs" / "fabrikam-lb.yaml").to_dict()
    source = diagram.diagram_sources(plan)["traffic"]
    raw = subprocess.run(["dot", "-Tsvg"], input=source.encode(), capture_output=True,
                         check=True).stdout
    opened = [line.split()[1] for line in source.splitlines()
              if line.lstrip().startswith("subgraph cluster_")]
    assert opened == ["cluster_outside", "cluster_perimeter", "cluster_inside"]
    assert cluster_titles(raw) == ["cluster_perimeter", "cluster_outside", "cluster_inside"]
    fixed = diagram.clusters_in_source_order(raw)
    assert cluster_titles(fixed) == opened
    # Only the order of the groups changes: the same lines, every coordinate kept.
    assert sorted(fixed.split(b"\n")) == sorted(raw.split(b"\n")) and fixed != raw


def test_nested_clusters_stay_after_the_cluster_around_them() -> None:
    source = """digraph {
  subgraph cluster_b { label=B; b1; subgraph cluster_b_in { label=Bin; b2 } }
  subgraph cluster_a { label=A; a1 }
  subgraph cluster_c { label=C; c1; subgraph cluster_c_in { label=Cin; c2 } }
  b1 -> a1 -> c1
}"""
    raw = subprocess.run(["dot", "-Tsvg"], input=source.encode(), capture_output=True,
                         check=True).stdout
    fixed = diagram.clusters_in_source_order(raw)
    assert cluster_titles(fixed) == ["cluster_b", "cluster_b_in", "cluster_a", "cluster_c",
                                     "cluster_c_in"]
    assert sorted(fixed.split(b"\n")) == sorted(raw.split(b"\n"))
    assert diagram.clusters_in_source_order(fixed) == fixed


def test_the_diagram_heading_turns_line_and_paragraph_separators_into_spaces() -> None:
    from runbook.outputs.diagrams import network_heading
    from runbook.plan.sites import plan_file as plan_of

    plan = plan_of(ROOT / "inputs" / "contoso.yaml").to_dict()
    plan["summary"]["title"] = "Edge\u2028site\u2029two\x85three"
    assert network_heading(plan).title == "Edge site two three"
