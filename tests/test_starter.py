"""``runbook init [DIR]``: a starter project that validates, builds, and never overwrites."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from runbook.cli import main
from runbook.site.assets import schema_file
from tests.topo import CONTOSO

EXPECTED = {"inputs/contoso.yaml", "schema/topology.schema.json", "mkdocs.yml",
            "docs/.gitkeep", ".gitignore", ".pre-commit-config.yaml",
            ".github/workflows/runbook.yml", ".gitlab-ci.yml"}


def _tree(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def test_init_writes_the_starter_project_into_a_new_folder(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["init", str(tmp_path / "edge")])
    assert result.exit_code == 0, result.output
    project = tmp_path / "edge"
    assert _tree(project) == EXPECTED
    example = (project / "inputs" / "contoso.yaml").read_text(encoding="utf-8")
    modeline = "# yaml-language-server: $schema=../schema/topology.schema.json"
    assert example.splitlines()[0] == modeline
    assert example == CONTOSO.read_text(encoding="utf-8")
    # the modeline's path, taken from the example's folder, is the packaged schema
    assert (project / "inputs" / "../schema/topology.schema.json").read_bytes() == \
        schema_file().read_bytes()
    ignored = (project / ".gitignore").read_text(encoding="utf-8").split()
    assert {"/site/", "/.cache/", "/out/"} <= set(ignored)
    config = yaml.safe_load((project / "mkdocs.yml").read_text(encoding="utf-8"))
    assert config["plugins"] == ["search", "offline", "runbook"]
    assert result.output.splitlines()[-1] == f"next: cd {project} && runbook validate && " \
        "runbook build"


def test_init_refuses_to_overwrite_and_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "mkdocs.yml").write_text("site_name: mine\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["init", str(tmp_path)])
    assert result.exit_code == 1
    assert "mkdocs.yml" in result.output and "writes nothing over a file" in result.output
    assert "Traceback" not in result.output
    assert _tree(tmp_path) == {"mkdocs.yml"}
    assert (tmp_path / "mkdocs.yml").read_text(encoding="utf-8") == "site_name: mine\n"


def test_the_starter_project_validates_and_its_hooks_run_runbook(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch
                                                                  ) -> None:
    from runbook.site.starter import init_project

    init_project(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert CliRunner().invoke(main, ["validate", "--no-cache"]).exit_code == 0
    config = yaml.safe_load((tmp_path / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    (hook,) = config["repos"][0]["hooks"]
    assert hook["entry"] == "runbook validate"


@pytest.mark.parametrize(("path", "schema"), [
    (".github/workflows/runbook.yml", "vendor.github-workflows"),
    (".gitlab-ci.yml", "vendor.gitlab-ci"),
    (".pre-commit-config.yaml", None),
])
def test_the_ci_examples_pass_their_platforms_schemas(tmp_path: Path, path: str,
                                                      schema: str | None) -> None:
    from runbook.site.starter import init_project

    init_project(tmp_path)
    if schema is None:  # check-jsonschema ships no pre-commit schema: check the shape
        data = yaml.safe_load((tmp_path / path).read_text(encoding="utf-8"))
        assert set(data["repos"][0]["hooks"][0]) >= {"id", "name", "entry", "language"}
        return
    done = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema,
                           str(tmp_path / path)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    text = (tmp_path / path).read_text(encoding="utf-8")
    assert "runbook validate --format" in text and "runbook build" in text


def test_export_writes_under_the_git_ignored_out_folder_by_default(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from runbook.site.starter import init_project

    init_project(tmp_path)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["export", "inputs/contoso.yaml"])
    assert result.exit_code == 0, result.output
    assert result.output.endswith("to out/exports/contoso-hq\n")
    assert (tmp_path / "out" / "exports" / "contoso-hq" / "dns-records.csv").is_file()
    assert "/out/" in (tmp_path / ".gitignore").read_text(encoding="utf-8").split()
    for command in ("cr", "print"):
        option = next(p for p in main.commands[command].params if p.name == "out_dir")
        assert Path(str(option.default)).parts[0] == "out", command
