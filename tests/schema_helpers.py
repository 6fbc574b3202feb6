"""Shared pieces of the schema tests: OpenAI's request for a spec, answers checked in its
shape, and what a Python type makes of a value."""

from __future__ import annotations

import typing

import typing_extensions
from hypothesis import strategies as st

from structmagic.providers import get_provider
from structmagic.providers.openai import OPENAI_STRICT
from structmagic.schema import violations


def oa(spec):
    """What OpenAI's formats send for ``spec`` (its strict conversion)."""
    return spec.request_for(get_provider("openai"))


def check(spec, answer):
    """Check an answer written in OpenAI's request shape."""
    return spec.check(answer, oa(spec))


def strict_violations(schema):
    return violations(schema, OPENAI_STRICT)


def request_shape(spec, example):
    return {"value": example} if oa(spec).wrapped else example




def assert_typed(spec, data):
    """``data`` is what the spec's Python type makes of a value."""
    tp = spec.python_type
    if tp is None:
        assert isinstance(data, (dict, list, str, int, float, bool)) or data is None
        return
    origin = typing.get_origin(tp)
    if origin is list:
        (item,) = typing.get_args(tp)
        assert isinstance(data, list) and all(isinstance(x, item) for x in data)
    elif origin is typing.Literal:
        assert data in typing.get_args(tp)
    elif typing_extensions.is_typeddict(tp):
        assert type(data) is dict and set(data) <= set(tp.__annotations__)
    else:
        assert isinstance(data, tp), (tp, data)


def chooser(data):
    def choose(kind, n):
        return data.draw(st.integers(0, n - 1), label=kind)

    return choose
