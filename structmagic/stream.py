"""Streams, pure and incremental: a Server-Sent Events decoder and a partial JSON parser.

No I/O here. :class:`SSEDecoder` turns bytes, split anywhere (inside a line, inside a
UTF-8 character), into events. :class:`PartialJSONParser` turns JSON text, fed in any
pieces, into the value parsed so far — with total work linear in the text: it keeps a
stack of open containers and never re-reads what it has parsed, where the common approach
re-parses the whole buffer on every piece (quadratic).

Partial values are *prefix-consistent* with the final value: open strings appear as far as
they go, numbers and literals only once terminated, an object key only once its value has
started; arrays only grow and a finished element never changes.
"""

from __future__ import annotations

import codecs
import json
import re
from dataclasses import dataclass
from typing import Any, Final

__all__ = ["MISSING", "PartialJSONError", "PartialJSONParser", "SSEDecoder", "SSEEvent"]


# --- Server-Sent Events ------------------------------------------------------------------------


@dataclass(slots=True)
class SSEEvent:
    event: str
    data: str
    id: str | None = None


_LINE_BREAK = re.compile(r"\r\n|\r|\n")


class SSEDecoder:
    """Incremental SSE decoder (WHATWG rules): feed bytes, get complete events."""

    __slots__ = ("_buf", "_data", "_event", "_id", "_pending_cr", "_started", "_utf8")

    def __init__(self) -> None:
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._buf = ""
        self._data: list[str] = []
        self._event = ""
        self._id: str | None = None
        self._pending_cr = False
        self._started = False

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        text = self._utf8.decode(chunk)
        if not text:
            return []
        if not self._started:
            self._started = True
            if text.startswith("\ufeff"):
                text = text[1:]
        if self._pending_cr:
            # a CR ended the previous chunk: a LF starting this one belongs to it
            self._pending_cr = False
            if text.startswith("\n"):
                text = text[1:]
        buf = self._buf + text if self._buf else text
        lines = _LINE_BREAK.split(buf)
        self._buf = lines.pop()  # the unfinished last line ("" when buf ended in a break)
        if buf.endswith("\r"):
            self._pending_cr = True
        events: list[SSEEvent] = []
        for line in lines:
            self._line(line, events)
        return events

    def close(self) -> list[SSEEvent]:
        """At end of stream: a last line without a break, and a pending event, are dispatched."""
        rest = self._buf + self._utf8.decode(b"", final=True)
        self._buf = ""
        events: list[SSEEvent] = []
        if rest:
            self._line(rest, events)
        self._line("", events)
        return events

    def _line(self, line: str, events: list[SSEEvent]) -> None:
        if not line:
            if self._data:
                events.append(SSEEvent(self._event or "message", "\n".join(self._data), self._id))
            self._data = []
            self._event = ""
            return
        if line[0] == ":":
            return  # a comment / keep-alive
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id" and "\x00" not in value:
            self._id = value


# --- partial JSON -------------------------------------------------------------------------------


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Final = _Missing()


class PartialJSONError(ValueError):
    """The text is not JSON (position and what was expected are in the message)."""


_WS = re.compile(r"[ \t\n\r]*")
_STR_RUN = re.compile(r'[^"\\\x00-\x1f]*')
_NUM_CHARS = re.compile(r"[-+0-9.eE]*")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?\Z")
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r",
            "t": "\t"}
_LITERALS = {"true": True, "false": False, "null": None}

# what the parser expects next
_VALUE, _KEY_OR_END, _KEY, _COLON, _COMMA_OR_END, _ITEM_OR_END, _DONE = range(7)


class _Frame:
    __slots__ = ("container", "is_obj", "key")

    def __init__(self, container: Any, is_obj: bool) -> None:
        self.container = container
        self.is_obj = is_obj
        self.key: str | None = None


class PartialJSONParser:
    """Feed JSON text in pieces; :meth:`snapshot` gives the value so far (see module doc)."""

    def __init__(self, *, skip_prefix: bool = False) -> None:
        self._skip_prefix = skip_prefix
        self._chunks: list[str] = []
        self._pos = 0  # characters consumed so far (for error messages)
        self._stack: list[_Frame] = []
        self._expect = _VALUE
        self._root: Any = MISSING
        self._started = False
        # the token in progress
        self._tok: str | None = None  # "str", "key", "num", "lit"
        self._parts: list[str] = []
        self._esc = ""  # an escape sequence not yet complete

    # public ----------------------------------------------------------------------------------

    @property
    def text(self) -> str:
        if len(self._chunks) > 1:
            self._chunks = ["".join(self._chunks)]
        return self._chunks[0] if self._chunks else ""

    @property
    def done(self) -> bool:
        return self._expect == _DONE

    def feed(self, text: str) -> None:
        if not text:
            return
        self._chunks.append(text)
        self._parse(text)
        self._pos += len(text)

    def finish(self) -> Any:
        """The complete value; :class:`PartialJSONError` if the text is incomplete."""
        if self._tok in ("num", "lit") and not self._stack:
            self._end_scalar(self._pos)
        if self._expect != _DONE:
            if not self._started:
                raise PartialJSONError("no JSON value was received")
            raise PartialJSONError(f"the JSON text ends early, at character {self._pos}")
        return self._root

    def snapshot(self) -> Any:
        """The value parsed so far, as plain dicts/lists/strings.

        Open containers on the current path are shallow copies, so an earlier snapshot never
        changes; finished sub-values are shared (they never change either).
        """
        if self._expect == _DONE:
            return self._root
        child: Any = MISSING
        if self._tok == "str":
            if self._esc == "" and len(self._parts) > 1:
                self._parts = ["".join(self._parts)]
            child = "".join(self._parts)
        for frame in reversed(self._stack):
            c = frame.container
            if frame.is_obj:
                c = dict(c)
                if child is not MISSING and frame.key is not None:
                    c[frame.key] = child
            else:
                c = list(c)
                if child is not MISSING:
                    c.append(child)
            child = c
        return child

    # parsing -----------------------------------------------------------------------------------

    def _error(self, at: int, what: str) -> PartialJSONError:
        return PartialJSONError(f"invalid JSON at character {self._pos + at}: {what}")

    def _parse(self, s: str) -> None:
        i, n = 0, len(s)
        while i < n:
            tok = self._tok
            if tok is not None:
                i = self._string(s, i) if tok in ("str", "key") else self._scalar(s, i)
                continue
            i = _WS.match(s, i).end()
            if i >= n:
                return
            c = s[i]
            expect = self._expect
            if expect == _DONE:
                if self._skip_prefix:
                    return  # trailing text after the value (a closing fence, prose)
                raise self._error(i, f"unexpected {c!r} after the JSON value")
            if expect in (_VALUE, _ITEM_OR_END):
                if expect == _ITEM_OR_END and c == "]":
                    self._close(i)
                    i += 1
                    continue
                if not self._started and self._skip_prefix and c not in "{[":
                    j = _find_open(s, i)
                    if j < 0:
                        return
                    i = j
                    c = s[i]
                i = self._value_start(s, i, c)
            elif expect in (_KEY_OR_END, _KEY):
                if c == '"':
                    self._tok = "key"
                    self._parts = []
                    i += 1
                elif c == "}" and expect == _KEY_OR_END:
                    self._close(i)
                    i += 1
                else:
                    raise self._error(i, f"expected a key in quotes, got {c!r}")
            elif expect == _COLON:
                if c != ":":
                    raise self._error(i, f"expected ':', got {c!r}")
                self._expect = _VALUE
                i += 1
            else:  # _COMMA_OR_END
                frame = self._stack[-1]
                if c == ",":
                    self._expect = _KEY if frame.is_obj else _VALUE
                    i += 1
                elif c == ("}" if frame.is_obj else "]"):
                    self._close(i)
                    i += 1
                else:
                    want = "'}'" if frame.is_obj else "']'"
                    raise self._error(i, f"expected ',' or {want}, got {c!r}")

    def _value_start(self, s: str, i: int, c: str) -> int:
        self._started = True
        if c == "{":
            self._stack.append(_Frame({}, True))
            self._expect = _KEY_OR_END
            return i + 1
        if c == "[":
            self._stack.append(_Frame([], False))
            self._expect = _ITEM_OR_END
            return i + 1
        if c == '"':
            self._tok = "str"
            self._parts = []
            return i + 1
        if c == "-" or c.isdigit():
            self._tok = "num"
            self._parts = []
            return i
        if c in "tfn":
            self._tok = "lit"
            self._parts = []
            return i
        raise self._error(i, f"expected a value, got {c!r}")

    def _string(self, s: str, i: int) -> int:
        n = len(s)
        parts = self._parts
        while i < n:
            if self._esc:
                i = self._escape(s, i)
                if self._tok is None:
                    return i  # the escape's leftover text closed the string
                parts = self._parts
                continue
            j = _STR_RUN.match(s, i).end()
            if j > i:
                parts.append(s[i:j])
                i = j
                if i >= n:
                    break
            c = s[i]
            if c == '"':
                self._end_string()
                return i + 1
            if c == "\\":
                self._esc = "\\"
                i += 1
                continue
            raise self._error(i, "a control character inside a string")
        return i

    def _escape(self, s: str, i: int) -> int:
        """Continue the escape sequence in ``self._esc`` with characters of ``s``."""
        n = len(s)
        while i < n:
            self._esc += s[i]
            i += 1
            resolved = self._resolve_escape(i)
            if resolved is not None:
                text, leftover = resolved
                self._esc = ""
                self._parts.append(text)
                if leftover:
                    # characters read ahead (after a lone high surrogate) are string text
                    self._string(leftover, 0)
                return i
        return i

    def _resolve_escape(self, at: int) -> tuple[str, str] | None:
        """``(text, leftover)`` once the escape in ``self._esc`` is complete, else None."""
        esc = self._esc
        if len(esc) < 2:
            return None
        if esc[1] != "u":
            ch = _ESCAPES.get(esc[1])
            if ch is None:
                raise self._error(at, f"bad escape {esc!r}")
            return ch, ""
        if len(esc) < 6:
            return None
        first = _hex4(esc[2:6])
        if first is None:
            raise self._error(at, f"bad unicode escape {esc[:6]!r}")
        if not 0xD800 <= first <= 0xDBFF:
            return chr(first), ""
        # a high surrogate: a low one may follow as another \\u escape
        if len(esc) >= 7 and esc[6] != "\\":
            return chr(first), esc[6:]
        if len(esc) >= 8 and esc[7] != "u":
            return chr(first), esc[6:]
        if len(esc) < 12:
            return None
        second = _hex4(esc[8:12])
        if second is None:
            raise self._error(at, f"bad unicode escape {esc[6:]!r}")
        if 0xDC00 <= second <= 0xDFFF:
            return chr(0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)), ""
        return chr(first), esc[6:]

    def _end_string(self) -> None:
        value = "".join(self._parts)
        self._parts = []
        if self._tok == "key":
            self._tok = None
            self._stack[-1].key = value
            self._expect = _COLON
            return
        self._tok = None
        self._add(value)

    def _scalar(self, s: str, i: int) -> int:
        if self._tok == "num":
            j = _NUM_CHARS.match(s, i).end()
        else:
            j = i
            while j < len(s) and s[j].isalpha():
                j += 1
        if j > i:
            self._parts.append(s[i:j])
        if j < len(s):
            self._end_scalar(j)
        return j

    def _end_scalar(self, at: int) -> None:
        text = "".join(self._parts)
        self._parts = []
        tok, self._tok = self._tok, None
        if tok == "num":
            if not _NUMBER.match(text):
                raise self._error(at, f"bad number {text!r}")
            value = json.loads(text)
        else:
            if text not in _LITERALS:
                raise self._error(at, f"expected true, false or null, got {text!r}")
            value = _LITERALS[text]
        self._add(value)

    def _add(self, value: Any) -> None:
        """A complete value: into its container, or as the root."""
        if not self._stack:
            self._root = value
            self._expect = _DONE
            return
        frame = self._stack[-1]
        if frame.is_obj:
            frame.container[frame.key] = value
            frame.key = None
        else:
            frame.container.append(value)
        self._expect = _COMMA_OR_END

    def _close(self, at: int) -> None:
        frame = self._stack.pop()
        if frame.is_obj and frame.key is not None:
            raise self._error(at, "an object closed before its last value")
        self._add(frame.container)


def _hex4(text: str) -> int | None:
    if len(text) != 4 or any(h not in "0123456789abcdefABCDEF" for h in text):
        return None
    return int(text, 16)


def _find_open(s: str, i: int) -> int:
    a, b = s.find("{", i), s.find("[", i)
    if a < 0:
        return b
    if b < 0:
        return a
    return min(a, b)
