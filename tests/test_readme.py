"""The README's promises, checked: its Python example runs as written, its install and test
commands are the ones CI runs, it stays short, and its links resolve."""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()
#: docs pages other branches write (merged by the lead); linked before they land here
def _section(title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", README, flags=re.S | re.M)
    assert match, f"README has no section {title!r}"
    return match.group(1)


def _blocks(text: str, lang: str) -> list:
    return re.findall(rf"```{lang}\n(.*?)```", text, flags=re.S)


def _normalise(command: str) -> list:
    return [w for w in shlex.split(command) if w != "-q"]


@pytest.mark.slow
def test_python_api_example_runs_exactly_as_written(tmp_path, monkeypatch, capsys):
    (code,) = _blocks(_section("Python API"), "python")
    monkeypatch.chdir(tmp_path)  # its out= is relative: keep it out of the checkout
    exec(compile(code, "README.md (Python API)", "exec"), {"__name__": "readme_example"})
    printed = capsys.readouterr().out
    assert "runs/api-example/report/report.html" in printed
    assert (tmp_path / "runs" / "api-example" / "report" / "table1.md").is_file()
    assert not (tmp_path / "runs" / "demo").exists()  # never the Quick start's folder
    assert re.search(r"^pti\s", printed, flags=re.M) and re.search(r"^gani\s", printed, flags=re.M)


def test_ci_installs_and_tests_with_the_readmes_own_commands():
    quick = "\n".join(_blocks(_section("Quick start"), "bash"))
    commands = [line.strip() for line in quick.splitlines()
                if line.strip().startswith(("python -m pip install", "python -m pytest")) and "--index-url" not in line]
    assert len(commands) == 3, commands  # torch, the package with its test extra, the tests
    ci = [_normalise(line) for line in (REPO / ".ci" / "run").read_text().splitlines() if line.strip().startswith("python -m")]
    for command in commands:
        assert _normalise(command) in ci, f"README command not run by .ci/run: {command}"


def test_readme_is_a_short_page_whose_links_resolve():
    assert len(README.splitlines()) <= 250
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", README)
    assert "docs/methods.md" in links
    for link in links:
        if link.startswith("http"):
            continue
        assert (REPO / link).exists(), link


@pytest.mark.parametrize("page", sorted(p.name for p in (REPO / "docs").glob("*.md")))
def test_docs_pages_link_back_and_their_relative_links_resolve(page):
    text = (REPO / "docs" / page).read_text()
    for link in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text):
        if link.startswith("http"):
            continue
        assert (REPO / "docs" / link).resolve().exists(), (page, link)
