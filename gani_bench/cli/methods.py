"""``gani-bench methods``: every inversion method with its source, config fields and presets.

Showing defaults and where they come from answers the most common question in the reference
repos' trackers ("defaults that differ from the paper"). The records come from the method
catalogue (:mod:`gani_bench.methods.catalog`, no torch: the listing answers in a fraction of a
second) when its cards describe every installed plugin; otherwise (a third-party entry point, a
new module in ``baselines/``, or plugins already loaded in this process) from the registries
that :func:`gani_bench.plugins.load_plugins` fills. Both give the same records (tested).
"""
from __future__ import annotations

import dataclasses
from typing import Any, Dict, List, Tuple

import click


def config_defaults(config_cls: type) -> Dict[str, Any]:
    """Field -> default; a composed method's nested stage configs show as ``stage.field``."""
    out: Dict[str, Any] = {}
    defaults = config_cls()
    for f in dataclasses.fields(config_cls):
        value = getattr(defaults, f.name)
        if dataclasses.is_dataclass(value):
            out.update({f"{f.name}.{k}": v for k, v in config_defaults(type(value)).items()})
        else:
            out[f.name] = value
    return out


def _sources(use_catalog: bool | None = None) -> Tuple[Any, Any, Any]:
    """(methods, embeddings, refinements): the catalogue's cards or the loaded registries (see module doc).

    ``use_catalog``: None decides as the module docstring says; True/False force one (tests).
    """
    from .. import plugins

    if use_catalog is None:
        from ..methods.catalog import cards_describe_installed_plugins

        use_catalog = not plugins.plugins_loaded() and cards_describe_installed_plugins()
    if use_catalog:
        from ..methods.catalog import EMBEDDING_CARDS, METHOD_CARDS, REFINEMENT_CARDS

        return METHOD_CARDS, EMBEDDING_CARDS, REFINEMENT_CARDS
    from ..methods.base import METHODS
    from ..methods.stages import EMBEDDINGS, REFINEMENTS

    plugins.load_plugins()
    plugins.import_extra_plugins()  # $GANI_BENCH_PLUGINS: a method in a user's file is listed as a run sees it
    return METHODS, EMBEDDINGS, REFINEMENTS


def stage_descriptions(use_catalog: bool | None = None) -> Dict[str, List[Dict[str, Any]]]:
    """``{"embeddings": [...], "refinements": [...]}``: name, summary, source, fields per stage."""
    _, embeddings, refinements = _sources(use_catalog)
    return {kind: [{"name": n, "summary": c.summary, "source": c.source, "fields": config_defaults(c.Config)}
                   for n, c in registry.items()]
            for kind, registry in (("embeddings", embeddings), ("refinements", refinements))}


def method_descriptions(use_catalog: bool | None = None) -> List[Dict[str, Any]]:
    """One record per registered method: name, summary, source, fields (name -> default), presets."""
    methods, _, _ = _sources(use_catalog)
    records = []
    for name, cls in methods.items():
        fields = config_defaults(cls.Config)
        records.append(
            {
                "name": name,
                "summary": cls.summary,
                "source": cls.source,
                "tunes_generator": cls.tunes_generator,
                "fields": fields,
                "presets": {p: dict(v) for p, v in cls.presets.items()},
            }
        )
    return records


def _format_overrides(values: Dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in values.items()) or "(the defaults)"


@click.group("methods")
def methods() -> None:
    """Inversion methods: list them with their config fields, defaults and presets."""


@methods.command("list")
@click.option("--brief", is_flag=True, help="One line per method (name and summary).")
def list_methods(brief: bool) -> None:
    """Each method: summary, source, config fields with defaults, and presets."""
    for record in method_descriptions():
        click.echo(f"{record['name']}: {record['summary']}")
        if brief:
            continue
        click.echo(f"  source: {record['source']}")
        click.echo(f"  tunes generator: {'yes' if record['tunes_generator'] else 'no'}")
        click.echo("  config (--set FIELD=VALUE):")
        width = max(len(k) for k in record["fields"])
        for key, value in record["fields"].items():
            click.echo(f"    {key.ljust(width)}  {value}")
        click.echo("  presets:")
        for preset, overrides in record["presets"].items():
            click.echo(f"    {preset}: {_format_overrides(overrides)}")
        click.echo("")
    _list_stages(brief)


def _list_stages(brief: bool) -> None:
    """The stages any EMBEDDING+REFINEMENT name combines (docs/methods.md, "Composition")."""
    stages = stage_descriptions()
    click.echo("Stages: any embedding combines with any refinement as --method EMBEDDING+REFINEMENT "
               "(e.g. e4e+pti); --set STAGE.FIELD=VALUE sets one stage's field")
    for kind in ("embeddings", "refinements"):
        click.echo(f"  {kind}:")
        for record in stages[kind]:
            click.echo(f"    {record['name']}: {record['summary']}")
            if not brief:
                click.echo(f"      fields: {', '.join(record['fields']) or '(none)'}")
