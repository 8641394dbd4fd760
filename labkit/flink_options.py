"""A job's configuration checked before it is submitted, against Flink's own options.

Flink ignores a key it does not know (``execution.checkpointing.intervall: 1s`` runs without
checkpoints, and says nothing), and fails a value it cannot parse deep inside the submission (a
Java stack of 77 lines with ``Could not parse value`` buried in it). Here every key is looked up
among the ``ConfigOption`` constants of Flink's ``*Options`` classes (read once per process from
the distribution's jars); an unknown key is warned about with the closest known one, and a value is
parsed by Flink itself: one of the wrong form is a :class:`BadOption` of two lines.
"""
from __future__ import annotations

import difflib
import functools
import warnings
import zipfile

from .distribution import flink_distribution
from .errors import LabError

# String options whose values Flink does not check: any other value silently means the default.
CHOICES = {"python.execution-mode": ("process", "thread")}

# What a value of each option type looks like, for the message.
FORMS = {"Duration": "a duration such as '2 s', '500 ms' or '1 min'",
         "MemorySize": "a size such as '64 mb' or '1 gb'",
         "Integer": "a whole number", "Long": "a whole number", "Double": "a number", "Float": "a number",
         "Boolean": "true or false"}


class BadOption(LabError):
    """A job option whose value Flink cannot use."""


class UnknownOption(UserWarning):
    """A job option Flink does not know: it would be ignored."""


def _option_classes(jars) -> list[str]:
    names = set()
    for jar in jars:
        with zipfile.ZipFile(jar) as archive:
            names |= {entry[:-len(".class")].replace("/", ".") for entry in archive.namelist()
                      if entry.startswith("org/apache/flink/") and entry.endswith("Options.class") and "$" not in entry}
    return sorted(names)


@functools.cache
def known_options() -> dict:
    """Flink's options by key (their deprecated and fallback keys too): ``key -> Java ConfigOption``."""
    from py4j.protocol import Py4JError
    from pyflink.java_gateway import get_gateway

    jvm = get_gateway().jvm
    dist = flink_distribution()
    config_option = jvm.java.lang.Class.forName("org.apache.flink.configuration.ConfigOption")
    is_static = jvm.java.lang.reflect.Modifier.isStatic
    options = {}
    for name in _option_classes([*dist.lib.glob("flink-*.jar"), dist.python_jar]):
        try:
            fields = jvm.java.lang.Class.forName(name).getFields()
        except Py4JError:  # a class this client cannot load (it needs a jar it lacks): not ours to check
            continue
        for field in fields:
            if config_option.isAssignableFrom(field.getType()) and is_static(field.getModifiers()):
                option = field.get(None)
                options[option.key()] = option
                for fallback in option.fallbackKeys():
                    options.setdefault(fallback.getKey(), option)
    return options


def _form(option) -> str:
    kind = option.getClazz()
    if kind.isEnum():
        return "one of " + ", ".join(str(constant) for constant in kind.getEnumConstants())
    return FORMS.get(kind.getSimpleName(), f"a {kind.getSimpleName()}")


def check_options(config: dict, as_flink_value=str) -> None:
    """Warn of each key of ``config`` Flink does not know; raise :class:`BadOption` for a value
    Flink cannot parse. ``as_flink_value`` writes a Python value as Flink reads it."""
    from py4j.protocol import Py4JJavaError
    from pyflink.java_gateway import get_gateway

    options = known_options()
    for key, value in config.items():
        option = options.get(key)
        if option is None:
            close = difflib.get_close_matches(key, options, n=1, cutoff=0.8)
            warnings.warn(f"{key!r} is not a Flink option: Flink ignores it"
                          + (f". Did you mean {close[0]!r}?" if close else ""), UnknownOption, stacklevel=4)
            continue
        text = as_flink_value(value)
        if key in CHOICES and text not in CHOICES[key]:
            raise BadOption(f"{key}: {value!r} is not one of {', '.join(CHOICES[key])}",
                            hint="Flink would quietly use its default instead")
        probe = get_gateway().jvm.org.apache.flink.configuration.Configuration()
        probe.setString(key, text)
        try:
            probe.get(option)
        except Py4JJavaError as error:
            reason = str(error.java_exception.getMessage()).splitlines()[0]
            raise BadOption(f"{key}: {value!r} is not {_form(option)}", hint=f"Flink says: {reason}") from None
