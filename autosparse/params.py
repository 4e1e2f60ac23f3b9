"""Stage parameters declared once: each stage's frozen dataclass is the only place its parameters,
defaults, help texts and choices live. Its CLI flags are generated from it (:func:`add_arguments`,
:func:`from_args`) and its config block in ``config/schema.yaml`` is checked against it
(:func:`schema_disagreements`, ``tests/test_stage_schema.py``). Torch-free."""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from typing import Any

_META = "autosparse"  # key of a field's metadata that holds its CLI description


def param(default: Any = dataclasses.MISSING, help: str | Callable[[], str] = "", *,
          choices: Iterable | None = None, metavar: str | None = None, cli: bool = True,
          config: str | None = None, factory: Any = dataclasses.MISSING,
          flag_help_default: bool = True, flag: str | None = None, nargs: str | None = None,
          parse: Callable[[Any], Any] | None = None) -> Any:
    """A dataclass field with its CLI description: ``help`` (a callable is called when the parser
    is built, e.g. to list a registry; ``%(default)s`` is appended unless ``flag_help_default``
    is false), ``choices``, ``metavar``; ``cli=False`` keeps it off the command line; ``config``
    names its key in the stage's config block (default: the field name; ``""``: not in the
    config block). A field whose command-line form is not its value (``--set KEY=VALUE ...`` ->
    a dict) names its ``flag`` (default: the field name), ``nargs``, and ``parse``, which turns
    the flag's (or the config key's) value, None when absent, into the field's."""
    meta = {_META: {"help": help, "choices": tuple(choices) if choices is not None else None,
                    "metavar": metavar, "cli": cli, "config": config,
                    "help_default": flag_help_default, "flag": flag, "nargs": nargs,
                    "parse": parse}}
    if factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def _meta(f: dataclasses.Field) -> dict:
    return f.metadata.get(_META, {"help": "", "choices": None, "metavar": None, "cli": True,
                                  "config": None, "help_default": True, "flag": None,
                                  "nargs": None, "parse": None})


def flag_name(f: dataclasses.Field) -> str:
    """The name of ``f`` on the command line (``--flag-name``, argparse dest ``flag_name``)."""
    return _meta(f)["flag"] or f.name


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


def _base_type(hint: Any) -> tuple[Any, bool]:
    """(the non-None type of ``hint``, whether None is allowed)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return (args[0] if len(args) == 1 else hint), True
    return hint, False


def str2bool(value: str) -> bool:
    """Parse a boolean flag strictly ("False" is False, unlike ``type=bool``)."""
    v = str(value).strip().lower()
    if v in ("1", "true", "yes", "on"):
        return True
    if v in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected a boolean, got {value!r}")


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def cli_fields(cls: type) -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(cls) if _meta(f)["cli"]]


def add_arguments(parser: argparse.ArgumentParser, cls: type, skip: Iterable[str] = ()) -> None:
    """One flag per CLI field of the dataclass ``cls`` (``--field-name``), with its default, type,
    choices and help; fields without a default are required."""
    hints = typing.get_type_hints(cls)
    skip = set(skip)
    for f in cli_fields(cls):
        if f.name in skip:
            continue
        m, default = _meta(f), _default(f)
        base, _optional = _base_type(hints[f.name])
        text = m["help"]() if callable(m["help"]) else m["help"]
        kw: dict[str, Any] = {"help": text, "metavar": m["metavar"]}
        if default is dataclasses.MISSING:
            kw["required"] = True
        elif m["parse"] is not None:  # the flag's own form: absent -> None -> parse(None)
            kw.update(default=None, nargs=m["nargs"])
        else:
            kw["default"] = list(default) if isinstance(default, tuple) else default
            if m["help_default"] and "%(default)" not in kw["help"]:
                kw["help"] += " (default: %(default)s)"
        if m["parse"] is None and base is bool:
            kw.update(type=str2bool, metavar=m["metavar"] or "BOOL")
        elif m["parse"] is None and typing.get_origin(base) in (tuple, list):  # empty: allowed
            kw.update(type=typing.get_args(base)[0], nargs="*" if default == () else "+")
        elif m["parse"] is None and base in (int, float):
            kw["type"] = base
        if m["choices"] is not None:
            kw["choices"] = m["choices"]
        parser.add_argument(flag(flag_name(f)), **kw)


def from_args(cls: type, args: argparse.Namespace, **values: Any) -> Any:
    """``cls`` from the parsed flags of :func:`add_arguments` (``values`` win: fields the
    command builds otherwise, e.g. from ``--set``)."""
    hints = typing.get_type_hints(cls)
    kw = {}
    for f in cli_fields(cls):
        if f.name in values or not hasattr(args, flag_name(f)):
            continue
        v, parse = getattr(args, flag_name(f)), _meta(f)["parse"]
        if parse is not None:
            v = parse(v)
        elif isinstance(v, list) and typing.get_origin(_base_type(hints[f.name])[0]) is tuple:
            v = tuple(v)
        kw[f.name] = v
    return cls(**kw, **values)


def check_choices(obj: Any) -> None:
    """Raise ValueError naming the first field of the dataclass instance ``obj`` whose value is
    not one of its ``choices`` (for a stage's ``__post_init__``; None passes)."""
    for f in dataclasses.fields(obj):
        choices, value = _meta(f)["choices"], getattr(obj, f.name)
        if choices is not None and value is not None and value not in choices:
            raise ValueError(f"{f.name} must be one of {list(choices)}, got {value!r}")


def config_keys(cls: type) -> dict[str, dataclasses.Field]:
    """Config-block key -> field, for the fields a stage's config block sets."""
    out = {}
    for f in dataclasses.fields(cls):
        key = _meta(f)["config"]
        if key != "":
            out[key or f.name] = f
    return out


_JSON_TYPES = {bool: {"boolean"}, int: {"integer"}, float: {"number", "integer"},
               str: {"string"}, dict: {"object"}, list: {"array"}, tuple: {"array"},
               type(None): {"null"}}


def json_types(hint: Any) -> set[str]:
    """The JSON-schema types a value of type ``hint`` may take."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return set().union(*(json_types(a) for a in typing.get_args(hint)))
    return set(_JSON_TYPES.get(typing.get_origin(hint) or hint, {"?"}))


def schema_disagreements(cls: type, block: Mapping, dag_only: Iterable[str] = ()) -> list[str]:
    """How the config block schema ``block`` (one stage in config/schema.yaml) and the stage
    dataclass ``cls`` disagree: a key in one and not the other (``dag_only``: keys of the DAG
    alone, e.g. resources), another default, other choices, another type."""
    props = dict(block.get("properties", {}))
    keys, hints, out = config_keys(cls), typing.get_type_hints(cls), []
    name = cls.__name__
    for key in sorted(set(props) - set(keys) - set(dag_only)):
        out.append(f"{key}: in the schema, not a field of {name} (nor DAG-only)")
    for key in sorted(set(keys) - set(props)):
        out.append(f"{key}: a field of {name}, not in the schema")
    for key in sorted(set(keys) & set(props)):
        f, s = keys[key], props[key]
        default = _default(f)
        if "default" in s and default is not dataclasses.MISSING:
            d = list(default) if isinstance(default, tuple) else default
            parse = _meta(f)["parse"]
            if s["default"] != d and (parse is None or parse(s["default"]) != default):
                out.append(f"{key}: default {s['default']!r} in the schema, {d!r} in {name}")
        choices = _meta(f)["choices"]
        if "enum" in s and (choices is None or sorted(s["enum"]) != sorted(choices)):
            out.append(f"{key}: choices {s['enum']} in the schema, {choices} in {name}")
        if _meta(f)["parse"] is not None:  # the schema types the config form, not the field
            continue
        have = s.get("type")
        have = set(have) if isinstance(have, list) else {have} if have else set()
        if not have <= json_types(hints[f.name]):
            out.append(f"{key}: type {sorted(have)} in the schema, {hints[f.name]} in {name}")
    return out


# -- job arguments and identities of stage dataclasses --

def argv_items(cls: type, values: Mapping[str, Any]) -> dict[str, Any]:
    """A job's flag values (flag name -> value) in the field order of ``cls``, None left out: the
    flags a DAG job passes, named as on the command line (a name that is not a CLI flag of
    ``cls`` raises ValueError naming it and the valid ones)."""
    names = [flag_name(f) for f in cli_fields(cls)]
    unknown = sorted(set(values) - set(names))
    if unknown:
        raise ValueError(f"{cls.__name__} has no command-line field {unknown[0]!r}; "
                         f"valid: {sorted(names)}")
    return {n: values[n] for n in names if values.get(n) is not None}


def to_argv(values: Mapping[str, Any], cls: type) -> str:
    """The command line of ``values`` (flag name -> the flag's value, e.g. a stage's config block
    and the job's wildcards) for the CLI flags of ``cls``, in field order (:func:`argv_items`):
    ``--flag-name value``, shell-quoted; a list or tuple gives several values; a bool
    ``true``/``false`` (what :func:`str2bool` parses); None and empty lists are left out. The
    one renderer of every stage job's flags."""
    out = []
    for name, v in argv_items(cls, values).items():
        items = list(v) if isinstance(v, (list, tuple)) else [v]
        if not items:
            continue
        words = [str(x).lower() if isinstance(x, bool) else str(x) for x in items]
        out.append(" ".join([flag(name), *map(shlex.quote, words)]))
    return " ".join(out)


def identity(obj: Any) -> dict[str, Any]:
    """The fields of a stage dataclass as JSON types (tuples as lists), in field order."""
    return {k: list(v) if isinstance(v, tuple) else v
            for k, v in dataclasses.asdict(obj).items()}


def identity_hash(obj: Any, length: int = 12) -> str:
    """Canonical hash of a stage dataclass: :func:`autosparse.artifacts.identity.config_hash` of
    :func:`identity` (None-valued fields dropped)."""
    from .artifacts.identity import config_hash

    return config_hash(identity(obj), length)


def one_value_block(block: Mapping, keys: Iterable[str]) -> dict:
    """``block`` (a config block schema) with each of ``keys``, a setting given once or as a
    mapping (e.g. one value per scorer arch), reduced to its one-value form: "object" dropped
    from its types when the mapping's values take the same types (else left, and reported by
    :func:`schema_disagreements`)."""
    props = dict(block.get("properties", {}))
    for key in keys:
        s = dict(props[key])
        types = s.get("type")
        types = list(types) if isinstance(types, list) else [types]
        value = (s.get("additionalProperties") or {}).get("type", [])
        value = set(value) if isinstance(value, list) else {value}
        one = [t for t in types if t != "object"]
        if "object" in types and value <= set(one):
            s["type"] = one
            s.pop("additionalProperties", None)
        props[key] = s
    return {**block, "properties": props}
