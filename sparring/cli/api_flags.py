"""The ``--api-*`` flags of the commands that seat players (arena, play, eval, league): one per field of the
config's ``api`` section, which says how ``api:MODEL@URL`` players reach their endpoint. A flag left out keeps
the evaluated run's value (eval, league), else the default."""

from __future__ import annotations

import argparse
import dataclasses
import typing
from dataclasses import replace

from sparring.config import ApiConfig

__all__ = ["add_api_flags", "api_config"]


def _flag(name: str) -> str:
    return "--api-" + name.replace("_", "-")


def add_api_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("served models (api:MODEL@URL players)")
    hints = typing.get_type_hints(ApiConfig)
    for field in dataclasses.fields(ApiConfig):
        choices = typing.get_args(hints[field.name]) or None
        kind = None if choices else hints[field.name]
        group.add_argument(_flag(field.name), type=kind, choices=choices, default=None,
                           metavar=None if choices else field.name.upper(),
                           help=f"{field.metadata['doc']} (config: api.{field.name}; default {field.default!r}, "
                                "or the run's for eval and league)")


def api_config(args: argparse.Namespace, base: ApiConfig | None = None) -> ApiConfig:
    """``base`` (a run's ``api`` section, else the defaults) with the ``--api-*`` flags that were given."""
    given = {field.name: getattr(args, f"api_{field.name}") for field in dataclasses.fields(ApiConfig)}
    return replace(base or ApiConfig(), **{name: value for name, value in given.items() if value is not None})
