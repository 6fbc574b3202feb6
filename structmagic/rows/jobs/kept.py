"""The synchronous re-run of a job's failed rows, kept with the job in its manifest record.

Rows that failed in the batch are re-run through the synchronous path once
(``results(retry="sync")``, the default); each row's result is written into the job's record
(``rerun``: the row's position → the result as JSON), so a later re-attach of the collected
job — the same cell run again, in a new kernel, the next day — shows them without sending
anything. ``results(retry="again")`` (``--batch-retry again``) re-runs the rows that are still
failed, paying again on purpose. Rows a cap left out ("not run: budget") or an interrupt left
unfinished are not kept: they were not paid for, and the next re-run sends them.

A kept answer::

    {"plain", "raw", "text", "truncated", "reasoning", "usage", "model", "attempts", "mode",
     "provider", "cost"}

(the value is rebuilt from ``plain`` through the schema, as when it was first read;
``text`` and ``truncated`` may be absent in a record kept before they existed: ``raw`` and
false); a kept failure::

    {"error": <a class of structmagic.errors>, "message", "hint", "attempts", "usage", "cost",
     "fields": {<its other attributes that are plain values>}, "issues": [[path, message]]}

rebuilt as an error of the same class. Long texts (a raw answer) are cut to
:data:`MAX_TEXT` characters. The manifest is written scrubbed of any registered key, like
every file structmagic writes.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from ... import errors as E
from ...call.result import Result

if TYPE_CHECKING:
    from .lines import Plan

__all__ = ["MAX_TEXT", "check_kept", "kept_result", "restore"]

#: the longest text kept of an error's attribute (a raw answer, a body excerpt)
MAX_TEXT = 4000
#: an error's attributes kept on their own (``fields`` holds the others; one that is not a
#: plain value, such as a stream's partial value, is kept as null)
_SKIP = frozenset({"usage", "cost", "attempts", "errors"})


def kept_result(result: Result) -> dict[str, Any] | None:
    """``result`` as the manifest keeps it; None for a row that was not run (a cap) or not
    finished (an interrupt)."""
    err = result.error
    if err is None:
        return {"plain": result.plain, "raw": result.raw, "text": result.text,
                "truncated": result.truncated, "reasoning": result.reasoning,
                "usage": dict(result.usage), "model": result.model,
                "attempts": result.attempts, "mode": result.mode,
                "provider": result.provider, "cost": _finite(result.cost)}
    if isinstance(err, (E.NotRun, E.Interrupted)) or not isinstance(err, E.StructuredError):
        return None
    fields = {k: (v[:MAX_TEXT] if isinstance(v, str) else v if _plain(v) else None)
              for k, v in vars(err).items() if k not in _SKIP and not k.startswith("_")}
    entry: dict[str, Any] = {
        "error": _named(type(err)), "message": err.message, "hint": err.hint,
        "attempts": err.attempts, "usage": dict(err.usage or {}), "cost": _finite(err.cost),
        "fields": fields}
    if isinstance(err, E.InvalidOutputError):
        entry["issues"] = [[i.path, i.message] for i in err.errors]
    return entry


def restore(entry: dict[str, Any], plan: Plan) -> Result | None:
    """The :class:`~structmagic.Result` kept in ``entry`` (checked by :func:`check_kept`);
    None when a kept value no longer passes the schema's own checks (a changed validator):
    then the row counts as not re-run."""
    name = plan.spec.name
    if "error" not in entry:
        try:
            plain, data, issues = plan.spec.check(entry["plain"])
        except RecursionError:
            return None
        if issues:
            return None
        result = Result(data=data, plain=plain, raw=entry["raw"],
                        text=entry.get("text") or entry["raw"],
                        truncated=entry.get("truncated") is True,
                        reasoning=entry["reasoning"], usage=dict(entry["usage"]),
                        model=entry["model"], attempts=entry["attempts"], schema_name=name,
                        provider=entry["provider"], mode=entry["mode"])
        result.cost = entry["cost"]
        return result
    cls = getattr(E, entry["error"])
    err = cls.__new__(cls)  # rebuilt from what was kept, as errors unpickle
    err.args = (entry["message"],)
    err.__dict__.update(entry["fields"])
    err.hint = entry["hint"]
    err.attempts, err.usage, err.cost = entry["attempts"], dict(entry["usage"]), entry["cost"]
    if "issues" in entry:
        err.errors = [E.ValidationIssue(path, message) for path, message in entry["issues"]]
    result = Result(error=err, schema_name=name, attempts=entry["attempts"],
                    provider=plan.provider.name, usage=dict(entry["usage"]))
    result.cost = entry["cost"]
    return result


def check_kept(entry: Any) -> None:
    """``ValueError`` unless ``entry`` is a kept result as :func:`kept_result` writes it."""
    _need(isinstance(entry, dict), "not an object")
    _need(_is_count(entry.get("attempts")), "'attempts' is not a count")
    _need(isinstance(entry.get("usage"), dict)
          and all(_is_count(v) for v in entry["usage"].values()), "'usage' is not counts")
    cost = entry.get("cost")
    _need(cost is None or (_number(cost) and 0 <= cost < 10.0**12), "'cost' is out of range")
    if "error" in entry:
        cls = getattr(E, str(entry["error"]), None) if entry["error"] in E.__all__ else None
        _need(isinstance(cls, type) and issubclass(cls, E.StructuredError),
              "'error' names no error of structmagic")
        _need(isinstance(entry.get("message"), str), "'message' is not text")
        _need(entry.get("hint") is None or isinstance(entry["hint"], str), "'hint' is not text")
        fields = entry.get("fields")
        _need(isinstance(fields, dict) and all(
            isinstance(k, str) and k.isidentifier() and not k.startswith("_")
            and k not in _SKIP and _plain(v) for k, v in fields.items()),
            "'fields' are not plain values")
        issues = entry.get("issues", [])
        _need(isinstance(issues, list) and all(
            isinstance(i, list) and len(i) == 2 and all(isinstance(x, str) for x in i)
            for i in issues), "'issues' are not [path, message] pairs")
        return
    _need("plain" in entry, "neither a value nor an error")
    for name in ("raw", "mode", "provider"):
        _need(isinstance(entry.get(name), str), f"{name!r} is not text")
    for name in ("reasoning", "model", "text"):
        _need(entry.get(name) is None or isinstance(entry[name], str), f"{name!r} is not text")
    _need(isinstance(entry.get("truncated", False), bool), "'truncated' is not true or false")


def _named(cls: type) -> str:
    """The name of ``cls``, or of the nearest class above it, in :mod:`structmagic.errors`
    (an error class of a provider's own is kept as the structmagic error it derives from)."""
    return next(c.__name__ for c in cls.__mro__
                if c.__name__ in E.__all__ and getattr(E, c.__name__) is c)


def _need(ok: bool, what: str) -> None:
    if not ok:
        raise ValueError(what)


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _is_count(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**63


def _plain(v: Any) -> bool:
    return v is None or isinstance(v, (str, bool)) or _number(v)


def _finite(v: Any) -> float | None:
    return float(v) if _number(v) else None
