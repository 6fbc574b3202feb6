"""Grounding: whether, and where, each leaf value of an answer occurs in its source text.

::

    ground(value, source, schema=None, *, skip=()) -> {path: Grounding}

One :class:`~structmagic.grounding.record.Grounding` per leaf value of ``value`` (a string,
number, boolean or null inside the answer's objects and arrays), keyed by its path
(:func:`~structmagic.grounding.paths.path_of`: ``lines[0].qty``, ``$`` for a value that is not
an object or array), in the order of the answer. It is computed locally, after validation;
nothing is sent anywhere. ``source`` is a ``str``, a :class:`~structmagic.grounding.record.Source`
(whose pages give each match its ``page``) or None.

Statuses, and the rules behind them
-----------------------------------

``not_applicable`` — a value that is not a quote of the source, so it is not looked for:

- booleans, null, and empty (or blank) strings;
- any value under a top-level key named in ``skip`` (the reasoning steps: the model's own
  prose);
- a value the schema marks as computed: its subschema, or the subschema of an object or
  array holding it, has ``"x-computed": true`` or a ``description`` that starts with
  "Computed" (any case: ``"Computed: the sum of the lines"``);
- a value chosen from a list: its subschema has an ``enum`` that lists it, or a ``const``.

Subschemas are found through ``properties``, ``patternProperties``,
``additionalProperties``, ``items``, ``prefixItems``, local ``$ref`` (``#/$defs/...``,
``#/definitions/...``, any JSON pointer into the schema), ``allOf``, and the branches of
``anyOf`` / ``oneOf`` whose ``type`` admits the value (so a nullable wrapper is looked
through).

``unverifiable`` — every other value when there is no source text (``source`` is None, or
its text is empty or only whitespace: a scan without a text layer).

Otherwise the value is looked for, and is:

``exact`` — its text occurs verbatim in the source, on token boundaries. A string's text is
the string; a number's is what JSON writes (``1234.5``, ``1e+21``), an int-valued float
without ``.0`` (``1234.0`` is looked for as ``1234``).

``normalized`` — it occurs once normalised in ways that cannot change its meaning:

- Unicode NFKC (full-width letters and digits, ligatures, composed and decomposed accents),
  case folding, and any run of whitespace (newlines and no-break spaces too) read as one
  space: whitespace between two tokens must be present on both sides or on neither, except
  between two characters of a script written without spaces, where a line may wrap
  anywhere (``北京市`` grounds ``北京\n市``);
- numbers, and strings that are one number: thousands separators (``,`` ``'`` no-break and
  thin spaces), a currency sign or code before or after (``$ € £ ¥ USD EUR``...), trailing
  zeros of decimals and leading zeros, a leading ``+``, full-width digits: ``$1,234.00``
  grounds ``1234``, ``1,234.50`` grounds ``1234.5``; the match is the number's digits (and
  its sign), not the currency. A string naming one currency is not grounded by the same
  number next to a sign or code of another (``€5`` is not ``$5``);
- dates, in strings that are one date: ``2024-03-05``, ``2024/03/05``, ``5 March 2024``,
  ``5 Mar 2024``, ``5-Mar-2024``, ``March 5, 2024``, ``Mar. 5th, 2024``, ``2024年3月5日``,
  ``2024년 3월 5일``, and day/month/year or month/day/year with ``/``, ``-`` or ``.`` only
  when unambiguous (``25/03/2024``, ``03/25/2024``; not ``03/05/2024``), each grounding
  any other of these forms of the same day.

  A number or a date is never fuzzy: a different number is a different number.

``fuzzy`` — a string of at least 3 words (or of at least 8 characters of Chinese, Japanese,
Korean or another script written without spaces) that is not a number or a date, close to a
stretch of the source. The similarity (:func:`similarity`) is 2·M / T over the characters of
the value's normalised tokens and the stretch's (spaces aside): M counts the characters of
the tokens both have in the same order (:class:`difflib.SequenceMatcher` over the two token
sequences) and, between each pair of stretches where they differ, the characters
``SequenceMatcher`` matches there, so a misspelt word still counts most of its letters. The
stretch is found around the source positions of the value's rarest tokens, or pairs of
tokens in a row (each position votes for where the value would start; the three best
supported starts are tried), and is cut on token boundaries: from the first to the last
token the value matches, or on over the value's unmatched first or last words, whichever
is more similar. It is reported at a similarity of :data:`FUZZY_THRESHOLD` (0.85) or more,
only if the stretch holds every token of the value that has a digit in it, unchanged.
``score`` is the similarity. A value whose rarest token and rarest pair each occur more
than 512 times, or of more than :data:`FUZZY_MAX_TOKENS` (1,000) tokens, is not looked for
fuzzily: the work per value is bounded.

``ungrounded`` — anything else: not found.

Token boundaries: a match never starts or ends inside a word. A word is a run of letters,
digits, combining marks and ``_``; a ``.`` or ``,`` between digits continues it, so ``Ann``
is not in ``Annual``, ``500000`` not in ``5000000``, ``12`` not in ``12.5`` or ``3.12``.
Each character of Chinese, Japanese, Korean (and Thai, Lao, Myanmar, Khmer) is a token of
its own, so ``北京`` is found in ``我住在北京市``; so is each emoji and punctuation mark.
Numbers are read as numbers: a letter may follow one (``12kg``, ``5th``) but not precede it
(``A1234`` holds no number ``1234``; a Chinese character may: ``共100件``), and a sign
counts only where no word precedes it (``3-5`` holds 3 and 5, not -5).

Several occurrences
-------------------

A value found in several places is given the one nearest to where its siblings (the other
leaves of the same object or array) were placed, so a receipt line's quantity is the ``2``
next to its own product name:

- values found in one place are placed first, and anchor the others;
- then the others, the values nearer the root first and, among them, those with the fewest
  occurrences: each takes its occurrence nearest to its placed siblings (the two before it
  and the two after it in the answer's order, so a long array costs no more per item than
  a short one), and then anchors those after it;
- a value none of whose siblings has a place looks for placed relatives one level up (the
  leaves of its parent's object: a line item with no unique value of its own is placed near
  its own invoice's number), and so on for a few levels;
- a value with no placed relative at all takes its first verbatim occurrence, or else its
  first.

Nearest is counted in lines first, then in characters (the quantity on the product's own
line, even if the next line's starts closer); an occurrence inside the text another value
was placed on comes last (the ``3`` of a date that grounds another field is not a
quantity); a verbatim occurrence wins a tie, then the earlier one. The status is the chosen
occurrence's: the value next to its siblings may be a ``normalized`` one while a verbatim
copy sits elsewhere.

Always
------

``start`` / ``end`` are Python ``str`` indices into the source text, and
``source.text[start:end] == grounding.text`` for every found value. ``score`` is 1.0 for
``exact`` and ``normalized``, the ratio for ``fuzzy``, None otherwise. ``ground`` never
raises on a JSON value and a ``str`` source (a value it cannot read is ``ungrounded``). The
source is cut into tokens and indexed once per call (tokens, numbers and dates by their
normalised keys), and each value is looked up in the index: the cost grows linearly with the
source, not with the source times the number of values.
"""

from __future__ import annotations

import difflib
import re
import threading
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from itertools import compress, pairwise
from operator import ne, not_
from typing import Any

from . import normal
from .paths import Tree, walk
from .record import Grounding, Source

__all__ = ["FUZZY_MAX_TOKENS", "FUZZY_THRESHOLD", "Scans", "ground", "scans", "similarity"]

#: the least similarity reported as ``fuzzy``
FUZZY_THRESHOLD = 0.85
#: the longest value (in tokens) looked for fuzzily
FUZZY_MAX_TOKENS = 1000
#: the rarest tokens (or pairs of tokens) of a value whose positions vote for where a fuzzy
#: match starts ...
_RARE_TOKENS = 8
#: ... and the most votes counted
_VOTES = 512
#: the starts tried per value
_TRIES = 3
#: the siblings (before and after, in the answer's order) a value is placed next to
_NEIGHBOURS = 2
#: how many levels up a value looks for placed relatives when its siblings have no place
_LEVELS = 4



def _warn(message: str, *args: Any) -> None:
    """Log that a part of the grounding failed (a bug: it never should), with the traceback;
    ``logging`` is imported only then."""
    import logging

    logging.getLogger(__name__).warning(message, *args, exc_info=True)


def _unquote(text: str) -> str:
    """A JSON pointer's token, percent-decoded (as a ``$ref`` URI fragment is)."""
    if "%" not in text:
        return text
    return re.sub(r"(?:%[0-9A-Fa-f]{2})+",
                  lambda m: bytes.fromhex(m.group().replace("%", "")).decode("utf-8", "replace"),
                  text)


class _Found:
    """Where a value occurs: its spans (sorted by start) and, for a fuzzy match, the
    similarity. Whether an occurrence is verbatim is checked when asked (a value may occur
    thousands of times; few occurrences are ever looked at)."""

    __slots__ = ("_exact", "_first", "ends", "fuzzy", "source", "starts", "verbatim")

    def __init__(self, starts: Sequence[int], ends: Sequence[int], source: str, verbatim: str,
                 fuzzy: float | None = None) -> None:
        self.starts, self.ends = starts, ends
        self.source, self.verbatim, self.fuzzy = source, verbatim, fuzzy
        self._exact: dict[int, bool] | None = None
        self._first: int | None = None

    def exact(self, k: int) -> bool:
        """Whether occurrence ``k`` is the value's text, verbatim."""
        if self._exact is None:
            self._exact = {}
        known = self._exact.get(k)
        if known is None:
            known = self._exact[k] = self.fuzzy is None and (
                self.source[self.starts[k]:self.ends[k]] == self.verbatim)
        return known

    def first(self) -> int:
        """The first verbatim occurrence, else the first."""
        if self._first is None:
            self._first = next((k for k in range(len(self.starts)) if self.exact(k)), 0)
        return self._first

    def status(self, k: int) -> str:
        if self.fuzzy is not None:
            return "fuzzy"
        return "exact" if self.exact(k) else "normalized"


# -- the schema's rules ----------------------------------------------------------------------

def _json_types(value: Any) -> frozenset[str]:
    if value is None:
        return frozenset({"null"})
    if isinstance(value, bool):
        return frozenset({"boolean"})
    if isinstance(value, int):
        return frozenset({"integer", "number"})
    if isinstance(value, float):
        return frozenset({"number", "integer"} if value.is_integer() else {"number"})
    if isinstance(value, str):
        return frozenset({"string"})
    if isinstance(value, dict):
        return frozenset({"object"})
    if isinstance(value, (list, tuple)):
        return frozenset({"array"})
    return frozenset()


_OBJECT = frozenset({"object"})
_ARRAY = frozenset({"array"})


def _admits(schema: Mapping[str, Any], types: frozenset[str]) -> bool:
    declared = schema.get("type")
    if isinstance(declared, str):
        return declared in types
    if isinstance(declared, list):
        return any(isinstance(t, str) and t in types for t in declared)
    return True


def _computed(schema: Mapping[str, Any]) -> bool:
    if schema.get("x-computed") is True:
        return True
    description = schema.get("description")
    return isinstance(description, str) and description.lstrip().lower().startswith("computed")


def _chosen(schema: Mapping[str, Any], value: Any) -> bool:
    """Whether the schema lists the value as its ``const`` or one of its ``enum``."""
    options = [schema["const"]] if "const" in schema else schema.get("enum")
    return isinstance(options, list) and any(
        not isinstance(option, bool) and option == value for option in options)


class _Rules:
    """Which values a schema marks as not quotes (computed, or chosen from a list)."""

    def __init__(self, root: Mapping[str, Any]) -> None:
        self.root = root
        self._flat: dict[tuple[Any, ...], tuple[tuple[Mapping[str, Any], ...], bool]] = {}
        self._children: dict[tuple[Any, ...], tuple[Mapping[str, Any], ...]] = {}

    def _resolve(self, ref: str) -> Mapping[str, Any] | None:
        if ref == "#":
            return self.root
        if not ref.startswith("#/"):
            return None
        node: Any = self.root
        for raw in ref[2:].split("/"):
            token = _unquote(raw).replace("~1", "/").replace("~0", "~")
            if isinstance(node, Mapping) and token in node:
                node = node[token]
            elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
                node = node[int(token)]
            else:
                return None
        return node if isinstance(node, Mapping) else None

    def flatten(self, nodes: tuple[Mapping[str, Any], ...], types: frozenset[str]
                ) -> tuple[tuple[Mapping[str, Any], ...], bool]:
        """The subschemas that apply to a value of ``types`` (through ``$ref``, ``allOf``
        and the admitting branches of ``anyOf``/``oneOf``), and whether one is computed."""
        key = (tuple(map(id, nodes)), types)
        known = self._flat.get(key)
        if known is not None:
            return known
        out: list[Mapping[str, Any]] = []
        seen: set[int] = set()
        stack = list(reversed(nodes))
        while stack:
            node = stack.pop()
            if not isinstance(node, Mapping) or id(node) in seen:
                continue
            seen.add(id(node))
            out.append(node)
            ref = node.get("$ref")
            if isinstance(ref, str):
                target = self._resolve(ref)
                if target is not None:
                    stack.append(target)
            branches = node.get("allOf")
            if isinstance(branches, list):
                stack.extend(reversed(branches))
            for word in ("anyOf", "oneOf"):
                branches = node.get(word)
                if isinstance(branches, list):
                    stack.extend(b for b in reversed(branches)
                                 if isinstance(b, Mapping) and _admits(b, types))
        result = (tuple(out), any(_computed(n) for n in out))
        self._flat[key] = result
        return result

    def child(self, nodes: tuple[Mapping[str, Any], ...], part: str | int
              ) -> tuple[Mapping[str, Any], ...]:
        """The subschemas of a key's or an index's value, from its container's."""
        # (``nodes`` is a tuple :meth:`flatten` remembers: its id stands for it)
        if isinstance(part, str):
            key: tuple[Any, ...] = (id(nodes), "k", part)
        else:
            indexed = any(isinstance(n.get("prefixItems"), list)
                          or isinstance(n.get("items"), list) for n in nodes)
            key = (id(nodes), "i", part if indexed else -1)
        known = self._children.get(key)
        if known is not None:
            return known
        out: list[Any] = []
        for node in nodes:
            if isinstance(part, str):
                out.extend(_property(node, part))
            else:
                out.extend(_item(node, part))
        result = tuple(n for n in out if isinstance(n, Mapping))
        self._children[key] = result
        return result

    def containers(self, tree: Tree) -> list[tuple[tuple[Mapping[str, Any], ...], bool]]:
        """Each container's subschemas, and whether it or one holding it is computed (in
        the tree's order: a container's holder comes first)."""
        out: list[tuple[tuple[Mapping[str, Any], ...], bool]] = []
        for c, parent in enumerate(tree.parents):
            kind = _ARRAY if tree.arrays[c] else _OBJECT
            if parent < 0:
                out.append(self.flatten((self.root,), kind))
                continue
            nodes, computed = out[parent]
            link = tree.links[c]
            if computed or not nodes or link is None:
                out.append(((), computed))
            else:
                out.append(self.flatten(self.child(nodes, link), kind))
        return out

    def not_a_quote(self, tree: Tree, containers: list[tuple[tuple[Mapping[str, Any], ...],
                                                           bool]], i: int) -> bool:
        """Whether the schema marks leaf ``i`` as computed or chosen from a list."""
        value, holder, key = tree.values[i], tree.holders[i], tree.keys[i]
        if holder < 0 or key is None:
            nodes, computed = self.flatten((self.root,), _json_types(value))
        else:
            nodes, computed = containers[holder]
            if not computed and nodes:
                nodes, computed = self.flatten(self.child(nodes, key), _json_types(value))
        return computed or any(_chosen(n, value) for n in nodes)


def _property(node: Mapping[str, Any], key: str) -> list[Any]:
    properties = node.get("properties")
    if isinstance(properties, Mapping) and key in properties:
        return [properties[key]]
    found = []
    patterns = node.get("patternProperties")
    if isinstance(patterns, Mapping):
        for pattern, sub in patterns.items():
            try:
                if isinstance(pattern, str) and re.search(pattern, key):
                    found.append(sub)
            except re.error:
                continue
    if not found and isinstance(node.get("additionalProperties"), Mapping):
        found.append(node["additionalProperties"])
    return found


def _item(node: Mapping[str, Any], index: int) -> list[Any]:
    prefix, items = node.get("prefixItems"), node.get("items")
    if isinstance(prefix, list) and index < len(prefix):
        return [prefix[index]]
    if isinstance(items, list):
        return [items[index]] if index < len(items) else [node.get("additionalItems")]
    return [items]


# -- the index of the source -----------------------------------------------------------------

class Scans:
    """The parts of an index that depend on the source alone (its tokens, numbers and
    dates), kept for the last few long sources: the rows of a batch that ask about the same
    document (one contract, one PDF) scan it once, not once a row. Sources shorter than
    :attr:`least` characters are scanned each time (it costs less than keeping them);
    at most :attr:`most` characters are kept in all. Thread-safe; a part made twice at once
    by two threads is made twice, never wrong."""

    def __init__(self, *, least: int = 20_000, most: int = 8_000_000) -> None:
        self.least, self.most = least, most
        self._lock = threading.Lock()
        self._kept: dict[str, dict[str, Any]] = {}  # text -> its parts, oldest first

    def get(self, text: str, part: str, make: Callable[[], Any]) -> Any:
        """The ``part`` of ``text``, made by ``make()`` unless kept."""
        if len(text) < self.least or len(text) > self.most:
            return make()
        with self._lock:
            parts = self._kept.pop(text, None)
            if parts is not None:
                self._kept[text] = parts  # now the newest
                if part in parts:
                    return parts[part]
        made = make()
        with self._lock:
            parts = self._kept.pop(text, None) or {}
            parts.setdefault(part, made)
            self._kept[text] = parts
            while sum(map(len, self._kept)) > self.most:
                del self._kept[next(iter(self._kept))]
            return parts[part]

    def clear(self) -> None:
        with self._lock:
            self._kept.clear()


#: the scans of the last long sources grounded in
scans = Scans()


class _Index:
    """The source cut into tokens and indexed by normalised keys, built once per call (each
    part on first use), and the occurrences of each distinct value looked up in it.

    ``strings``: every string that will be looked up. Their tokens are known first, so only
    the source tokens that some value has are indexed by position."""

    def __init__(self, text: str, strings: Iterable[str] = ()) -> None:
        self.text = text
        self.table: dict[str, str] = {}
        self._wanted = {value: normal.words(value, self.table) for value in set(strings)}
        self._tokens: normal.Tokens | None = None
        self._positions: dict[str, array[int]] | None = None
        self._pairs: dict[tuple[str, str], list[int]] | None = None
        self._numbers: dict[str, normal.Where] | None = None
        self._dates: dict[str, normal.Where] | None = None
        self._lines: list[int] | None = None
        self._line_of: dict[int, int] = {}
        self._strings: dict[str, _Found | None] = {}  # what was found, by value
        self._numbers_found: dict[str, _Found | None] = {}  # by the number as JSON writes it

    @property
    def tokens(self) -> normal.Tokens:
        if self._tokens is None:
            self._tokens = scans.get(self.text, "tokens",
                                     lambda: normal.tokenize(self.text, self.table))
        return self._tokens

    @property
    def positions(self) -> dict[str, array[int]]:
        """Normalised token -> the indexes of the source tokens that have it, in order, for
        the tokens of the strings looked up."""
        if self._positions is None:
            positions: dict[str, array[int]] = {}
            get = positions.get
            needed = {norm for wanted in self._wanted.values() for norm in wanted.norms}
            norms = self.tokens.norms
            for i in compress(range(len(norms)), map(needed.__contains__, norms)):
                norm = norms[i]
                seen = get(norm)
                if seen is None:
                    positions[norm] = array("q", (i,))
                else:
                    seen.append(i)
            self._positions = positions
        return self._positions

    @property
    def pairs(self) -> dict[tuple[str, str], list[int]]:
        """Two normalised tokens in a row -> the indexes of the source tokens where they
        start, for the pairs of the strings looked up (a pair is far rarer than either of
        its tokens, so values of several tokens start from their rarest pair)."""
        if self._pairs is None:
            pairs: dict[tuple[str, str], list[int]] = {}
            needed = {pair for wanted in self._wanted.values()
                      for pair in pairwise(wanted.norms)}
            if needed:
                norms = self.tokens.norms
                found = map(needed.__contains__, pairwise(norms))
                for i in compress(range(len(norms)), found):
                    pairs.setdefault((norms[i], norms[i + 1]), []).append(i)
            self._pairs = pairs
        return self._pairs

    @property
    def numbers(self) -> dict[str, normal.Where]:
        """A number's key -> where it is written: start, end, start, end..."""
        if self._numbers is None:
            self._numbers = scans.get(self.text, "numbers", lambda: normal.numbers(self.text))
        return self._numbers

    @property
    def dates(self) -> dict[str, normal.Where]:
        """An ISO date -> where it is written: start, end, start, end..."""
        if self._dates is None:
            self._dates = scans.get(self.text, "dates", lambda: normal.dates(self.text))
        return self._dates

    @property
    def lines(self) -> list[int]:
        """The offsets of the line breaks."""
        if self._lines is None:
            self._lines = [m.start() for m in re.finditer(r"[\n\f\u2028\u2029]", self.text)]
        return self._lines

    # -- looking a value up

    def find(self, value: Any) -> _Found | None:
        """Where a string or a number occurs (None when nowhere)."""
        if isinstance(value, str):
            if value not in self._strings:
                self._strings[value] = self._string(value)
            return self._strings[value]
        text = normal.number_text(value) or ""
        if text not in self._numbers_found:
            self._numbers_found[text] = self._number(value)
        return self._numbers_found[text]

    def _number(self, value: int | float) -> _Found | None:
        key, text = normal.value_number_key(value), normal.number_text(value)
        if key is None or text is None:
            return None
        where = self.numbers.get(key)
        return None if where is None else _Found(*normal.spans(where), self.text, text)

    def _string(self, value: str) -> _Found | None:
        wanted = self._wanted.get(value)
        if wanted is None:  # not announced: index its tokens anew
            self._wanted[value] = wanted = normal.words(value, self.table)
            self._positions = self._pairs = None
        norms = wanted.norms
        if not norms:
            return None
        day, number = normal.date_key(value), normal.number_key(value)
        at = self._token_matches(wanted)
        if day is None and number is None:
            if not at:
                return self._fuzzy(norms)
            tokens, last = self.tokens, len(norms) - 1
            ends = list(map(tokens.ends.__getitem__, [j + last for j in at] if last else at))
            return _Found(list(map(tokens.starts.__getitem__, at)), ends, self.text, value)
        tokens = self.tokens
        spans = [(tokens.starts[j], tokens.ends[j + len(norms) - 1]) for j in at]
        if day is not None and day in self.dates:
            spans += zip(*normal.spans(self.dates[day]), strict=True)
        if number is not None:
            key, currencies = number
            where = self.numbers.get(key)
            for start, end in zip(*normal.spans(where), strict=True) if where is not None else ():
                near = normal.currency_near(self.text, start, end) if currencies else None
                if not near or near & currencies:
                    spans.append((start, end))
        return self._spans(sorted(set(spans)), value)

    def _spans(self, spans: list[tuple[int, int]], verbatim: str) -> _Found | None:
        if not spans:
            return None
        return _Found([s for s, _ in spans], [e for _, e in spans], self.text, verbatim)

    def _token_matches(self, wanted: normal.Words) -> Sequence[int]:
        """The indexes of the source tokens where the value's normalised tokens occur in a
        row, with whitespace between the same pairs of tokens (where it counts)."""
        norms, size = wanted.norms, len(wanted.norms)
        get = self.positions.get
        hits: list[array[int]] = []
        for norm in norms:
            at = get(norm)
            if at is None:
                return []
            hits.append(at)
        if size == 1:
            return hits[0]
        # the rarest pair's places, moved to where the value would start, then kept only
        # where each other token follows at its offset (the rarer first)
        get_pair = self.pairs.get
        counts = [len(get_pair(pair, ())) for pair in pairwise(norms)]
        rarest = counts.index(min(counts))
        source = self.tokens.norms
        starts = get_pair((norms[rarest], norms[rarest + 1]), [])
        if rarest:
            starts = list(map((-rarest).__add__, starts))
        starts = starts[bisect_left(starts, 0):bisect_right(starts, len(source) - size)]
        if size > 2:
            others = [q for q in range(size) if q != rarest and q != rarest + 1]
            others.sort(key=lambda q: len(hits[q]))
            for q in others:  # (in C: these lists may be long)
                following = map(source.__getitem__, map(q.__add__, starts))
                starts = list(compress(starts, map(norms[q].__eq__, following)))
                if not starts:
                    return []
        # whitespace before token q of the value where it counts: in the source, token
        # j + q starts after token j + q - 1 ends (all in C, for the many repeated values)
        begins, finishes = self.tokens.starts, self.tokens.ends
        for q in range(1, size):
            if starts and wanted.counts[q]:
                spaced = map(ne, map(begins.__getitem__, map(q.__add__, starts)),
                             map(finishes.__getitem__, map((q - 1).__add__, starts)))
                starts = list(compress(starts, spaced if wanted.gaps[q] else map(not_, spaced)))
        return starts

    def _fuzzy(self, norms: list[str]) -> _Found | None:
        words = sum(map(normal.is_word, norms))
        cjk = sum(map(normal.is_cjk, norms))
        size = len(norms)
        if (words < 3 and cjk < 8) or size > FUZZY_MAX_TOKENS:
            return None
        # each place of one of the value's rarest tokens, or pairs of tokens, votes for where
        # the value would start there
        where: dict[Any, list[int]] = {}
        for q, norm in enumerate(norms):
            where.setdefault(norm, []).append(q)
        for q, pair in enumerate(pairwise(norms)):
            where.setdefault(pair, []).append(q)
        positions, pairs = self.positions, self.pairs
        options = []
        for key, offsets in where.items():
            at = positions.get(key) if isinstance(key, str) else pairs.get(key)
            if at:
                options.append((len(at) * len(offsets), at, offsets))
        options.sort(key=lambda option: option[0])
        votes: list[int] = []
        for cost, at, offsets in options[:_RARE_TOKENS]:
            if len(votes) + cost > _VOTES:
                break
            for q in offsets:
                votes.extend(p - q for p in at)
        if not votes:
            return None
        votes.sort()
        slack = max(2, size // 4)
        needed = [n for n in norms if any(c.isdigit() for c in n)]
        best: tuple[float, int, int] | None = None
        for low, high in _clusters(votes, 2 * slack, _TRIES):
            window = self._window(norms, max(0, low - slack),
                                  min(len(self.tokens.norms), high + size + slack), needed)
            if window is not None and (best is None or window[0] > best[0]):
                best = window
        if best is None or best[0] < FUZZY_THRESHOLD:
            return None
        score, first, last = best
        return _Found([self.tokens.starts[first]], [self.tokens.ends[last]], self.text,
                      " ".join(norms), round(score, 4))

    def _window(self, norms: list[str], low: int, high: int, needed: list[str]
                ) -> tuple[float, int, int] | None:
        """The best stretch of the source tokens ``[low, high)`` for the value's tokens
        ``norms``: (similarity, first token, last token). The stretch runs from the first to
        the last token the value's tokens match, or on over the value's unmatched tokens at
        either end (a misspelt first or last word), whichever is the more similar."""
        region = self.tokens.norms[low:high]
        if not region:
            return None
        blocks = [b for b in difflib.SequenceMatcher(
            None, norms, region, autojunk=False).get_matching_blocks() if b.size]
        if not blocks:
            return None
        first, last = blocks[0].b, blocks[-1].b + blocks[-1].size - 1
        before, after = blocks[0].a, len(norms) - blocks[-1].a - blocks[-1].size
        best: tuple[float, int, int] | None = None
        for start in {first, max(0, first - before)}:
            for end in {last, min(len(region) - 1, last + after)}:
                stretch = region[start:end + 1]
                if any(n not in stretch for n in needed):
                    continue
                score = similarity(norms, stretch)
                if best is None or score > best[0]:
                    best = (score, low + start, low + end)
        return best

    # -- choosing among occurrences

    def line(self, offset: int) -> int:
        """How many line breaks come before an offset (remembered: the same anchors and
        candidates come back for every sibling)."""
        known = self._line_of.get(offset)
        if known is None:
            known = self._line_of[offset] = bisect_left(self.lines, offset)
        return known

    def nearest(self, found: _Found, anchors: list[tuple[int, int]]) -> int:
        """The index of the occurrence nearest to any anchor (in line breaks, then in
        characters), not inside one (text another value was placed on), a verbatim one on a
        tie, then the earliest."""
        starts, ends = found.starts, found.ends
        line = self.line
        count = len(starts)
        best = -1
        best_rank: tuple[bool, int, int] = (True, 0, 0)
        for a_start, a_end in anchors:
            before = bisect_left(starts, a_start)  # before - 1: the last to start before it
            after = bisect_left(starts, a_end, before)  # the first to start after it
            for c in (before - 1, after, before):  # (before < after: one inside the anchor)
                if not 0 <= c < count:
                    continue
                start, end = starts[c], ends[c]
                if end <= a_start:
                    rank = (False, line(a_start) - line(end), a_start - end)
                elif start >= a_end:
                    rank = (False, line(start) - line(a_end), start - a_end)
                else:
                    rank = (True, 0, 0)
                for s, e in anchors:  # inside another anchor: last
                    if start < e and s < end:
                        rank = (True, rank[1], rank[2])
                        break
                if c == best:  # nearer to this anchor than to another
                    best_rank = min(best_rank, rank)
                elif best < 0 or rank < best_rank or (rank == best_rank and (
                        (not found.exact(c), start) < (not found.exact(best), starts[best]))):
                    best, best_rank = c, rank
        return best if best >= 0 else found.first()


def similarity(a: list[str], b: list[str]) -> float:
    """How alike two runs of normalised tokens are, in [0, 1]: 2·M / T over their characters
    (spaces aside), where M counts the characters of the tokens both have in the same order
    (difflib's matching of the two token sequences) and, between each pair of stretches
    where they differ, the characters difflib matches there (a misspelt word still counts
    most of its letters). Cheap on long runs: characters are compared only where the
    tokens differ."""
    total = sum(map(len, a)) + sum(map(len, b))
    if not total:
        return 1.0
    same = 0
    done_a = done_b = 0
    for block in difflib.SequenceMatcher(None, a, b, autojunk=False).get_matching_blocks():
        gap_a, gap_b = "".join(a[done_a:block.a]), "".join(b[done_b:block.b])
        if gap_a and gap_b:
            same += sum(m.size for m in difflib.SequenceMatcher(
                None, gap_a, gap_b, autojunk=False).get_matching_blocks())
        same += sum(map(len, a[block.a:block.a + block.size]))
        done_a, done_b = block.a + block.size, block.b + block.size
    return 2 * same / total


def _clusters(votes: list[int], width: int, count: int) -> list[tuple[int, int]]:
    """Up to ``count`` ranges ``(low, high)``, at most ``width`` apart, that hold the most
    votes (sorted), best first; each vote counts for one range."""
    out: list[tuple[int, int]] = []
    left = list(votes)
    while left and len(out) < count:
        best_i, best_j, j = 0, 0, 0
        for i in range(len(left)):
            j = max(j, i)
            while j + 1 < len(left) and left[j + 1] - left[i] <= width:
                j += 1
            if j - i > best_j - best_i:
                best_i, best_j = i, j
        out.append((left[best_i], left[best_j]))
        del left[best_i:best_j + 1]
    return out


# -- the whole answer ------------------------------------------------------------------------

def _not_a_quote(tree: Tree, i: int, skip: Collection[str], rules: _Rules | None,
                 containers: list[tuple[tuple[Mapping[str, Any], ...], bool]]) -> bool:
    value = tree.values[i]
    if value is None or isinstance(value, bool):
        return True
    if isinstance(value, str) and not value.strip():
        return True
    if skip:
        holder, key = tree.holders[i], tree.keys[i]
        top = tree.tops[holder] if holder > 0 else key if holder == 0 else None
        if isinstance(top, str) and top in skip:
            return True
    return rules is not None and rules.not_a_quote(tree, containers, i)


def _lookable(value: Any) -> bool:
    return isinstance(value, (str, int, float))


def _choose(tree: Tree, found: dict[int, _Found], index: _Index) -> dict[int, int]:
    """Which occurrence each found leaf is given (see "Several occurrences")."""
    chosen = {i: 0 for i, f in found.items() if len(f.starts) == 1}
    groups: dict[int, list[int]] = {}
    for i in found:  # in document order
        groups.setdefault(tree.holders[i], []).append(i)
    depths = [0] * len(tree.parents)
    for c in range(1, len(tree.parents)):
        depths[c] = depths[tree.parents[c]] + 1
    pending = sorted((i for i in found if i not in chosen),
                     key=lambda i: (depths[tree.holders[i]] if tree.holders[i] >= 0 else 0,
                                    len(found[i].starts), i))
    for i in pending:
        anchors: list[tuple[int, int]] = []
        holder = tree.holders[i]
        for _ in range(_LEVELS + 1):  # its siblings, else its parent's, ...
            members = groups.get(holder)
            if members:
                place = bisect_left(members, i)
                near = members[max(0, place - _NEIGHBOURS):place + _NEIGHBOURS + 1]
                anchors = [(found[m].starts[chosen[m]], found[m].ends[chosen[m]])
                           for m in near if m in chosen]
                if anchors:
                    break
            if holder <= 0:
                break
            holder = tree.parents[holder]
        chosen[i] = index.nearest(found[i], anchors) if anchors else found[i].first()
    return chosen


def ground(value: Any, source: str | Source | None,
           schema: Mapping[str, Any] | bool | None = None, *,
           skip: Collection[str] = ()) -> dict[str, Grounding]:
    """A :class:`Grounding` per leaf value of ``value``, by path, in the answer's order
    (the rules are in this module's docstring)."""
    tree = walk(value)
    paths, values = tree.paths, tree.values
    rules = _Rules(schema) if isinstance(schema, Mapping) else None
    containers = rules.containers(tree) if rules is not None else []
    try:
        skipped = {skip} if isinstance(skip, str) else {k for k in skip or () if isinstance(k, str)}
    except TypeError:  # not a collection of names
        skipped = set()
    if isinstance(source, str):
        source = Source(source)
    text = source.text if isinstance(source, Source) and isinstance(source.text, str) else ""
    verifiable = bool(text) and not text.isspace()
    statuses: list[str | None] = []
    for i, leaf in enumerate(values):
        try:
            not_a_quote = _not_a_quote(tree, i, skipped, rules, containers)
        except Exception:  # a schema it cannot read marks nothing
            _warn("grounding: the schema's rules failed for %s", paths[i])
            not_a_quote = False
        if not_a_quote:
            statuses.append("not_applicable")
        elif not verifiable:
            statuses.append("unverifiable")
        elif not _lookable(leaf):
            statuses.append("ungrounded")
        else:
            statuses.append(None)
    index = _Index(text, [leaf for i, leaf in enumerate(values)
                          if statuses[i] is None and isinstance(leaf, str)])
    found: dict[int, _Found] = {}
    for i, leaf in enumerate(values):
        if statuses[i] is not None:
            continue
        try:
            where = index.find(leaf)
        except Exception:  # never raise: a value it cannot look up is not found
            _warn("grounding: looking up %s failed", paths[i])
            where = None
        if where is None:
            statuses[i] = "ungrounded"
        else:
            found[i] = where
    try:
        chosen = _choose(tree, found, index)
    except Exception:
        _warn("grounding: choosing among occurrences failed")
        chosen = {}
    out: dict[str, Grounding] = {}
    for i, path in enumerate(paths):
        where = found.get(i)
        status = statuses[i]
        if where is None or status is not None:
            out[path] = Grounding(status or "ungrounded", value=values[i])
            continue
        k = chosen[i] if i in chosen else where.first()
        start, end = where.starts[k], where.ends[k]
        page = source.page_of(start) if isinstance(source, Source) else None
        score = where.fuzzy if where.fuzzy is not None else 1.0
        out[path] = Grounding(where.status(k), start, end, page, text[start:end], score,
                              values[i])
    return out
