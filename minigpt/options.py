"""Command-line options made from configuration dataclasses, so each setting is written once.

A field declared with :func:`option` carries its help text; :func:`add_options`
turns every such field into ``--kebab-name`` with the field's type and
default, and :func:`from_args` builds the dataclass back from the parsed
arguments.  A field given in another unit on the command line (a time budget
in minutes, stored in seconds) says so with ``scale``.
"""

import argparse
from dataclasses import MISSING, field, fields

_TYPES = {"int": int, "float": float, "str": str, "bool": bool}


def option(default, help, flag=None, scale=1, choices=None):
    """A dataclass field that is also a command-line option (``flag`` defaults to the field's name)."""
    return field(default=default, metadata={"help": help, "flag": flag, "scale": scale, "choices": choices})


def flag_of(item):
    return "--" + (item.metadata.get("flag") or item.name).replace("_", "-")


def add_options(parser, cls, title=None, skip=(), defaults=None):
    """Add an option for every :func:`option` field of ``cls`` (``defaults`` overrides some defaults)."""
    group = parser.add_argument_group(title) if title else parser
    for item in fields(cls):
        if "help" not in item.metadata or item.name in skip:
            continue
        default = (defaults or {}).get(item.name, item.default if item.default is not MISSING else None)
        scale, kind = item.metadata["scale"], _TYPES.get(str(item.type), item.type)
        shown = default / scale if scale != 1 and default is not None else default
        help_text = f"{item.metadata['help']} (default {_format(shown)})"
        help_text = help_text.replace("%", "%%")  # argparse formats help with %
        if kind is bool:
            group.add_argument(flag_of(item), dest=item.name, action=argparse.BooleanOptionalAction,
                               default=default, help=help_text)
        else:
            group.add_argument(flag_of(item), dest=item.name, type=kind, default=shown, help=help_text,
                               choices=item.metadata["choices"], metavar=flag_of(item)[2:].replace("-", "_").upper()
                               if not item.metadata["choices"] else None)


def from_args(cls, args, **overrides):
    """``cls`` built from the parsed options (and ``overrides``); its own checks then apply."""
    values = {}
    for item in fields(cls):
        if "help" in item.metadata and hasattr(args, item.name):
            value = getattr(args, item.name)
            values[item.name] = value * item.metadata["scale"] if item.metadata["scale"] != 1 else value
    return cls(**dict(values, **overrides))


def _format(value):
    return f"{value:g}" if isinstance(value, float) else str(value)
