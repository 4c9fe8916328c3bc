"""User templates (``--templates DIR``) are untrusted: confined to their folder, handed a
read-only plan, and bounded in what they can make. Each failure is one line naming the
template, never a traceback."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from runbook.outputs.documents import DocumentError
from runbook.outputs.documents import produce as produce_documents
from runbook.outputs.pages import render_site
from runbook.outputs.templating import (
    MAX_OUTPUT,
    TemplateFailed,
    make_environment,
    read_only,
)
from runbook.plan.sites import Site, load_sites
from tests.topo import INPUTS, ROOT


@pytest.fixture(scope="module")
def contoso_site() -> Site:
    return load_sites([INPUTS / "contoso.yaml"])[0]


@pytest.fixture
def contoso_plan(contoso_site: Site) -> dict[str, Any]:
    return contoso_site.plan.to_dict()


def user_page(tmp_path: Path, body: str, name: str = "dns.md.j2") -> Path:
    """A user template folder whose ``pages/<name>`` holds ``body``."""
    (tmp_path / "user" / "pages").mkdir(parents=True, exist_ok=True)
    (tmp_path / "user" / "pages" / name).write_text(body, encoding="utf-8")
    return tmp_path / "user"


# --- confined to the folder ------------------------------------------------------------------


def test_a_template_that_links_outside_its_folder_is_not_read(
        tmp_path: Path, contoso_plan: dict[str, Any]) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET {{ 7 * 6 }}", encoding="utf-8")
    user = tmp_path / "user"
    (user / "pages").mkdir(parents=True)
    (user / "pages" / "dns.md.j2").symlink_to(secret)
    with pytest.raises(TemplateFailed, match=r"pages/dns\.md\.j2: refusing to read this "
                                             r"template: it resolves to .*secret\.txt, "
                                             r"outside ") as failed:
        render_site(contoso_plan, make_environment(user))
    assert "TOP-SECRET" not in str(failed.value) and "\n" not in str(failed.value)


def test_a_template_folder_that_links_outside_is_not_read(
        tmp_path: Path, contoso_plan: dict[str, Any]) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "dns.md.j2").write_text("TOP-SECRET", encoding="utf-8")
    (tmp_path / "user").mkdir()
    (tmp_path / "user" / "pages").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(TemplateFailed, match="refusing to read this template"):
        render_site(contoso_plan, make_environment(tmp_path / "user"))


def test_a_link_inside_the_folder_is_followed(tmp_path: Path,
                                              contoso_plan: dict[str, Any]) -> None:
    user = user_page(tmp_path, "# Our DNS page for {{ plan.meta.site|md }}\n", "ours.md.j2")
    (user / "pages" / "dns.md.j2").symlink_to(user / "pages" / "ours.md.j2")
    rendered = render_site(contoso_plan, make_environment(user))
    assert rendered["sites/contoso-hq/dns.md"] == "# Our DNS page for contoso-hq\n"


def test_a_document_template_that_links_outside_is_not_read(tmp_path: Path,
                                                            contoso_site: Site) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET", encoding="utf-8")
    (tmp_path / "user" / "documents").mkdir(parents=True)
    (tmp_path / "user" / "documents" / "change-request.md.j2").symlink_to(secret)
    with pytest.raises((TemplateFailed, DocumentError), match="refusing to read this template"):
        produce_documents([contoso_site], tmp_path / "work", templates_dir=tmp_path / "user")


# --- a read-only plan ---------------------------------------------------------------------------

MUTATIONS = [
    "{{ plan.dns.append(1) }}", "{{ plan.dns.pop() }}", "{{ plan.dns.clear() }}",
    "{{ plan.dns.reverse() }}", "{{ plan.dns.sort() }}", "{{ plan.dns.extend([1]) }}",
    "{{ plan.dns.insert(0, 1) }}", "{{ plan.dns.remove(plan.dns[0]) }}",
    "{{ plan.meta.update(site='x') }}", "{{ plan.meta.pop('site') }}",
    "{{ plan.meta.setdefault('x', 1) }}", "{{ plan.meta.clear() }}",
    "{{ plan.meta.__setitem__('site', 'x') }}", "{{ (plan.dns|attr('append'))(1) }}",
    "{{ plan.servers[0].update(name='x') }}",
]


@pytest.mark.parametrize("body", MUTATIONS)
def test_a_page_template_cannot_change_the_plan_the_next_page_sees(
        tmp_path: Path, contoso_plan: dict[str, Any], body: str) -> None:
    before = copy.deepcopy(contoso_plan)
    user = user_page(tmp_path, body, "overview.md.j2")  # the first page rendered
    with pytest.raises(TemplateFailed, match=r"pages/overview\.md\.j2") as failed:
        render_site(contoso_plan, make_environment(user))
    assert "\n" not in str(failed.value)
    assert contoso_plan == before


@pytest.mark.parametrize("body", ["{{ cr.meta.update(site='x') }}",
                                  "{{ plan.dns.append(1) }}{{ plan.dns.clear() }}",
                                  "{{ plan.meta.__setitem__('site', 'x') }}"])
def test_a_document_template_cannot_change_the_plan_the_next_document_sees(
        tmp_path: Path, contoso_site: Site, body: str) -> None:
    before = contoso_site.plan.to_dict()
    (tmp_path / "user" / "documents").mkdir(parents=True)
    (tmp_path / "user" / "documents" / "change-request.md.j2").write_text(body, "utf-8")
    with pytest.raises(DocumentError, match=r"change-request\.md\.j2") as failed:
        produce_documents([contoso_site], tmp_path / "work", templates_dir=tmp_path / "user")
    assert "\n" not in str(failed.value)
    assert contoso_site.plan.to_dict() == before


def test_templates_get_a_deeply_read_only_copy_of_the_plan(
        contoso_plan: dict[str, Any]) -> None:
    frozen = read_only(contoso_plan)
    assert frozen == read_only(copy.deepcopy(contoso_plan))
    assert frozen["meta"]["site"] == "contoso-hq"
    with pytest.raises(TypeError):
        frozen["meta"]["site"] = "x"  # type: ignore[index]
    with pytest.raises(AttributeError):
        frozen["dns"].append(1)
    assert isinstance(frozen["dns"][0]["name"], str)


def test_the_default_templates_render_the_same_from_a_read_only_plan(
        tmp_path: Path, contoso_plan: dict[str, Any]) -> None:
    # A user folder with no page in it: every page comes from the defaults, sandboxed and
    # read-only; the pages must not change.
    (tmp_path / "user").mkdir()
    assert render_site(contoso_plan, make_environment(tmp_path / "user")) == \
        render_site(contoso_plan, make_environment())


# --- bounded: resource errors are one line naming the template ------------------------------

BOMBS = [
    ("{% for i in range(10**6) %}{% endfor %}", "[Rr]ange too big"),
    ("{{ 'x' * 10**10 }}", "repetition"),
    ("{{ 10**10 * 'x' }}", "repetition"),
    ("{{ ['x'] * 10**9 }}", "repetition"),
    ("{{ 'x' * 1000000 * 1000 }}", "repetition"),
    ("{{ 9 ** (10 ** 10) }}", "exponent"),
    ("{{ 'x'.ljust(10**10) }}", "larger than the sandbox allows"),
    ("{{ ''.center(10**10) }}", "larger than the sandbox allows"),
    ("{{ 'x'.zfill(10**10) }}", "larger than the sandbox allows"),
    ("{{ 'x'|center(10**10) }}", "larger than the sandbox allows"),
    ("{{ 'a\nb'|indent(10**10) }}", "larger than the sandbox allows"),
    ("{{ '%999999999s'|format('x') }}", "format string"),
    ("{{ '%999999999s' % 'x' }}", "format string"),
    ("{{ '{:>999999999}'.format('x') }}", "format string"),
    ("{% set ns = namespace(s='xxxxxxxx') %}{% for i in range(40) %}"
     "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}", "longer than the sandbox"),
    ("{% macro f(s, n) %}{% if n %}{{ f(s ~ s, n - 1) }}{% else %}{{ s|length }}{% endif %}"
     "{% endmacro %}{{ f('x', 40) }}", "longer than the sandbox"),
    ("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", "recursed too deeply"),
    ("{% for i in range(99999) %}{{ 'x' * 9999 }}{% endfor %}",
     f"wrote more than {MAX_OUTPUT:,} characters"),
]


@pytest.mark.parametrize(("body", "message"), BOMBS)
def test_a_resource_bomb_in_a_page_template_is_a_one_line_error(
        tmp_path: Path, contoso_plan: dict[str, Any], body: str, message: str) -> None:
    user = user_page(tmp_path, body)
    with pytest.raises(TemplateFailed, match=r"pages/dns\.md\.j2") as failed:
        render_site(contoso_plan, make_environment(user))
    text = str(failed.value)
    assert "\n" not in text and len(text) < 400
    assert pytest.importorskip("re").search(message, text), text


@pytest.mark.parametrize(("body", "message"), [BOMBS[1], BOMBS[0], BOMBS[-2]])
def test_a_resource_bomb_in_a_document_template_is_a_one_line_error(
        tmp_path: Path, contoso_site: Site, body: str, message: str) -> None:
    (tmp_path / "user" / "documents").mkdir(parents=True)
    (tmp_path / "user" / "documents" / "change-request.md.j2").write_text(body, "utf-8")
    with pytest.raises((TemplateFailed, DocumentError),
                       match=r"change-request\.md\.j2") as failed:
        produce_documents([contoso_site], tmp_path / "work", templates_dir=tmp_path / "user")
    assert "\n" not in str(failed.value)


def test_ordinary_arithmetic_and_formatting_still_work(tmp_path: Path,
                                                       contoso_plan: dict[str, Any]) -> None:
    user = user_page(tmp_path, "{{ '-' * 20 }} {{ 2 ** 10 }} {{ '%5s'|format('ab') }} "
                               "{{ 'x'.ljust(4) }}| {{ '{:>4}'.format('y') }} "
                               "{{ (plan.dns + plan.dns)|length }}\n")
    rendered = render_site(contoso_plan, make_environment(user))
    assert rendered["sites/contoso-hq/dns.md"] == \
        f"{'-' * 20} 1024    ab x   |    y {2 * len(contoso_plan['dns'])}\n"


def test_the_build_command_reports_a_hostile_template_in_one_line(tmp_path: Path) -> None:
    from runbook.cli import main

    project = tmp_path / "project"
    (project / "inputs").mkdir(parents=True)
    (project / "inputs" / "contoso.yaml").write_bytes((INPUTS / "contoso.yaml").read_bytes())
    (project / "mkdocs.yml").write_bytes((ROOT / "mkdocs.yml").read_bytes())
    for folder in ("docs", "overrides"):
        if (ROOT / folder).is_dir():
            import shutil

            shutil.copytree(ROOT / folder, project / folder)
    user = user_page(tmp_path, "{{ 'x' * 10**10 }}")
    result = CliRunner().invoke(main, ["build", "-j", "1", "-q", "-f",
                                       str(project / "mkdocs.yml"), "-o",
                                       str(project / "site"), "--templates", str(user),
                                       str(project / "inputs")])
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "pages/dns.md.j2" in lines[0] and "repetition" in lines[0], \
        result.output
    assert not (project / "site").exists()
