"""Text normalised for matching, with every piece mapped back to its original offsets.

The source is cut into tokens (:func:`tokenize`); each token keeps its original span and gets
a normalised form (:func:`fold`), so a match found among normalised tokens maps back to exact
``str`` offsets of the original text, whatever normalisation changed in between. Tokens:

- a run of letters, digits, combining marks and ``_`` (a word), where a ``.`` or ``,``
  between two digits continues it (``12.5``, ``1,234.50`` are one token each);
- each character of a script written without spaces (Chinese, Japanese, Korean, Thai, Lao,
  Myanmar, Khmer) on its own;
- each other character that is not a space (punctuation, symbols, emoji) on its own.

Whitespace (any run of it, newlines and no-break spaces included, and zero-width spaces)
only separates tokens: whether some came before a token shows in the offsets (it starts
after the previous one ends). A value's tokens
(:func:`words`) also say which of these gaps count: not those between two characters of a
script written without spaces, where a line may wrap anywhere.

:func:`fold`: Unicode NFKC (full-width forms, ligatures, composed and decomposed accents)
and case folding. Numbers (:func:`numbers`, :func:`number_key`) and dates (:func:`dates`,
:func:`date_key`) get canonical keys of their own, so ``$1,234.50`` and ``1234.5`` have the
same key, as do ``5 March 2024`` and ``2024-03-05``.
"""

from __future__ import annotations

import math
import re
import unicodedata
from array import array
from collections.abc import Sequence
from itertools import accumulate
from typing import NamedTuple

__all__ = [
    "CJK",
    "CURRENCIES",
    "Tokens",
    "Where",
    "Words",
    "currency_near",
    "date_key",
    "dates",
    "fold",
    "is_cjk",
    "is_word",
    "number_key",
    "number_text",
    "numbers",
    "spans",
    "tokenize",
    "value_number_key",
    "words",
]

class _Pattern:
    """A regular expression compiled on first use: compiled all at once, this module's
    (their classes of CJK characters are large) would cost an import tens of
    milliseconds."""

    __slots__ = ("_compiled", "_flags", "_source")

    def __init__(self, source: str, flags: int = 0) -> None:
        self._source, self._flags = source, flags
        self._compiled: re.Pattern[str] | None = None

    def __call__(self) -> re.Pattern[str]:
        if self._compiled is None:
            self._compiled = re.compile(self._source, self._flags)
        return self._compiled


#: characters of scripts written without spaces between words: each is its own token
CJK = ("\u0e00-\u0eff\u1000-\u109f\u1100-\u11ff\u1780-\u17ff\u2e80-\u2fdf\u3005-\u3007"
       "\u3021-\u3029\u3031-\u3035\u3038-\u303c\u3040-\u30ff\u3100-\u318f\u31a0-\u31ff"
       "\u3400-\u4dbf\u4e00-\u9fff\ua960-\ua97f\uac00-\ud7ff\uf900-\ufaff\uff66-\uffdc"
       "\U00020000-\U0003134f")
#: combining marks (and joiners) that belong to the word they follow, though not ``\w``
_MARKS = ("\u0300-\u036f\u0483-\u0489\u0591-\u05c7\u0610-\u061a\u064b-\u065f\u0670"
          "\u06d6-\u06ed\u0900-\u0dff\u1ab0-\u1aff\u1dc0-\u1dff\u200c\u200d\u20d0-\u20f0"
          "\ufe20-\ufe2f")
#: invisible characters that separate tokens like a space
_INVISIBLE = "\u200b\u2060\ufeff"
#: the decimal point or comma that continues a number between two digits
_CONTINUES = ".,\uff0e\uff0c"
#: a token (the text between two tokens is whitespace, or nothing); splitting on it gives
#: only strings, [gap, token, gap, token, ..., gap], and no tuple per token
_TOKEN = _Pattern(
    rf"([{CJK}]|(?:[^\W{CJK}]++|[{_MARKS}]++|(?<=\d)[{_CONTINUES}](?=\d))++|[^\s{_INVISIBLE}])")
_WORD_START = _Pattern(rf"[^\W{CJK}]|[{_MARKS}]")
_CJK_START = _Pattern(rf"[{CJK}]")


class Tokens(NamedTuple):
    """A text cut into tokens: each token's original text, normalised form and original span
    (``starts[i]``, ``ends[i]``; whitespace came before token ``i`` when
    ``starts[i] != ends[i - 1]``). The offsets are arrays, not lists: the garbage collector
    need not walk them."""

    raws: list[str]
    norms: list[str]
    starts: array[int]
    ends: array[int]


def fold(token: str) -> str:
    """A token's normalised form: NFKC and case folding."""
    if token.isascii():
        return token.lower()
    once = unicodedata.normalize("NFKC", token).casefold()
    return unicodedata.normalize("NFKC", once)


def is_word(token: str) -> bool:
    """Whether a token is a word (letters or digits), not punctuation, a symbol or CJK."""
    return _WORD_START().match(token) is not None


def is_cjk(token: str) -> bool:
    """Whether a token is a character of a script written without spaces."""
    return _CJK_START().match(token) is not None


def tokenize(text: str, table: dict[str, str] | None = None) -> Tokens:
    """The tokens of ``text``; ``table`` caches :func:`fold` across calls."""
    parts = _TOKEN().split(text)
    raws = parts[1::2]
    if not raws:
        return Tokens([], [], array("q"), array("q"))
    bounds = array("q", accumulate(map(len, parts)))
    if table is None:
        table = {}
    distinct = set(raws)
    for raw in distinct.difference(table):
        table[raw] = fold(raw)
    norms = list(map(table.__getitem__, raws))
    return Tokens(raws, norms, bounds[0:-1:2], bounds[1::2])


class Words(NamedTuple):
    """A value's normalised tokens, whether whitespace came before each, and which of these
    gaps count: not those between two characters of a script written without spaces (a
    line may wrap anywhere in Chinese). Bytes of 0 and 1, not tuples: nothing for the
    garbage collector to count."""

    norms: list[str]
    gaps: bytes  # gaps[q]: whitespace came before token q
    counts: bytes  # counts[q]: the gap before token q counts


def words(text: str, table: dict[str, str] | None = None) -> Words:
    """The :class:`Words` of a value."""
    tokens = tokenize(text, table)
    norms, starts, ends = tokens.norms, tokens.starts, tokens.ends
    cjk = list(map(is_cjk, norms))
    gaps = bytes([0, *(starts[q] != ends[q - 1] for q in range(1, len(norms)))])
    counts = bytes([0, *(not (cjk[q] and cjk[q - 1]) for q in range(1, len(norms)))])
    return Words(norms, gaps, counts)


# -- numbers -------------------------------------------------------------------------------

#: thousands separators: comma, apostrophes, no-break and thin spaces, full-width comma
_SEPARATORS = ",'\u2019\u00a0\u2009\u202f\uff0c"
_MINUS = "-\u2212\uff0d"
_SIGNS = "+-\u2212\uff0b\uff0d"
_NUMBER_BODY = (
    rf"(?P<int>\d{{1,3}}(?P<sep>[{_SEPARATORS}])\d{{3}}(?:(?P=sep)\d{{3}})*|\d+)"
    rf"(?P<frac>[.\uff0e]\d+)?"
    rf"(?P<exp>[eE][+\-]?\d{{1,6}}(?![^\W{CJK}]))?"
    rf"(?!\d)(?![{_CONTINUES}]\d)")
#: a number in running text: not inside a word (a letter or digit before it; a CJK character
#: may be), nor continuing one (``3.12`` holds no ``12``). It starts with a lone ``\d`` (the
#: checks of what precedes come after it), so the regex engine skips to digits quickly; the
#: sign is read apart, where no word precedes it (``3-5`` holds 3 and 5).
_NUMBER = _Pattern(
    rf"\d(?<![^\W{CJK}]\d)(?<!\d[{_CONTINUES}]\d)"
    rf"(?P<int>\d{{0,2}}(?P<sep>[{_SEPARATORS}])\d{{3}}(?:(?P=sep)\d{{3}})*|\d*)"
    rf"(?P<frac>[.\uff0e]\d+)?"
    rf"(?P<exp>[eE][+\-]?\d{{1,6}}(?![^\W{CJK}]))?"
    rf"(?!\d)(?![{_CONTINUES}]\d)")
_WORD_CHAR = _Pattern(rf"[^\W{CJK}]")
_DIGIT = re.compile(r"\d")

#: a currency sign or code -> the currencies it may stand for
CURRENCIES: dict[str, frozenset[str]] = {
    **{code: frozenset({code}) for code in (
        "USD", "EUR", "GBP", "JPY", "CNY", "CHF", "CAD", "AUD", "NZD", "HKD", "SGD", "INR",
        "KRW", "SEK", "NOK", "DKK", "PLN", "CZK", "HUF", "BRL", "MXN", "RUB", "TRY", "ZAR",
        "ILS", "THB", "TWD", "PHP", "VND")},
    "RMB": frozenset({"CNY"}),
    "$": frozenset({"USD", "CAD", "AUD", "NZD", "HKD", "SGD", "MXN", "TWD"}),
    "US$": frozenset({"USD"}), "C$": frozenset({"CAD"}), "A$": frozenset({"AUD"}),
    "HK$": frozenset({"HKD"}), "S$": frozenset({"SGD"}), "R$": frozenset({"BRL"}),
    "NT$": frozenset({"TWD"}),
    "€": frozenset({"EUR"}), "£": frozenset({"GBP"}),
    "¥": frozenset({"JPY", "CNY"}), "￥": frozenset({"JPY", "CNY"}),
    "円": frozenset({"JPY"}), "元": frozenset({"CNY"}), "₹": frozenset({"INR"}),
    "₩": frozenset({"KRW"}), "₽": frozenset({"RUB"}), "₺": frozenset({"TRY"}),
    "₪": frozenset({"ILS"}), "฿": frozenset({"THB"}), "₱": frozenset({"PHP"}),
    "₫": frozenset({"VND"}), "Fr.": frozenset({"CHF"}),
}
_CURRENCY = "|".join(re.escape(c) for c in sorted(CURRENCIES, key=len, reverse=True))
_VALUE_NUMBER = _Pattern(
    rf"\s*(?P<sign0>[+\-\u2212\uff0d])?\s*(?:(?P<pre>{_CURRENCY})\s*)?"
    rf"(?P<sign>[+\-\u2212\uff0b\uff0d])?{_NUMBER_BODY}"
    rf"\s*(?P<post>{_CURRENCY})?\s*")
_CURRENCY_BEFORE = _Pattern(rf"(?<![A-Za-z])({_CURRENCY})\s?\Z")
_CURRENCY_AFTER = _Pattern(rf"\s?({_CURRENCY})(?![A-Za-z])")
_FLOAT_REPR = re.compile(r"(\d+)(?:\.(\d+))?(?:e([+-]?\d+))?")


def _ascii_digits(digits: str) -> str:
    if digits.isascii():
        return digits
    return "".join(str(unicodedata.decimal(c, 0)) if not c.isascii() else c for c in digits)


def _canonical(negative: bool, whole: str, fraction: str, exponent: int) -> str:
    """A number's key: its significant digits and the place of its decimal point
    (``1234.50`` -> ``12345e4``), so that any way of writing one number gives one key."""
    digits = whole + fraction
    point = len(whole) + exponent
    significant = digits.lstrip("0")
    point -= len(digits) - len(significant)
    significant = significant.rstrip("0")
    if not significant:
        return "0"
    return ("-" if negative else "") + significant + "e" + str(point)


def _key_of_match(match: re.Match[str]) -> str | None:
    whole = match["int"]
    if match["sep"]:
        whole = whole.replace(match["sep"], "")
    fraction = (match["frac"] or "")[1:]
    exponent = 0
    if match["exp"]:
        exponent = int(_ascii_digits(match["exp"][1:]))
    sign = match["sign"]
    negative = bool(sign) and sign in _MINUS
    return _canonical(negative, _ascii_digits(whole), _ascii_digits(fraction), exponent)


#: where a key occurs: one span packed in an int (``start << 40 | end``; most numbers of a
#: text occur once, and an int is nothing for the garbage collector to count), or an array
#: ``start, end, start, end...`` (see :func:`spans`)
Where = int | array

_SHIFT = 40
_MASK = (1 << _SHIFT) - 1


def _add(out: dict[str, Where], key: str, start: int, end: int) -> None:
    where = out.get(key)
    if where is None:
        out[key] = start << _SHIFT | end
    elif isinstance(where, int):
        out[key] = array("q", (where >> _SHIFT, where & _MASK, start, end))
    else:
        where.append(start)
        where.append(end)


def spans(where: Where) -> tuple[Sequence[int], Sequence[int]]:
    """The starts and the ends of the spans in a :data:`Where`."""
    if isinstance(where, int):
        return (where >> _SHIFT,), (where & _MASK,)
    return where[0::2], where[1::2]


def numbers(text: str) -> dict[str, Where]:
    """Each number written in ``text``, by key: where it is (in order)."""
    out: dict[str, Where] = {}
    for match in _NUMBER().finditer(text):
        written = match.group()
        start = match.start()
        end = start + len(written)
        if written.isdigit() and written.isascii():  # most numbers: 12, 2024, 007
            significant = written.lstrip("0")
            point = len(significant)
            significant = significant.rstrip("0")
            key = f"{significant}e{point}" if significant else "0"
        elif written.isascii() and not (match["sep"] or match["exp"]):  # 12.50
            whole, _, fraction = written.partition(".")
            key = _canonical(False, whole, fraction, 0)
        else:
            whole = text[start:match.end("int")]
            if match["sep"]:
                whole = whole.replace(match["sep"], "")
            exponent = int(_ascii_digits(match["exp"][1:])) if match["exp"] else 0
            key = _canonical(False, _ascii_digits(whole),
                             _ascii_digits((match["frac"] or "")[1:]), exponent)
        if start and text[start - 1] in _SIGNS and (
                start == 1 or not _WORD_CHAR().match(text[start - 2])):
            start -= 1
            if text[start] in _MINUS and key != "0":
                key = "-" + key
        _add(out, key, start, end)
    return out


def number_key(text: str) -> tuple[str, frozenset[str]] | None:
    """The key of a string that is one number (with thousands separators, a sign, a currency
    sign or code before or after), and the currencies it names (empty when none); None for
    any other string."""
    if not _DIGIT.search(text):
        return None
    match = _VALUE_NUMBER().fullmatch(text)
    if match is None:
        return None
    if match["pre"] and match["post"]:
        return None
    if match["sign0"] and match["sign"]:
        return None
    key = _key_of_match(match)
    if key is None:
        return None
    if match["sign0"] and match["sign0"] in _MINUS and key != "0":
        key = "-" + key
    currency = match["pre"] or match["post"]
    return key, CURRENCIES[currency] if currency else frozenset()


def value_number_key(value: int | float) -> str | None:
    """The key of a JSON number; None for NaN, infinities and ints too long to write."""
    if isinstance(value, int):
        try:
            whole = str(abs(value))
        except ValueError:  # longer than sys.get_int_max_str_digits()
            return None
        return _canonical(value < 0, whole, "", 0)
    if not math.isfinite(value):
        return None
    match = _FLOAT_REPR.fullmatch(repr(abs(value)))
    if match is None:
        return None
    whole, fraction, exponent = match.group(1), match.group(2) or "", match.group(3) or "0"
    return _canonical(value < 0, whole, fraction, int(exponent))


def number_text(value: int | float) -> str | None:
    """A JSON number as JSON writes it, an int-valued float without ``.0``; None for NaN,
    infinities and ints too long to write."""
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        text = float.__repr__(value)
        return text[:-2] if text.endswith(".0") else text
    try:
        return int.__repr__(value)
    except ValueError:  # longer than sys.get_int_max_str_digits()
        return None


def currency_near(text: str, start: int, end: int) -> frozenset[str]:
    """The currencies a sign or code just before or after ``text[start:end]`` names."""
    found: set[str] = set()
    before = _CURRENCY_BEFORE().search(text, max(0, start - 4), start)
    if before:
        found |= CURRENCIES[before.group(1)]
    after = _CURRENCY_AFTER().match(text, end, end + 4)
    if after:
        found |= CURRENCIES[after.group(1)]
    return frozenset(found)


# -- dates ---------------------------------------------------------------------------------

_MONTHS = {"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8,
           "sep": 9, "oct": 10, "nov": 11, "dec": 12}
#: a month's name after its first letter (the first letter is checked with the rest later)
_MONTH_REST = (r"(?i:an(?:uary)?|eb(?:ruary)?|ar(?:ch)?|pr(?:il)?|ay|une?|uly?|ug(?:ust)?"
               r"|ep(?:t(?:ember)?)?|ct(?:ober)?|ov(?:ember)?|ec(?:ember)?)")
_ORDINAL = r"(?i:st|nd|rd|th)?"
_DATE_END = rf"(?![^\W{CJK}])(?![{_CONTINUES}/\-]\d)"
#: the dates that start with a digit; as :data:`_NUMBER`, a lone ``\d`` first, then the
#: checks of what precedes it (no word, no number it would continue)
_DATE_DIGIT = _Pattern(
    rf"\d(?<![^\W{CJK}]\d)(?<!\d[{_CONTINUES}/\-]\d)(?:"
    rf"(?P<y1>\d{{3}})(?P<s1>[-/.])(?P<m1>\d{{1,2}})(?P=s1)(?P<d1>\d{{1,2}})"
    rf"|(?P<a2>\d?)(?P<s2>[-/.])(?P<b2>\d{{1,2}})(?P=s2)(?P<y2>\d{{4}})"
    rf"|(?P<d3>\d?){_ORDINAL}[\s\-]+(?:(?i:of)\s+)?(?P<n3>[A-Za-z]{_MONTH_REST})\.?[\s\-]+"
    rf"(?P<y3>\d{{4}})"
    rf"|(?P<y5>\d{{3}})\s*年\s*(?P<m5>\d{{1,2}})\s*月\s*(?P<d5>\d{{1,2}})\s*[日号]"
    rf"|(?P<y6>\d{{3}})\s*년\s*(?P<m6>\d{{1,2}})\s*월\s*(?P<d6>\d{{1,2}})\s*일"
    rf"){_DATE_END}")
#: the dates that start with a month's name (March 5, 2024)
_DATE_MONTH = _Pattern(
    rf"[JFMASONDjfmasond](?<![^\W{CJK}].)(?P<n4>{_MONTH_REST})\.?\s+(?P<d4>\d{{1,2}})"
    rf"{_ORDINAL},?\s+(?P<y4>\d{{4}}){_DATE_END}")


def _iso(year: str, month: int, day: int) -> str | None:
    y = _num(year)
    if not 1 <= month <= 12 or day < 1:
        return None
    leap = y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)
    days = (31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)[month - 1]
    if day > days:
        return None
    return f"{y:04d}-{month:02d}-{day:02d}"


def _num(text: str) -> int:
    return int(_ascii_digits(text))


def _month(name: str) -> int:
    return _MONTHS.get(name[:3].lower(), 0)


def _date_of(match: re.Match[str]) -> str | None:
    """The ISO date of a match of :data:`_DATE_DIGIT` or :data:`_DATE_MONTH` (None when it
    is ambiguous or no day of the calendar)."""
    first = match.group()[0]
    if match.re is _DATE_MONTH():
        return _iso(match["y4"], _month(first + match["n4"]), _num(match["d4"]))
    y1, y2, y3, y5, y6 = match.group("y1", "y2", "y3", "y5", "y6")
    if y1:
        return _iso(first + y1, _num(match["m1"]), _num(match["d1"]))
    if y2:
        a, b = _num(first + match["a2"]), _num(match["b2"])
        if a > 12 >= b:  # 25/03/2024: day first
            return _iso(y2, b, a)
        if b > 12 >= a or a == b:  # 03/25/2024: month first; 05/05/2024 reads either way
            return _iso(y2, a, b)
        return None  # 03/05/2024: March 5 or 3 May
    if y3:
        return _iso(y3, _month(match["n3"]), _num(first + match["d3"]))
    if y5:
        return _iso(first + y5, _num(match["m5"]), _num(match["d5"]))
    if y6:
        return _iso(first + y6, _num(match["m6"]), _num(match["d6"]))
    return None


def dates(text: str) -> dict[str, Where]:
    """Each unambiguous date written in ``text``, by ISO date: where it is (in order)."""
    found = []
    for pattern in (_DATE_DIGIT(), _DATE_MONTH()):
        for match in pattern.finditer(text):
            iso = _date_of(match)
            if iso is not None:
                found.append((match.start(), match.end(), iso))
    found.sort()
    out: dict[str, Where] = {}
    for start, end, iso in found:
        _add(out, iso, start, end)
    return out


def date_key(text: str) -> str | None:
    """The ISO date (``2024-03-05``) a string that is one unambiguous date stands for."""
    text = text.strip()
    if not _DIGIT.search(text):
        return None
    match = _DATE_DIGIT().fullmatch(text) or _DATE_MONTH().fullmatch(text)
    return _date_of(match) if match else None
