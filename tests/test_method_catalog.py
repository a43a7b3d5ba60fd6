"""The torch-free method catalogue agrees with the registries the plugins fill, and knows when it cannot.

``gani-bench methods list`` reads the catalogue's cards when they describe every installed plugin
(no torch import); these tests are what keeps that shortcut honest: the same records, field by
field, in the same order, as loading the plugins gives, and the fallback whenever the catalogue
could be missing something (an entry point, a plugin module it does not list).
"""
from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
from importlib import metadata

from gani_bench.cli.methods import config_defaults, method_descriptions, stage_descriptions
from gani_bench.methods import catalog
from gani_bench.methods.base import METHODS
from gani_bench.methods.stages import EMBEDDINGS, REFINEMENTS
from gani_bench.plugins import load_plugins


def _builtin(registry):
    return [(n, c) for n, c in registry.items() if c.__module__.startswith("gani_bench.")]


def test_every_builtin_method_and_stage_is_its_card_in_the_catalogue_order():
    load_plugins()
    for registry, cards in ((METHODS, catalog.METHOD_CARDS), (EMBEDDINGS, catalog.EMBEDDING_CARDS),
                            (REFINEMENTS, catalog.REFINEMENT_CARDS)):
        builtin = _builtin(registry)
        assert [n for n, _ in builtin] == cards.names()
        for name, cls in builtin:
            card = cards.get(name)
            assert (cls.name, cls.summary, cls.source, cls.tunes_generator) == (
                card.name, card.summary, card.source, card.tunes_generator), name
            assert {p: dict(v) for p, v in cls.presets.items()} == {p: dict(v) for p, v in card.presets.items()}, name
            assert config_defaults(cls.Config) == config_defaults(card.Config), name


def test_the_listing_from_cards_equals_the_listing_from_loaded_plugins():
    assert method_descriptions(use_catalog=True) == [
        r for r in method_descriptions(use_catalog=False) if METHODS.get(r["name"]).__module__.startswith("gani_bench.")]
    from_plugins = stage_descriptions(use_catalog=False)
    builtin = {k: [r for r in v if r["name"] in (catalog.EMBEDDING_CARDS if k == "embeddings" else catalog.REFINEMENT_CARDS)]
               for k, v in from_plugins.items()}
    assert stage_descriptions(use_catalog=True) == builtin


def test_known_plugin_modules_are_the_modules_on_disk():
    """A new file in a plugin package must be added to the catalogue (with its cards); until then
    ``methods list`` loads the plugins instead of trusting the cards."""
    for package_name, known in catalog.KNOWN_PLUGIN_MODULES.items():
        package = importlib.import_module(package_name)
        on_disk = {i.name for i in pkgutil.iter_modules(package.__path__) if not i.name.startswith("_")}
        assert on_disk == set(known), package_name


def test_builtin_methods_come_only_from_the_packages_the_catalogue_watches():
    load_plugins()
    watched = tuple(catalog.KNOWN_PLUGIN_MODULES)
    for registry in (METHODS, EMBEDDINGS, REFINEMENTS):
        for name, cls in _builtin(registry):
            assert cls.__module__.startswith(watched), (name, cls.__module__)


def test_an_unknown_plugin_module_or_an_entry_point_makes_the_catalogue_step_aside(monkeypatch):
    assert catalog.cards_describe_installed_plugins()
    trimmed = dict(catalog.KNOWN_PLUGIN_MODULES, **{"gani_bench.baselines": frozenset()})
    monkeypatch.setattr(catalog, "KNOWN_PLUGIN_MODULES", trimmed)
    assert not catalog.cards_describe_installed_plugins()
    monkeypatch.undo()

    fake = metadata.EntryPoint(name="mine", value="my_pkg.methods", group=catalog.ENTRY_POINT_GROUP)
    monkeypatch.setattr(metadata, "entry_points", lambda group=None: [fake] if group == catalog.ENTRY_POINT_GROUP else [])
    assert not catalog.cards_describe_installed_plugins()


def test_a_method_registered_at_runtime_is_listed_once_plugins_are_loaded():
    """In a process that loaded the plugins the registries are the truth (an API user's own method)."""
    import dataclasses

    from gani_bench.methods.base import InversionMethod

    load_plugins()

    @dataclasses.dataclass
    class ToyConfig:
        steps: int = 3

    class Toy(InversionMethod):
        name = "toy_catalog_probe"
        summary = "a probe"
        Config = ToyConfig

    METHODS.add(Toy.name, Toy)
    try:
        assert "toy_catalog_probe" in [r["name"] for r in method_descriptions()]
    finally:
        METHODS._items.pop(Toy.name)


def test_methods_list_prints_the_catalogue():
    code = ("import sys\nfrom gani_bench.cli import main\ntry:\n    main(['methods', 'list'])\nexcept SystemExit:\n    pass\n"
            "assert 'torch' not in sys.modules, 'methods list imported torch'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-500:]
    assert "pti: Pivotal Tuning" in done.stdout and "e4e+gani:" in done.stdout


def test_a_method_in_a_users_file_named_by_the_env_variable_is_listed(tmp_path, monkeypatch):
    """``$GANI_BENCH_PLUGINS`` (a method in a user's file, as a run imports it) makes the listing
    load the plugins and that module."""
    monkeypatch.setenv("GANI_BENCH_PLUGINS", "my_listed_probe")
    assert not catalog.cards_describe_installed_plugins()
    (tmp_path / "my_listed_probe.py").write_text(
        "import dataclasses\n"
        "from gani_bench.methods.base import METHODS, InversionMethod\n"
        "@dataclasses.dataclass\nclass ProbeConfig:\n    steps: int = 7\n"
        "@METHODS.register('my_listed_probe')\n"
        "class Probe(InversionMethod):\n    name = 'my_listed_probe'\n    summary = 'a user method'\n    Config = ProbeConfig\n")
    code = "from gani_bench.cli import main\ntry:\n    main(['methods', 'list', '--brief'])\nexcept SystemExit:\n    pass\n"
    env = dict(__import__("os").environ, PYTHONPATH=str(tmp_path), GANI_BENCH_PLUGINS="my_listed_probe")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr[-500:]
    assert "my_listed_probe: a user method" in done.stdout.splitlines()
