"""``runbook validate`` replays the verdict on a file it validated before
(runbook.topology.verdicts).

The replay must be indistinguishable from validating (same standard output, standard error and
exit status), must not import the validator, and must never hide a change: other bytes, other
code or other library versions miss. The command runs as the installed ``runbook`` executable
does (``runbook.entry.main``), in a subprocess working in a temporary folder, so the cache is
that folder's ``.cache/runbook/``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from runbook.topology import verdicts
from tests.topo import ROOT, contoso, write

# Runs runbook.cli.main() as the console script does, and writes the names of the modules
# imported by the time the process exits to the file named by the first argument.
DRIVER = """
import atexit, sys
record = sys.argv.pop(1)
atexit.register(lambda: open(record, "w").write("\\n".join(sorted(sys.modules))))
sys.argv[0] = "runbook"
from runbook.cli import main
main()
"""


@pytest.fixture(autouse=True)
def _project_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests are about the cache's place in a project: no run-wide override."""
    monkeypatch.delenv("RUNBOOK_CACHE_DIR", raising=False)


@dataclass
class Run:
    """What one ``runbook`` process printed and imported."""

    stdout: str
    stderr: str
    status: int
    modules: set[str]

    @property
    def validated(self) -> bool:
        """True when the process loaded the validator (a miss), False for a pure replay."""
        return "runbook.topology.validate" in self.modules

    def printed(self) -> tuple[str, str, int]:
        return self.stdout, self.stderr, self.status


def runbook(cwd: Path, *args: str) -> Run:
    """Run ``runbook ARGS`` in ``cwd``."""
    record = cwd / ".modules"
    done = subprocess.run([sys.executable, "-c", DRIVER, str(record), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120, check=False)
    modules = set(record.read_text().split("\n")) if record.exists() else set()
    record.unlink(missing_ok=True)
    return Run(done.stdout, done.stderr, done.returncode, modules)


def entries(folder: Path) -> list[Path]:
    """The stored verdicts under ``folder``'s cache."""
    return sorted((folder / ".cache" / "runbook" / "validate").glob("*/*"))


def with_warning() -> dict:
    t = contoso()
    del t["edge"]["servers"][0]["nics"]["webconf"]["public_ip"]  # private webconf address
    return t


def with_errors() -> dict:
    t = contoso()
    t["edge"]["servers"][0]["domain_joined"] = True
    t["edge"]["servers"][0]["nics"]["av"]["ip"] = "10.1.0.12/24"
    return t


CASES = {  # the topology, and what validate says of it
    "valid": (contoso, "valid (0 error(s), 0 warning(s))"),
    "warnings": (with_warning, "valid (0 error(s), 1 warning(s))"),
    "rule errors": (with_errors, "invalid (2 error(s), 0 warning(s))"),
    "schema errors": (lambda: {**contoso(), "sitee": "x", "pools": "none"},
                      "invalid (2 error(s), 0 warning(s))"),
    "YAML error": (lambda: "site: [unclosed\n", "invalid (1 error(s), 0 warning(s))"),
    # click strips escape sequences off a terminal: the replay must too
    "escape sequence in a key": (lambda: '"k\\u001b[31mx": 1\n',
                                 "invalid (6 error(s), 0 warning(s))"),
}


@pytest.mark.parametrize("case", CASES)
def test_a_replayed_verdict_prints_exactly_what_validating_printed(tmp_path: Path,
                                                                   case: str) -> None:
    make, summary = CASES[case]
    write(tmp_path, make())
    cold = runbook(tmp_path, "validate", "site.yaml")
    assert cold.validated
    assert cold.stdout.splitlines()[0] == f"site.yaml: {summary}"
    assert len(entries(tmp_path)) == 1
    warm = runbook(tmp_path, "validate", "site.yaml")
    assert not warm.validated
    assert warm.printed() == cold.printed()
    assert runbook(tmp_path, "validate", "--no-cache", "site.yaml").printed() == cold.printed()
    # --strict and --quiet apply to a replayed verdict as to a fresh one
    flags = ("--strict", "-q", "site.yaml")
    warm_flags = runbook(tmp_path, "validate", *flags)
    assert not warm_flags.validated
    assert warm_flags.printed() == runbook(tmp_path, "validate", "--no-cache", *flags).printed()


def test_the_warm_path_imports_neither_pydantic_nor_yaml(tmp_path: Path) -> None:
    write(tmp_path, contoso())
    assert runbook(tmp_path, "validate", "site.yaml").status == 0
    warm = runbook(tmp_path, "validate", "site.yaml")
    assert warm.status == 0
    heavy = {m for m in warm.modules
             if m.split(".")[0] in ("pydantic", "pydantic_core", "yaml")
             or m in ("runbook.topology.model", "runbook.topology.validate")}
    assert heavy == set()


def test_a_whole_folder_is_replayed_in_order(tmp_path: Path) -> None:
    write(tmp_path, with_errors(), "a.yaml")
    other = contoso()
    other["site"] = "zeta"
    write(tmp_path, other, "b.yaml")
    cold = runbook(tmp_path, "validate", ".")
    warm = runbook(tmp_path, "validate", ".")
    assert not warm.validated
    assert warm.printed() == cold.printed()
    assert warm.stdout.splitlines()[-1] == "1 of 2 topology file(s) valid"


def test_editing_the_file_misses_and_reports_the_new_content(tmp_path: Path) -> None:
    path = write(tmp_path, contoso())
    assert runbook(tmp_path, "validate", "site.yaml").status == 0
    write(tmp_path, with_errors())
    edited = runbook(tmp_path, "validate", "site.yaml")
    assert edited.validated
    assert edited.status == 1
    assert "site.yaml: invalid (2 error(s), 0 warning(s))" in edited.stdout
    # even a same-size edit (one byte changed) misses
    text = path.read_text()
    path.write_text(text.replace("domain_joined: true", "domain_joined: True"))
    assert runbook(tmp_path, "validate", "site.yaml").validated
    assert len(entries(tmp_path)) == 3


def test_the_same_bytes_under_another_name_miss(tmp_path: Path) -> None:
    write(tmp_path, with_errors(), "a.yaml")
    write(tmp_path, with_errors(), "b.yaml")
    runbook(tmp_path, "validate", "a.yaml")
    other = runbook(tmp_path, "validate", "b.yaml")
    assert other.validated  # every line names the file: it is part of the key
    assert "b.yaml:" in other.stderr and "a.yaml" not in other.stderr + other.stdout


def test_no_cache_validates_again_and_stores_nothing(tmp_path: Path) -> None:
    write(tmp_path, contoso())
    first = runbook(tmp_path, "validate", "--no-cache", "site.yaml")
    assert first.validated and entries(tmp_path) == []
    runbook(tmp_path, "validate", "site.yaml")
    assert len(entries(tmp_path)) == 1
    again = runbook(tmp_path, "validate", "site.yaml", "--no-cache")
    assert again.validated
    assert again.printed() == first.printed()


def test_files_declaring_the_same_site_are_never_replayed(tmp_path: Path) -> None:
    write(tmp_path, contoso(), "a.yaml")
    write(tmp_path, contoso(), "b.yaml")
    cold = runbook(tmp_path, "validate", "--no-cache", "a.yaml", "b.yaml")
    assert "b.yaml:1:7: site: site 'contoso-hq' is already defined in a.yaml" in cold.stderr
    runbook(tmp_path, "validate", "a.yaml")
    runbook(tmp_path, "validate", "b.yaml")  # each stored on its own
    both = runbook(tmp_path, "validate", "a.yaml", "b.yaml")
    assert both.validated
    assert both.printed() == cold.printed()


def test_a_damaged_entry_is_a_miss(tmp_path: Path) -> None:
    write(tmp_path, with_errors())
    cold = runbook(tmp_path, "validate", "site.yaml")
    for entry in entries(tmp_path):
        entry.write_bytes(entry.read_bytes()[:20])
    damaged = runbook(tmp_path, "validate", "site.yaml")
    assert damaged.validated
    # The same report, and one line saying what was damaged.
    notice = "runbook: 1 damaged cache file(s) ignored and made again (validate 1)\n"
    assert damaged.printed() == (cold.stdout, cold.stderr + notice, cold.status)
    assert not runbook(tmp_path, "validate", "site.yaml").validated  # stored again


# -- keys and the store, in-process -------------------------------------------------------------


@pytest.fixture
def fresh_fingerprint() -> Iterator[None]:
    """Forget the memoised fingerprint before and after the test."""
    verdicts.fingerprint.cache_clear()
    yield
    verdicts.fingerprint.cache_clear()


def test_changed_code_libraries_or_python_change_the_key(
        monkeypatch: pytest.MonkeyPatch, fresh_fingerprint: object) -> None:
    base = verdicts.verdict_key("site.yaml", b"site: x\n")
    assert verdicts.verdict_key("site.yaml", b"site: y\n") != base
    assert verdicts.verdict_key("other.yaml", b"site: x\n") != base
    changes = [
        ("code_fingerprint", lambda: "edited generator"),
        ("_library", lambda module, dist: f"{module} {dist} 99.0"),
    ]
    for name, replacement in changes:
        with monkeypatch.context() as m:
            m.setattr(verdicts, name, replacement)
            verdicts.fingerprint.cache_clear()
            assert verdicts.verdict_key("site.yaml", b"site: x\n") != base, name
    with monkeypatch.context() as m:
        m.setattr(sys, "version", sys.version + " (another build)")
        verdicts.fingerprint.cache_clear()
        assert verdicts.verdict_key("site.yaml", b"site: x\n") != base
    verdicts.fingerprint.cache_clear()
    assert verdicts.verdict_key("site.yaml", b"site: x\n") == base


def test_library_versions_are_the_installed_ones() -> None:
    import pydantic
    import pydantic_core
    import yaml

    for module, dist, version in (("pydantic", "pydantic", pydantic.VERSION),
                                  ("pydantic_core", "pydantic_core", pydantic_core.__version__),
                                  ("yaml", "pyyaml", yaml.__version__)):
        found = verdicts._library(module, dist)
        assert found.endswith(f" {dist} {version}"), found
        assert found.startswith(os.path.dirname(os.path.dirname(
            sys.modules[module].__file__ or "")))


def test_a_run_that_showed_a_python_warning_is_not_kept(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import runbook.topology.validate

    path = write(tmp_path, contoso())
    real = runbook.topology.validate.load_topology

    def noisy(p: Path) -> object:
        warnings.warn("something the replay would not say", UserWarning, stacklevel=1)
        return real(p)

    monkeypatch.setattr(runbook.topology.validate, "load_topology", noisy)
    store = verdicts.Store(tmp_path / "cache")
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        (verdict,) = verdicts.validate_files([path], store)
    assert verdict.errors == 0
    assert list((tmp_path / "cache").rglob("*")) == []
    monkeypatch.setattr(runbook.topology.validate, "load_topology", real)
    verdicts.validate_files([path], store)
    assert len(list((tmp_path / "cache" / "validate").glob("*/*"))) == 1


def test_an_unreadable_file_is_not_kept(tmp_path: Path) -> None:
    folder = tmp_path / "site.yaml"
    folder.mkdir()  # a folder named like a topology: reading it fails
    store = verdicts.Store(tmp_path / "cache")
    (verdict,) = verdicts.validate_files([folder], store)
    assert verdict.errors == 1 and "cannot read file" in verdict.lines[0]
    assert not (tmp_path / "cache").exists()


def test_verdicts_go_where_runbook_build_caches(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert verdicts.cache_root() == tmp_path / ".cache" / "runbook"
    (tmp_path / "mkdocs.yml").write_text(
        "site_name: x\nplugins:\n  - social:\n      cache_dir: .cache/social\n"
        "  - runbook:\n      inputs:\n        - inputs\n      cache_dir: 'build/cache'  # here\n"
        "  - search\n")
    assert verdicts.cache_root() == tmp_path / "build" / "cache"
    (tmp_path / "mkdocs.yml").write_text("plugins:\n  - runbook\n  - x:\n      cache_dir: y\n")
    assert verdicts.cache_root() == tmp_path / ".cache" / "runbook"
    assert verdicts.cache_root(ROOT / "mkdocs.yml") == ROOT / ".cache" / "runbook"


@pytest.mark.parametrize("plugins", [
    "plugins:\n  runbook:\n    cache_dir: build/cache\n  search: {}\n",  # the mapping form
    "plugins:\n  - search\n  - runbook: {inputs: [inputs], cache_dir: build/cache}\n",
    "plugins:\n  - runbook:\n      cache_dir: !!str build/cache\n",  # a tag
    "extra: !ENV [HOME, x]\nplugins: [search, {runbook: {cache_dir: build/cache}}]\n",
    "plugins:\n  - runbook:\n      cache_dir: !ENV [RUNBOOK_TEST_UNSET, build/cache]\n",
    "plugins:\n  - runbook:\n      cache_dir: !ENV RUNBOOK_TEST_CACHE\n",
    # Not a form MkDocs reads: the default folder, and no traceback.
    "plugins:\n  - runbook:\n      cache_dir: !ENV {a: b}\n",
])
def test_verdicts_go_where_the_plugin_caches_in_every_form_mkdocs_reads(
        plugins: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The folder `runbook cache prune` cleans: the plugin's cache_dir as MkDocs reads it.
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RUNBOOK_CACHE_DIR", raising=False)
    monkeypatch.delenv("RUNBOOK_TEST_UNSET", raising=False)
    monkeypatch.setenv("RUNBOOK_TEST_CACHE", "build/cache")
    (tmp_path / "mkdocs.yml").write_text("site_name: x\n" + plugins, encoding="utf-8")
    want = ".cache/runbook" if "{a: b}" in plugins else "build/cache"
    assert verdicts.cache_root() == tmp_path / want


def test_a_pipe_is_validated_every_time(tmp_path: Path) -> None:
    """A pipe can be read once: the validator must get its bytes, not the cache lookup."""
    text = (ROOT / "inputs" / "contoso.yaml").read_text()
    for _ in range(2):
        done = subprocess.run([sys.executable, "-c", DRIVER, str(tmp_path / ".m"), "validate",
                               "/dev/stdin"], cwd=tmp_path, input=text, capture_output=True,
                              text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("/dev/stdin: valid")


def test_runbook_cache_dir_wins_over_the_configuration(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RUNBOOK_CACHE_DIR", str(tmp_path / "elsewhere"))
    assert verdicts.cache_root() == tmp_path / "elsewhere"
    write(tmp_path, contoso())
    assert runbook(tmp_path, "validate", "site.yaml").status == 0
    assert list((tmp_path / "elsewhere" / "validate").glob("*/*"))
    assert not (tmp_path / ".cache").exists()
