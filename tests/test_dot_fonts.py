"""The fontconfig configuration dot starts with (runbook.outputs.dot_fonts): the system's
font folders and caches alone, the same layouts as with the whole configuration."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from runbook.outputs import diagrams, dot_fonts
from runbook.plan.sites import plan_file

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def fresh() -> Iterator[None]:
    """Each test reads the environment afresh, and leaves no answer behind."""
    for cached in (dot_fonts.config_text, diagrams.layout_tools):
        cached.cache_clear()
    yield
    for cached in (dot_fonts.config_text, diagrams.layout_tools):
        cached.cache_clear()


def family() -> tuple[str, ...]:
    """The files of the family the diagrams name."""
    return tuple(diagrams.font_files())


def _dot(source: str, env: dict[str, str] | None) -> bytes:
    done = subprocess.run(["dot", "-Tsvg"], input=source.encode(), capture_output=True,
                          env=env, check=True)
    return done.stdout


def test_every_example_diagram_is_laid_out_as_with_the_systems_whole_configuration(
        tmp_path: Path) -> None:
    config = dot_fonts.write_config(tmp_path, family())
    assert config is not None and config.parent == tmp_path
    env = dot_fonts.environment(config)
    faces = family()
    drawn = 0
    for path in sorted((ROOT / "inputs").glob("*.yaml")):
        plan = plan_file(path).to_dict()
        for name, build in {**diagrams.DIAGRAMS, **diagrams.PRINT_DIAGRAMS}.items():
            source = build(plan).source
            assert dot_fonts.applies_to(source, faces), f"{path.name} {name}"
            assert _dot(source, env) == _dot(source, None), f"{path.name} {name}"
            drawn += 1
    assert drawn == 15


def test_a_diagram_with_a_character_the_fonts_lack_gets_the_systems_configuration(
        tmp_path: Path) -> None:
    """Without fontconfig's rules a Chinese name is measured in another font: such a
    diagram is laid out as before, as the in-process renderer lays it out."""
    source = 'digraph { a [label="\u7d44\u7e54 edge01 \u2192 pool"] }\n'
    assert not dot_fonts.applies_to(source, family())
    assert dot_fonts.applies_to(source.replace("\u7d44\u7e54", "Org"), family())
    config = dot_fonts.write_config(tmp_path, family())
    others = subprocess.run(["fc-list", "--format", "%{family[0]}\n"], capture_output=True,
                            text=True, check=True).stdout.split()
    if any(not f.startswith("DejaVu") for f in others):  # a font to fall back to: why
        assert _dot(source, dot_fonts.environment(config)) != _dot(source, None)
    path = tmp_path / "cjk.gv"
    path.write_text(source, encoding="utf-8")
    assert diagrams.run_dot([path], workers=1, fonts=config) == {}
    assert (tmp_path / "cjk.gv.svg").read_bytes() == _dot(source, None)


@pytest.mark.parametrize("label", ["&#x7d44;&#x7e54; edge01", "&#32068; edge01",
                                   "<&#x0e01; edge01>", "edge01 \u00a9\ufe0f",
                                   "edge01 \u200d pool"])
def test_characters_graphviz_reads_from_references_or_emoji_count_as_themselves(
        label: str) -> None:
    quoted = label if label.startswith("<") else f'"{label}"'
    assert not dot_fonts.applies_to(f"digraph {{ a [label={quoted}] }}\n", family())
    assert dot_fonts.applies_to('digraph { a [label="&amp; &#x2192; edge01"] }\n', family())


def test_without_the_fonts_characters_dot_starts_with_the_systems_configuration(
        tmp_path: Path) -> None:
    unreadable = (str(tmp_path / "missing.ttf"),)
    assert dot_fonts.coverage(unreadable) == frozenset()
    assert dot_fonts.write_config(tmp_path, unreadable) is None
    assert dot_fonts.describe(unreadable) == "fontconfig: the system's"
    assert dot_fonts.describe(family()) != "fontconfig: the system's"


def test_a_diagram_stage_leaves_no_configuration_behind(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # read TMPDIR again
    plan = plan_file(ROOT / "inputs" / "litware-noav.yaml").to_dict()
    made = diagrams.render_svgs([plan], tmp_path / "cache")
    assert made and list((tmp_path / "tmp").iterdir()) == []


def test_it_holds_the_font_folders_and_the_systems_cache_folders_and_no_rule(
        tmp_path: Path) -> None:
    text = dot_fonts.config_text()
    assert text is not None
    assert "  <dir>/usr/share/fonts/truetype/dejavu</dir>\n" in text
    system = Path(dot_fonts.SYSTEM_FILE).read_text(encoding="utf-8")
    assert "<cachedir>/var/cache/fontconfig</cachedir>" in system
    assert "  <cachedir>/var/cache/fontconfig</cachedir>\n" in text
    assert '  <cachedir prefix="xdg">fontconfig</cachedir>\n' in text
    for rule in ("<include", "<match", "<alias", "<selectfont", "<config>"):
        assert rule not in text
    # fontconfig reads it: the family the diagrams name is found through it alone.
    env = dot_fonts.environment(dot_fonts.write_config(tmp_path, family()))
    found = subprocess.run(["fc-match", "-f", "%{file}", diagrams.FONT], env=env,
                           capture_output=True, text=True, check=True).stdout
    assert found == "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


@pytest.mark.parametrize("variable, value", [("FONTCONFIG_FILE", "/etc/fonts/fonts.conf"),
                                             ("FONTCONFIG_PATH", "/etc/fonts"),
                                             (dot_fonts.ENV, "system")])
def test_a_configuration_the_environment_asks_for_is_left_as_it_is(
        variable: str, value: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(variable, value)
    assert dot_fonts.config_text() is None and dot_fonts.write_config(tmp_path, family()) is None
    assert dot_fonts.describe(family()) == "fontconfig: the system's"


def test_without_the_systems_main_file_dot_starts_as_it_would(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(dot_fonts, "SYSTEM_FILE", str(tmp_path / "missing.conf"))
    assert dot_fonts.write_config(tmp_path, family()) is None
    assert dot_fonts.environment(None) is None


def test_the_configuration_is_part_of_every_layouts_key(monkeypatch: pytest.MonkeyPatch) -> None:
    own = diagrams.layout_tools()
    assert dot_fonts.describe(family()) in own and "<dir>" in own
    monkeypatch.setenv(dot_fonts.ENV, "system")
    for cached in (dot_fonts.config_text, diagrams.layout_tools):
        cached.cache_clear()
    assert diagrams.layout_tools() != own
