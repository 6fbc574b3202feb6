"""``samples=K``: K answers to the same request, one value, and how much they agree.

The K answers come from one request where the format takes several at once (Chat
Completions' ``n``: :attr:`~structmagic.providers.Provider.samples_in_one`), else from K
requests; answers missing from a request that asked for K (a server that ignores ``n``, an
answer that did not match the schema) are asked for by more requests, one at a time, up to
K requests in all. :func:`sampled` runs them (each one call of :mod:`.loop`, with its own
re-asks) and :func:`combine` makes one :class:`~structmagic.Result` of them:

- each leaf value of the accepted answer is the one most samples gave for its path (values
  compared as JSON); the answer is built on the sample that agrees with the most of those
  majorities (the earliest of equals), with its leaves set to the majority values, and it
  is kept only if it still matches the schema (else that sample's own answer is);
- ``Result.agreement`` maps each leaf path of the accepted answer to the share of the K
  samples that gave its value (a sample that failed, or lacks the path, agrees with
  nothing); ``Result.samples`` is K;
- usage, attempts, time and cost are those of every request made;
- ``confidence`` (with ``confidence=True``) is, for each path, that of a sample that gave
  the accepted value; grounding is done again when the value was built from several.

:func:`agree` gives the answers of several models to one prompt (a comparison) their
``agreement`` the same way: the share of the models that gave each value.
"""

from __future__ import annotations

import copy
import json
from collections import Counter
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from .. import errors as E
from ..grounding.paths import walk
from .grounding import Grounder
from .result import Result, joined_spend

if TYPE_CHECKING:
    from ..schema import SchemaSpec

__all__ = ["agree", "combine", "sampled"]


def sampled(ask: Callable[[int], Result], k: int, spec: SchemaSpec, *,
            steps_field: str | None = None) -> Result:
    """K samples of one call (``ask(n)`` runs it once, wanting ``n`` more answers; where the
    format takes several in one request it may bring them: :meth:`Result.take_others`),
    combined. A sample that fails counts as disagreeing; when all
    of them fail, the first one's error is raised, carrying every request's attempts."""
    results: list[Result] = []
    failures: list[E.StructuredError] = []
    requests = 0
    while len(results) < k and requests < k:
        requests += 1
        try:
            res = ask(k - len(results))
        except E.StructuredError as err:
            failures.append(err)
            continue
        results.append(res)
        results.extend(res.take_others()[: k - len(results)])
    if not results:
        first = failures[0]
        first.attempts = sum(f.attempts for f in failures)
        raise first
    return combine(results, k, spec, failures=failures, steps_field=steps_field)


def _canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def _leaves(plain: Any) -> dict[str, str]:
    tree = walk(plain)
    return {p: _canon(v) for p, v in zip(tree.paths, tree.values, strict=True)}


def _set_leaf(value: Any, path_parts: list[str | int], leaf: Any) -> Any:
    if not path_parts:
        return leaf
    node = value
    for part in path_parts[:-1]:
        node = node[part]
    node[path_parts[-1]] = leaf
    return value


def _parts_by_path(plain: Any) -> dict[str, list[str | int]]:
    """Each leaf's keys and indexes from the root, by its path."""
    tree = walk(plain)
    out: dict[str, list[str | int]] = {}
    for i, path in enumerate(tree.paths):
        key = tree.keys[i]
        if key is None:
            out[path] = []
            continue
        parts: list[str | int] = [key]
        holder = tree.holders[i]
        while holder > 0:
            link = tree.links[holder]
            assert link is not None
            parts.append(link)
            holder = tree.parents[holder]
        out[path] = parts[::-1]
    return out


def _votes(samples: Sequence[dict[str, str]]) -> dict[str, Counter[str]]:
    votes: dict[str, Counter[str]] = {}
    for sample in samples:
        for path, canon in sample.items():
            votes.setdefault(path, Counter())[canon] += 1
    return votes


def agree(results: Sequence[Result]) -> None:
    """Several models' answers to one prompt (a comparison): each valid result's
    ``agreement`` set to the share of all of them (failed ones too) that gave its value at
    each path, unless it has one already (its own samples')."""
    valid = [r for r in results if r.error is None]
    if len(results) < 2 or not valid:
        return
    samples = [_leaves(r.plain) for r in valid]
    votes = _votes(samples)
    for res, sample in zip(valid, samples, strict=True):
        if res.agreement is None:
            res.agreement = {p: votes[p][c] / len(results) for p, c in sample.items()}


def combine(results: Sequence[Result], k: int, spec: SchemaSpec, *,
            failures: Sequence[E.StructuredError] = (), steps_field: str | None = None
            ) -> Result:
    """One result of K samples (``results``: the valid ones, in the order they came)."""
    leaves = [_leaves(r.plain) for r in results]
    votes = _votes(leaves)
    scores = [sum(votes[p][c] for p, c in sample.items()) for sample in leaves]
    base = max(range(len(results)), key=lambda i: (scores[i], -i))
    chosen = results[base]
    plain, data = chosen.plain, chosen.data
    majority: dict[str, str] = {}
    for path, canon in leaves[base].items():
        best, count = votes[path].most_common(1)[0]
        if count > votes[path][canon]:
            majority[path] = best
    if majority:
        parts = _parts_by_path(chosen.plain)
        built = copy.deepcopy(chosen.plain)
        for path, canon in majority.items():
            built = _set_leaf(built, parts[path], json.loads(canon))
        checked, typed, issues = spec.check(built)
        if not issues:
            plain, data = checked, typed
    accepted = _leaves(plain)
    agreement = {path: votes.get(path, Counter())[canon] / k
                 for path, canon in accepted.items()}
    confidence = None
    if any(r.confidence is not None for r in results):
        confidence = {}
        for path, canon in accepted.items():
            for sample, res in zip(leaves, results, strict=True):
                if sample.get(path) == canon and res.confidence and path in res.confidence:
                    confidence[path] = res.confidence[path]
                    break
    grounding = chosen.grounding
    if grounding is not None and plain is not chosen.plain:
        grounding = Grounder(chosen.source, spec.original, "check", steps_field).check(plain)
    usage: dict[str, int] = {}
    for part in [*(r.usage for r in results), *(f.usage or {} for f in failures)]:
        for key, n in part.items():
            usage[key] = usage.get(key, 0) + int(n)
    out = Result(
        data=data, plain=plain,
        raw=chosen.raw if plain is chosen.plain else json.dumps(plain, ensure_ascii=False),
        text=chosen.text, reasoning=chosen.reasoning, usage=usage, model=chosen.model,
        attempts=sum(r.attempts for r in results) + sum(f.attempts for f in failures),
        elapsed=sum(r.elapsed for r in results), schema_name=chosen.schema_name,
        steps_field=chosen.steps_field, provider=chosen.provider, mode=chosen.mode,
        from_cache=results[0].from_cache and all(r.from_cache for r in results if r.attempts),
        truncated=chosen.truncated,
        inputs=chosen.inputs, grounding=grounding, source=chosen.source,
        confidence=confidence if confidence is not None else None,
        confidence_reason=None if confidence is not None else chosen.confidence_reason,
        agreement=agreement, samples=k, reasks=chosen.reasks,
        _spend=joined_spend(results, [f.usage for f in failures if f.usage]),
    )
    return out
