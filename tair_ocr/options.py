"""Typed plugin options: one pydantic model per component, validated at the boundary.

A component that takes options declares a model and names it in
``Component.options_model``::

    from typing import ClassVar, Literal
    from pydantic import Field
    from tair_ocr.options import PluginOptions

    class ShoutOptions(PluginOptions):
        \"\"\"Options of the shout engine.\"\"\"

        namespace: ClassVar[str] = "shout"

        volume: int = Field(3, ge=1, le=11, description="how loud")
        case: Literal["upper", "lower"] = Field("upper", description="letter case")

    class ShoutEngine(OcrEngine):
        name = "shout"
        options_model = ShoutOptions

        def configure(self, options: ShoutOptions) -> None:
            self.volume = options.volume

The model is the only place an option is declared; from it come

- the command-line flags ``--shout-volume N`` and ``--shout-case {upper,lower}``
  (``--<namespace>-<field>``, underscores turned into dashes; type, choices, default
  and help text from the field; ``bool`` fields become ``--x/--no-x``), grouped
  under the namespace in ``tair-ocr --help``;
- the Python API's two spellings: nested by namespace,
  ``Pipeline(options={"shout": {"volume": 5}})`` (or ``{"shout": ShoutOptions(...)}``),
  and flat, ``Pipeline(options={"shout_volume": 5})``;
- the validation: an unknown name or a bad value is a
  :class:`~tair_ocr.errors.UsageError` that names the option and its flag.

:class:`OptionModels` holds the models of the installed plugins (see
``PluginManager.option_models``) and turns raw options into an :class:`OptionSet`,
the run's validated options: ``Settings.options``. Each selected component's
``configure`` receives its own model instance.

A field's ``description`` is its help text; ``(default: X)`` is appended (or fills a
``{default}`` placeholder) unless the description speaks of its default itself (for a
None default that means something: "default: all cores").

Fields whose flag needs more than the defaults (another metavar, a second spelling)
carry a :class:`Flag` in their annotation::

    weights: Annotated[Path | None, Flag(metavar="DIR", aliases=("--weights",))] = None

Scalar types are supported on the command line: ``bool``, ``int``, ``float``, ``str``,
:class:`~pathlib.Path`, ``Literal[...]`` choices, each optionally ``| None``. A plugin
that needs more uses the ``add_options`` hook (argparse directly).
"""

from __future__ import annotations

import argparse
import difflib
import re
import types
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.fields import FieldInfo

from tair_ocr.errors import PluginError, UsageError

__all__ = ["Flag", "OptionModels", "OptionSet", "PluginOptions"]

#: What a namespace may look like: it starts flags (``--<namespace>-``) and flat names.
_NAMESPACE = re.compile(r"[a-z][a-z0-9_]*")
#: Metavars of the scalar types (a :class:`Flag` may set another).
_METAVARS: dict[type, str] = {int: "N", float: "X", str: "STR", Path: "PATH"}

OptionsT = TypeVar("OptionsT", bound="PluginOptions")


@dataclass(frozen=True)
class Flag:
    """Command-line details of one option field, given in its annotation
    (``Annotated[int, Flag(metavar="PX")]``).

    :param metavar: the value's name in ``--help`` (default: from the type: N, X,
        STR, PATH; none for choices and switches).
    :param aliases: more spellings of the flag, e.g. ``("--weights",)``.
    """

    metavar: str | None = None
    aliases: tuple[str, ...] = ()


class PluginOptions(BaseModel):
    """Base class of a component's options: frozen, unknown fields rejected.

    Subclasses set :attr:`namespace` and declare fields with
    ``Field(default, description=..., <constraints>)``; the first line of the class
    docstring heads the namespace's group in ``tair-ocr --help``. Field and model
    validators raise ``ValueError`` for bad values; the message reaches the user after
    the option's name and flag.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Prefix of the options' flags (``--tesseract-psm``) and flat names
    #: (``tesseract_psm``), and their key in nested options (``{"tesseract": {...}}``).
    #: Lowercase letters, digits and underscores, unique among installed plugins.
    namespace: ClassVar[str]

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        namespace = cls.__dict__.get("namespace")
        if namespace is not None and not (
            isinstance(namespace, str) and _NAMESPACE.fullmatch(namespace)
        ):
            raise TypeError(
                f"{cls.__name__}.namespace must be lowercase letters, digits and "
                f"underscores, starting with a letter; got {namespace!r}"
            )

    # ------------------------------------------------------------------ names

    @classmethod
    def flag(cls, field: str) -> str:
        """The command-line flag of ``field``: ``--<namespace>-<field>``, dashed."""
        return f"--{cls.namespace}-{field}".replace("_", "-")

    @classmethod
    def key(cls, field: str) -> str:
        """The flat name of ``field``: ``<namespace>_<field>`` (also the argparse dest)."""
        return f"{cls.namespace}_{field}"

    @classmethod
    def label(cls, field: str) -> str:
        """How errors name ``field``: ``tesseract.psm (--tesseract-psm)``."""
        return f"{cls.namespace}.{field} ({cls.flag(field)})"

    def flat(self) -> dict[str, Any]:
        """The values by flat name (``{"tesseract_psm": 3, ...}``)."""
        return {self.key(name): getattr(self, name) for name in type(self).model_fields}

    # ------------------------------------------------------------------ validation

    @classmethod
    def parse(
        cls: type[OptionsT], values: Mapping[str, Any] | PluginOptions | None = None
    ) -> OptionsT:
        """Validate field values (``{"psm": 6}``) into this model.

        :raises UsageError: an unknown field or a bad value, naming the option.
        """
        if isinstance(values, cls):
            return values
        if isinstance(values, PluginOptions):
            raise UsageError(
                f"options for {cls.namespace!r} must be a {cls.__name__}, "
                f"not a {type(values).__name__}"
            )
        if values is None:
            values = {}
        if not isinstance(values, Mapping):
            raise UsageError(
                f"options for {cls.namespace!r} must be a mapping of its fields "
                f"({', '.join(cls.model_fields)}) or a {cls.__name__}, not {values!r}"
            )
        for name in values:
            if name not in cls.model_fields:
                raise UsageError(_unknown_field(cls, str(name), f"{cls.namespace}.{name}"))
        try:
            return cls.model_validate(dict(values))
        except ValidationError as exc:
            raise UsageError(_describe(cls, exc)) from None


def _unknown_field(model: type[PluginOptions], name: str, given: str) -> str:
    fields = list(model.model_fields)
    close = difflib.get_close_matches(name, fields, n=1)
    hint = f"; did you mean {model.label(close[0])}?" if close else ""
    return (
        f"unknown option {given} ({model.flag(name)}){hint} "
        f"({model.namespace} options: {', '.join(fields) or 'none'})"
    )


def _describe(model: type[PluginOptions], exc: ValidationError) -> str:
    """One line per bad field, naming the option and its flag."""
    lines: dict[str, str] = {}
    for error in exc.errors():
        message = str(error.get("msg", ""))
        for prefix in ("Value error, ", "Assertion failed, "):
            message = message.removeprefix(prefix)
        message = message[:1].lower() + message[1:]
        loc = error.get("loc") or ()
        field = loc[0] if loc and isinstance(loc[0], str) else None
        if field is None:
            lines.setdefault("", f"invalid {model.namespace} options: {message}")
        elif field not in lines:
            value = error.get("input")
            lines[field] = f"invalid value {value!r} for option {model.label(field)}: {message}"
    return "; ".join(lines.values())


# ---------------------------------------------------------------------- the run's set


class OptionSet(Mapping[str, PluginOptions]):
    """The run's validated plugin options: a read-only mapping from namespace to
    model instance (``options["tesseract"].psm``), plus :attr:`extra`, the untyped
    values of flags plugins add with the ``add_options`` hook.

    Built by :meth:`OptionModels.parse`; held by ``Settings.options``.
    """

    def __init__(
        self,
        values: Mapping[str, PluginOptions] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        self._values = dict(values or {})
        #: Values of the options plugins add with ``add_options`` (argparse
        #: destination -> value, their defaults included): the escape hatch's options.
        self.extra: Mapping[str, Any] = types.MappingProxyType(dict(extra or {}))

    def __getitem__(self, namespace: str) -> PluginOptions:
        return self._values[namespace]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, OptionSet):
            return NotImplemented
        return self._values == other._values and dict(self.extra) == dict(other.extra)

    def __repr__(self) -> str:
        parts = [repr(v) for v in self._values.values()]
        if self.extra:
            parts.append(f"extra={dict(self.extra)!r}")
        return f"OptionSet({', '.join(parts)})"

    def of(self, model: type[OptionsT]) -> OptionsT:
        """The instance of ``model`` (its defaults when the set lacks its namespace)."""
        value = self._values.get(model.namespace)
        if value is None:
            return model()
        if not isinstance(value, model):
            raise TypeError(
                f"options {model.namespace!r} are a {type(value).__name__}, not a {model.__name__}"
            )
        return value

    def for_component(self, component: object) -> Any:
        """What ``component.configure`` receives: its ``options_model`` instance, or
        :attr:`extra` for a component without one (options from ``add_options``)."""
        model = getattr(component, "options_model", None)
        return self.of(model) if model is not None else self.extra

    def nested(self, mode: Literal["python", "json"] = "python") -> dict[str, Any]:
        """The values nested by namespace (``{"tesseract": {"psm": 3, ...}}``), the
        extra ones flat beside them: a form :meth:`OptionModels.parse` takes back."""
        nested: dict[str, Any] = {ns: v.model_dump(mode=mode) for ns, v in self._values.items()}
        nested.update(self.extra)
        return nested

    def flat(self) -> dict[str, Any]:
        """Every value by flat name (``tesseract_psm``), the extra ones included."""
        flat: dict[str, Any] = {}
        for value in self._values.values():
            flat.update(value.flat())
        flat.update(self.extra)
        return flat


# ---------------------------------------------------------------------- the installed models


class OptionModels:
    """The option models of the installed plugins, by namespace, and the untyped
    options plugins add with ``add_options`` (destination -> default).

    Made by ``PluginManager.option_models``; turns raw options into an
    :class:`OptionSet` (:meth:`parse`) and adds the flags to a parser
    (:meth:`add_arguments`).
    """

    def __init__(self, extra_defaults: Mapping[str, Any] | None = None) -> None:
        self._models: dict[str, type[PluginOptions]] = {}
        self._plugins: dict[str, str] = {}
        self._extra_defaults = dict(extra_defaults or {})

    def add(self, model: object, plugin: str) -> None:
        """Register ``model`` (from ``plugin``); a model registered again is ignored.

        :raises PluginError: not a :class:`PluginOptions` subclass with a namespace,
            an unsupported field type, or a namespace another model already has.
        """
        if not (isinstance(model, type) and issubclass(model, PluginOptions)):
            raise PluginError(
                f"plugin {plugin!r}: options_model must be a tair_ocr.options.PluginOptions "
                f"subclass, not {model!r}"
            )
        namespace = getattr(model, "namespace", None)
        if namespace is None:
            raise PluginError(f"plugin {plugin!r}: {model.__name__} has no namespace")
        known = self._models.get(namespace)
        if known is model:
            return
        if known is not None:
            raise PluginError(
                f"option namespace {namespace!r} is claimed twice: by {known.__name__} of "
                f"plugin {self._plugins[namespace]!r} and by {model.__name__} of {plugin!r}"
            )
        for name, field in model.model_fields.items():
            try:
                _argument(model, name, field)
            except TypeError as exc:
                raise PluginError(f"plugin {plugin!r}: {exc}") from None
        self._models[namespace] = model
        self._plugins[namespace] = plugin

    def __iter__(self) -> Iterator[type[PluginOptions]]:
        return iter(self._models.values())

    def __len__(self) -> int:
        return len(self._models)

    def __contains__(self, namespace: object) -> bool:
        return namespace in self._models

    def get(self, namespace: str) -> type[PluginOptions]:
        return self._models[namespace]

    def plugin_of(self, namespace: str) -> str:
        return self._plugins[namespace]

    @property
    def extra_defaults(self) -> Mapping[str, Any]:
        """The ``add_options`` destinations and their defaults."""
        return types.MappingProxyType(self._extra_defaults)

    # ------------------------------------------------------------------ parsing

    def parse(self, raw: Mapping[str, Any] | OptionSet | None) -> OptionSet:
        """Validate raw options into an :class:`OptionSet` with every namespace.

        ``raw`` may nest by namespace (``{"tesseract": {"psm": 6}}``, or a model
        instance as the value), be flat (``{"tesseract_psm": 6}``), mix both, and hold
        ``add_options`` destinations. Missing values take the models' defaults.

        :raises UsageError: an unknown name, an option given twice or a bad value,
            naming the option and its flag.
        """
        if raw is None:
            raw = {}
        if isinstance(raw, OptionSet):
            raw = {**raw, **raw.extra}
        if not isinstance(raw, Mapping):
            raise UsageError(f"options must be a mapping, not {type(raw).__name__}")
        given: dict[str, dict[str, Any]] = {namespace: {} for namespace in self._models}
        extra = dict(self._extra_defaults)
        for key, value in raw.items():
            if not isinstance(key, str):
                raise UsageError(f"option names are strings, not {key!r}")
            if key in self._models:
                model = self._models[key]
                if isinstance(value, model):
                    fields = {name: getattr(value, name) for name in value.model_fields_set}
                elif isinstance(value, Mapping):
                    fields = dict(value)
                else:
                    model.parse(value)  # raises, saying what it takes
                    fields = {}
                for name, field_value in fields.items():
                    self._put(given, model, str(name), field_value, f"{key}.{name}")
            elif key in self._extra_defaults:
                extra[key] = value
            else:
                model = self._model_of(key)
                if model is None:
                    raise UsageError(self._unknown(key))
                self._put(given, model, key[len(model.namespace) + 1 :], value, repr(key))
        values = {
            namespace: model.parse(given[namespace]) for namespace, model in self._models.items()
        }
        return OptionSet(values, extra)

    def _model_of(self, key: str) -> type[PluginOptions] | None:
        """The model whose namespace prefixes the flat name ``key`` (the longest)."""
        matches = [ns for ns in self._models if key.startswith(ns + "_") and len(key) > len(ns) + 1]
        return self._models[max(matches, key=len)] if matches else None

    @staticmethod
    def _put(
        given: dict[str, dict[str, Any]],
        model: type[PluginOptions],
        name: str,
        value: Any,
        spelled: str,
    ) -> None:
        if name not in model.model_fields:
            raise UsageError(_unknown_field(model, name, spelled))
        fields = given[model.namespace]
        if name in fields:
            raise UsageError(f"option {model.label(name)} is given twice")
        fields[name] = value

    def _unknown(self, key: str) -> str:
        names = [m.key(f) for m in self._models.values() for f in m.model_fields]
        names += list(self._extra_defaults)
        close = difflib.get_close_matches(key, names, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        known = ", ".join(self._models) or "none"
        return (
            f"unknown option {key!r}{hint} (option namespaces: {known}; give options nested, "
            f'{{"tesseract": {{"psm": 6}}}}, or flat, {{"tesseract_psm": 6}})'
        )

    # ------------------------------------------------------------------ command line

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Add every model's flags to ``parser``, one argument group per namespace.

        The flags have no argparse default: only the flags given reach
        :meth:`values_from`, and the models supply the defaults (shown in the help).
        """
        for model in self._models.values():
            doc = (model.__dict__.get("__doc__") or "").strip()
            title = doc.splitlines()[0] if doc else f"Options of {model.namespace}"
            group = parser.add_argument_group(model.namespace, title)
            for name, field in model.model_fields.items():
                flags, kwargs = _argument(model, name, field)
                group.add_argument(*flags, **kwargs)

    def values_from(self, args: argparse.Namespace) -> dict[str, Any]:
        """The options parsed from the command line, by flat name: the model flags
        given, and every ``add_options`` destination."""
        values: dict[str, Any] = {}
        for model in self._models.values():
            for name in model.model_fields:
                if hasattr(args, model.key(name)):
                    values[model.key(name)] = getattr(args, model.key(name))
        for dest in self._extra_defaults:
            if hasattr(args, dest):
                values[dest] = getattr(args, dest)
        return values


def _argument(
    model: type[PluginOptions], name: str, field: FieldInfo
) -> tuple[list[str], dict[str, Any]]:
    """The flags and ``add_argument`` keywords of one field.

    :raises TypeError: a type the command line does not take.
    """
    annotation: Any = field.annotation
    if get_origin(annotation) in (Union, types.UnionType):
        members = [a for a in get_args(annotation) if a is not type(None)]
        if len(members) == 1:
            annotation = members[0]
    flag = next((m for m in field.metadata if isinstance(m, Flag)), Flag())
    kwargs: dict[str, Any] = {"dest": model.key(name), "default": argparse.SUPPRESS}
    if annotation is bool:
        kwargs["action"] = argparse.BooleanOptionalAction
    elif get_origin(annotation) is Literal:
        choices = get_args(annotation)
        kinds = {type(c) for c in choices}
        if len(kinds) != 1 or not kinds <= {str, int, float}:
            raise TypeError(f"{model.__name__}.{name}: Literal choices must share one type")
        kwargs["choices"] = choices
        kwargs["type"] = kinds.pop()
    elif annotation in _METAVARS:
        kwargs["type"] = annotation
        kwargs["metavar"] = _METAVARS[annotation]
    else:
        raise TypeError(
            f"{model.__name__}.{name}: {annotation!r} cannot be a command-line option "
            "(use bool, int, float, str, Path or Literal choices; or the add_options hook)"
        )
    if flag.metavar is not None and "action" not in kwargs:
        kwargs["metavar"] = flag.metavar
    kwargs["help"] = _help(field, annotation is bool)
    return [model.flag(name), *flag.aliases], kwargs


def _help(field: FieldInfo, switch: bool) -> str:
    """The field's description with its default: ``{default}`` in it is replaced by
    the default; otherwise ``(default: X)`` is appended, unless the description
    already speaks of its default (a None default said in words)."""
    text = (field.description or "").strip()
    default = field.get_default(call_default_factory=True)
    shown = ("on" if default else "off") if switch else str(default)
    if "{default}" in text:
        text = text.replace("{default}", shown)
    elif "default" not in text.lower() and default not in (None, ""):
        text = f"{text} (default: {shown})" if text else f"default: {shown}"
    return text.replace("%", "%%")
