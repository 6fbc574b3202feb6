"""A partial JSON parser: the value so far, from JSON text fed in any pieces. No I/O here.

:class:`PartialJSONParser` turns JSON text, fed in any pieces, into the value parsed so far,
with total work linear in the text: it keeps a stack of open containers and the state of the
token in progress, scans string contents in bulk with compiled patterns, and touches each
character a bounded number of times — where the common approach re-parses the whole buffer
on every piece (quadratic). Iterative, so nesting depth is limited only by memory.

Partial values (:meth:`PartialJSONParser.snapshot`) are *prefix-consistent* with the final
value: an open string appears as far as it goes (without a half-received escape or a high
surrogate still waiting for its low half), numbers only once terminated, literals once
spelled out, an object member only once its value has started; arrays only grow and a
finished element never changes. Usage::

    parser = PartialJSONParser(skip_prefix=True)   # tolerate a ```json fence or prose
    for piece in pieces:
        parser.feed(piece)                        # PartialJSONError on invalid JSON
        show(parser.snapshot())                   # MISSING until a value has started
    value = parser.finish()                       # PartialJSONError if incomplete
"""

from __future__ import annotations

import re
from typing import Any, Final

__all__ = ["MISSING", "PartialJSONError", "PartialJSONParser"]


class _Missing:
    """The type of :data:`MISSING`: one instance, kept by copy, deepcopy and pickle."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False

    def __copy__(self) -> _Missing:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> _Missing:
        return self

    def __reduce__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()
"""What :meth:`PartialJSONParser.snapshot` returns before any value has started."""


class PartialJSONError(ValueError):
    """The text is not JSON (position and what was expected are in the message)."""


# _WS, _STR_RUN, _HEX and _NUM_CHARS match the empty string too: their match() is never None
_WS = re.compile(r"[ \t\n\r]*")
_STR_RUN = re.compile(r'[^"\\\x00-\x1f]*')
_HEX = re.compile(r"[0-9a-fA-F]*")
_NUM_CHARS = re.compile(r"[-+0-9.eE]*")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r",
            "t": "\t"}
_LITERALS: dict[str, tuple[str, Any]] = {"t": ("true", True), "f": ("false", False),
                                         "n": ("null", None)}
_OPEN = re.compile(r"[{\[]")

# what the parser expects next (outside a token)
_VALUE, _KEY_OR_END, _KEY, _COLON, _COMMA_OR_END, _ITEM_OR_END, _DONE = range(7)
# the token in progress
_NONE, _STR, _KEYSTR, _NUM, _LIT = range(5)
_TOKEN_NAMES = {_STR: "a string", _KEYSTR: "a key", _NUM: "a number", _LIT: "a literal"}


class _Frame:
    """An open object or array; ``key`` is the member whose value is being read."""

    __slots__ = ("container", "is_obj", "key")

    def __init__(self, container: Any, is_obj: bool) -> None:
        self.container = container
        self.is_obj = is_obj
        self.key: str | None = None


class PartialJSONParser:
    """Feed JSON text in pieces; :meth:`snapshot` gives the value so far (see module doc).

    ``skip_prefix=True`` skips any text before the first ``{`` or ``[`` and ignores any text
    after the complete value (a ```json fence, prose); without it only whitespace may
    surround the value, which may then also be a top-level string, number or literal.
    Once :class:`PartialJSONError` has been raised the parser stays failed: later
    :meth:`feed` and :meth:`finish` calls raise the same error.
    """

    __slots__ = ("_chunks", "_esc", "_expect", "_failed", "_high", "_lit", "_parts", "_pos",
                 "_root", "_skip_prefix", "_stack", "_started", "_tok", "_tok_start",
                 "max_depth")

    def __init__(self, *, skip_prefix: bool = False) -> None:
        self._skip_prefix = skip_prefix
        self._chunks: list[str] = []
        self._pos = 0  # characters before the chunk being parsed (for error messages)
        self._stack: list[_Frame] = []
        self._expect = _VALUE
        self._root: Any = MISSING
        self._started = False
        self._failed: PartialJSONError | None = None
        # the token in progress
        self._tok = _NONE
        self._tok_start = 0  # where it started (for error messages)
        self._parts: list[str] = []  # its text so far (a string's decoded text)
        self._esc = ""  # a string escape not yet complete: "\\", "\\u", "\\u12", ...
        self._high: int | None = None  # a high surrogate escape waiting for its low half
        self._lit = ""  # the literal being spelled: "true", "false" or "null"
        #: the deepest nesting of objects and arrays seen so far
        self.max_depth = 0

    # public ----------------------------------------------------------------------------------

    @property
    def text(self) -> str:
        """Everything fed so far, including skipped prefix and trailing text."""
        chunks = self._chunks
        if len(chunks) > 1:
            self._chunks = chunks = ["".join(chunks)]
        return chunks[0] if chunks else ""

    @property
    def done(self) -> bool:
        """True once a complete top-level value has been parsed."""
        return self._expect == _DONE

    def feed(self, text: str) -> None:
        """Parse the next piece of text; :class:`PartialJSONError` if it is not valid JSON."""
        if self._failed is not None:
            raise PartialJSONError(*self._failed.args)
        if not text:
            return
        self._chunks.append(text)
        if self._tok == _STR and not self._esc and self._high is None and (
                _STR_RUN.fullmatch(text) is not None):
            self._parts.append(text)  # the common case: a piece inside a string value
            self._pos += len(text)
            return
        try:
            i = self._string(text, 0) if self._tok == _STR else 0
            if i < len(text):
                self._parse(text, i)
        except PartialJSONError as exc:
            self._failed = exc
            raise
        self._pos += len(text)

    def finish(self) -> Any:
        """The complete value; :class:`PartialJSONError` if the text is incomplete."""
        if self._failed is not None:
            raise PartialJSONError(*self._failed.args)
        if self._tok == _NUM and not self._stack:
            try:
                self._end_number()  # at the end of input a top-level number is complete
            except PartialJSONError as exc:
                self._failed = exc
                raise
        if self._expect != _DONE:
            if not self._started:
                raise PartialJSONError("invalid JSON: no JSON value was received")
            unfinished = [_TOKEN_NAMES[self._tok]] if self._tok != _NONE else []
            if self._stack:
                unfinished.append(f"{len(self._stack)} unclosed object(s)/array(s)")
            raise PartialJSONError(
                f"invalid JSON at character {self._pos}: the text ends early "
                f"(unfinished: {', '.join(unfinished) or 'a value'})"
            )
        return self._root

    def snapshot(self) -> Any:
        """The value parsed so far, as plain dicts/lists/strings; MISSING before any.

        Open containers on the current path are shallow copies, so an earlier snapshot never
        changes; finished sub-values are shared (they never change either). Cost: the size
        of the open containers on the path, not of the whole value.
        """
        if self._expect == _DONE:
            return self._root
        child: Any = MISSING
        if self._tok == _STR:
            parts = self._parts
            if len(parts) > 1:
                self._parts = parts = ["".join(parts)]  # compact: the next join is cheap
            child = parts[0] if parts else ""
        for frame in reversed(self._stack):
            if frame.is_obj:
                c: Any = dict(frame.container)
                if child is not MISSING and frame.key is not None:
                    c[frame.key] = child
            else:
                c = list(frame.container)
                if child is not MISSING:
                    c.append(child)
            child = c
        return child

    # parsing -----------------------------------------------------------------------------------

    def _error(self, at: int, what: str) -> PartialJSONError:
        """An error at index ``at`` of the chunk being parsed."""
        return PartialJSONError(f"invalid JSON at character {self._pos + at}: {what}")

    def _parse(self, s: str, i: int) -> None:
        n = len(s)
        while i < n:
            tok = self._tok
            if tok != _NONE:
                if tok in (_STR, _KEYSTR):
                    i = self._string(s, i)
                elif tok == _NUM:
                    i = self._number(s, i)
                else:
                    i = self._literal(s, i)
                continue
            c = s[i]
            if c in " \t\n\r":
                i = _WS.match(s, i).end()  # type: ignore[union-attr]
                if i >= n:
                    return
                c = s[i]
            expect = self._expect
            if expect == _COMMA_OR_END:
                frame = self._stack[-1]
                if c == ",":
                    self._expect = _KEY if frame.is_obj else _VALUE
                elif c == ("}" if frame.is_obj else "]"):
                    self._close()
                else:
                    want = "'}'" if frame.is_obj else "']'"
                    raise self._error(i, f"expected ',' or {want}, got {c!r}")
                i += 1
            elif expect in (_VALUE, _ITEM_OR_END):
                if c == "]" and expect == _ITEM_OR_END:
                    self._close()
                    i += 1
                    continue
                if not self._started and self._skip_prefix and c not in "{[":
                    m = _OPEN.search(s, i)
                    if m is None:
                        return  # still in the prefix
                    i = m.start()
                    c = s[i]
                i = self._value_start(s, i, c)
            elif expect in (_KEY_OR_END, _KEY):
                if c == '"':
                    self._tok = _KEYSTR
                    self._tok_start = self._pos + i
                    i += 1
                elif c == "}" and expect == _KEY_OR_END:
                    self._close()
                    i += 1
                else:
                    raise self._error(i, f"expected a key in double quotes, got {c!r}")
            elif expect == _COLON:
                if c != ":":
                    raise self._error(i, f"expected ':' after the key, got {c!r}")
                self._expect = _VALUE
                i += 1
            else:  # _DONE
                if self._skip_prefix:
                    return  # trailing text after the value (a closing fence, prose)
                raise self._error(i, f"unexpected {c!r} after the JSON value")

    def _value_start(self, s: str, i: int, c: str) -> int:
        self._started = True
        if c == "{" or c == "[":
            stack = self._stack
            stack.append(_Frame({}, True) if c == "{" else _Frame([], False))
            if len(stack) > self.max_depth:
                self.max_depth = len(stack)
            self._expect = _KEY_OR_END if c == "{" else _ITEM_OR_END
            return i + 1
        self._tok_start = self._pos + i
        if c == '"':
            self._tok = _STR
            return i + 1
        if c == "-" or "0" <= c <= "9":
            self._tok = _NUM
            return i
        lit = _LITERALS.get(c)
        if lit is not None:
            self._tok = _LIT
            self._lit = lit[0]
            return i
        raise self._error(i, f"expected a value (object, array, string, number, true, false "
                             f"or null), got {c!r}")

    def _string(self, s: str, i: int) -> int:
        """Continue the string token; return where it stopped (its end, or the chunk's)."""
        n = len(s)
        parts = self._parts
        while i < n:
            if self._esc:
                i = self._escape(s, i)
                continue
            j = _STR_RUN.match(s, i).end()  # type: ignore[union-attr]
            if j > i:
                if self._high is not None:
                    self._flush_high()
                parts.append(s[i:j])
                i = j
                if i >= n:
                    break
            c = s[i]
            if c == '"':
                if self._high is not None:
                    self._flush_high()
                self._end_string()
                return i + 1
            if c == "\\":
                if self._high is None and i + 1 < n:
                    ch = _ESCAPES.get(s[i + 1])
                    if ch is not None:  # a one-character escape, whole in this piece
                        parts.append(ch)
                        i += 2
                        continue
                self._esc = "\\"
                i += 1
                continue
            raise self._error(i, f"unescaped control character {c!r} inside a string")
        return i

    def _escape(self, s: str, i: int) -> int:
        """Continue the escape sequence in ``self._esc``; return where it stopped."""
        n = len(s)
        esc = self._esc
        if esc == "\\":
            c = s[i]
            if c != "u":
                ch = _ESCAPES.get(c)
                if ch is None:
                    raise self._error(i, f"invalid escape '\\{c}' inside a string")
                self._esc = ""
                if self._high is not None:
                    self._flush_high()
                self._parts.append(ch)
                return i + 1
            esc = "\\u"
            i += 1
        stop = min(n, i + 6 - len(esc))
        j = _HEX.match(s, i, stop).end()  # type: ignore[union-attr]
        if j < stop:
            raise self._error(j, f"expected 4 hex digits after '\\u', got {s[j]!r}")
        esc += s[i:j]
        if len(esc) < 6:
            self._esc = esc
            return j
        self._esc = ""
        self._code(int(esc[2:], 16))
        return j

    def _code(self, code: int) -> None:
        """A complete ``\\uXXXX`` escape: pair surrogates as ``json.loads`` does."""
        high = self._high
        if 0xD800 <= code <= 0xDBFF:
            if high is not None:
                self._parts.append(chr(high))  # two highs in a row: the first stays alone
            self._high = code
        elif high is not None and 0xDC00 <= code <= 0xDFFF:
            self._high = None
            self._parts.append(chr(0x10000 + ((high - 0xD800) << 10) + (code - 0xDC00)))
        else:
            if high is not None:
                self._flush_high()
            self._parts.append(chr(code))

    def _flush_high(self) -> None:
        """No low surrogate followed: the high one stands alone (as in ``json.loads``)."""
        self._parts.append(chr(self._high))  # type: ignore[arg-type]
        self._high = None

    def _end_string(self) -> None:
        parts = self._parts
        value = parts[0] if len(parts) == 1 else "".join(parts)
        self._parts = []
        if self._tok == _KEYSTR:
            self._tok = _NONE
            self._stack[-1].key = value
            self._expect = _COLON
            return
        self._tok = _NONE
        self._add(value)

    def _number(self, s: str, i: int) -> int:
        j = _NUM_CHARS.match(s, i).end()  # type: ignore[union-attr]
        if j > i:
            self._parts.append(s[i:j])
        if j < len(s):
            self._end_number()  # any other character ends it (and is then parsed)
        return j

    def _end_number(self) -> None:
        parts = self._parts
        text = parts[0] if len(parts) == 1 else "".join(parts)
        self._parts = []
        self._tok = _NONE
        if _NUMBER.fullmatch(text) is None:
            raise PartialJSONError(
                f"invalid JSON at character {self._tok_start}: bad number {text[:40]!r}")
        try:
            # as json.loads: int for integers (any size), float otherwise (1e400 is inf)
            value = float(text) if "." in text or "e" in text or "E" in text else int(text)
        except ValueError as exc:  # an integer beyond sys.get_int_max_str_digits()
            raise PartialJSONError(
                f"invalid JSON at character {self._tok_start}: {exc}") from None
        self._add(value)

    def _literal(self, s: str, i: int) -> int:
        word = self._lit
        have = sum(map(len, self._parts))
        piece = s[i : i + len(word) - have]
        if not word.startswith(piece, have):
            k = 0
            while piece[k] == word[have + k]:
                k += 1
            raise self._error(i + k, f"expected {word!r}, got {s[i + k]!r}")
        j = i + len(piece)
        if have + len(piece) < len(word):
            self._parts.append(piece)
            return j
        self._parts = []
        self._tok = _NONE
        self._add(_LITERALS[word[0]][1])
        return j

    def _add(self, value: Any) -> None:
        """A complete value: into its container, or as the root."""
        stack = self._stack
        if not stack:
            self._root = value
            self._expect = _DONE
            return
        frame = stack[-1]
        if frame.is_obj:
            frame.container[frame.key] = value
            frame.key = None
        else:
            frame.container.append(value)
        self._expect = _COMMA_OR_END

    def _close(self) -> None:
        self._add(self._stack.pop().container)
