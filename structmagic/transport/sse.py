"""Server-Sent Events, pure and incremental: bytes in, events out. No I/O here.

:class:`SSEDecoder` turns bytes, split anywhere (inside a line, inside a UTF-8 character,
between the CR and the LF of a CRLF), into :class:`SSEEvent` objects, following the WHATWG
rules: CR, LF and CRLF line endings, ``:`` comments, ``data:`` with or without the space,
multi-line data joined with ``"\\n"``, ``event:`` names, ``id:``, a leading BOM stripped,
events without data not dispatched. It keeps text back until a blank line ends an event,
then splits all complete events out at once with bulk string operations (no per-character
Python work, and a long line arriving in many small chunks is joined once). Usage::

    decoder = SSEDecoder()
    for chunk in response.iter_raw():
        for event in decoder.feed(chunk):
            handle(event.event, event.data)
    for event in decoder.close():                 # EOF: a last event without a blank line
        handle(event.event, event.data)
"""

from __future__ import annotations

from codecs import utf_8_decode as _utf8_decode
from dataclasses import dataclass

__all__ = ["SSEDecoder", "SSEEvent"]


@dataclass(slots=True)
class SSEEvent:
    """One dispatched event: its type (``"message"`` by default), data and last event ID."""

    event: str
    data: str
    id: str | None = None


class SSEDecoder:
    """Incremental SSE decoder (WHATWG rules): feed bytes split anywhere, get complete events.

    The ``retry`` field and unknown fields are ignored. ``id`` persists across events, as
    the spec's "last event ID" does. Bytes that are not UTF-8 become U+FFFD. Text is held
    back, unparsed, until a blank line ends an event; then all complete events are split
    out at once (``str.split`` on the blank lines), with a fast path for the common
    one-line ``data:`` event.
    """

    __slots__ = ("_head", "_id", "_raw", "_started", "_tail")

    def __init__(self) -> None:
        self._raw = b""  # the bytes of a UTF-8 character cut by the end of the last chunk
        self._tail: list[str] = []  # text after the last blank line, in pieces (joined once)
        self._id: str | None = None
        self._started = False  # text has arrived (a BOM is stripped only at the start)
        self._head = True  # look at the next text's first character: a BOM, or a LF that
        #                    completes a CR ending the previous chunk (one line break)

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        """Decode ``chunk``; return the events it completed (often none, or several)."""
        if self._raw:
            chunk = self._raw + chunk
        text, used = _utf8_decode(chunk, "replace", False)
        self._raw = chunk[used:] if used < len(chunk) else b""
        if not text:
            return []
        if self._head:
            self._head = False
            if not self._started:
                self._started = True
                if text[0] == "\ufeff":
                    text = text[1:]
            elif text[0] == "\n":
                text = text[1:]
            if not text:
                return []
        if "\r" in text:
            if text[-1] == "\r":
                self._head = True
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        tail = self._tail
        if not tail and text[-2:] == "\n\n":  # the common case: the chunk ends an event
            if text[:6] == "data: " and text.find("\n") == len(text) - 2:  # a single one
                return [SSEEvent("message", text[6:-2], self._id)]
            return self._events(text[:-2])
        end = text.rfind("\n\n")
        if end < 0:
            # no blank line inside this chunk; perhaps one across the boundary
            if not (text[0] == "\n" and tail and tail[-1][-1] == "\n"):
                tail.append(text)
                return []
            end = -1
        rest = text[end + 2 :]
        if tail:
            tail.append(text[: end + 2])
            text = "".join(tail)
            end = len(text) - 2
        self._tail = [rest] if rest else []
        return self._events(text[:end])

    def close(self) -> list[SSEEvent]:
        """At end of stream: a last line without a break, and a pending event, are dispatched."""
        text = "".join(self._tail)
        if self._raw:
            text += _utf8_decode(self._raw, "replace", True)[0]
        self._raw = b""
        self._tail = []
        if text.endswith("\n"):
            text = text[:-1]
        return self._blocks([text]) if text else []

    def _events(self, text: str) -> list[SSEEvent]:
        """Events from ``text``: whole events, separated by blank lines ("\\n\\n")."""
        if text[:6] == "data: ":
            if "\n" not in text:  # one event of one line
                return [SSEEvent("message", text[6:], self._id)]
            # many events, each one "data: " line: one split, no line loop
            values = text.split("\n\ndata: ")
            if text.count("\n") == 2 * len(values) - 2:
                values[0] = values[0][6:]
                last_id = self._id
                return [SSEEvent("message", v, last_id) for v in values]
        return self._blocks(text.split("\n\n"))

    def _blocks(self, blocks: list[str]) -> list[SSEEvent]:
        """Events from ``blocks``: the text between blank lines (each ends an event)."""
        events: list[SSEEvent] = []
        for block in blocks:
            if block[:5] == "data:" and "\n" not in block:  # one data line
                data = block[6:] if block[5:6] == " " else block[5:]
                events.append(SSEEvent("message", data, self._id))
                continue
            lines: list[str] = []
            event = ""
            for line in block.split("\n"):
                if not line:  # a blank line (a block may begin with some)
                    if lines:
                        events.append(SSEEvent(event or "message", "\n".join(lines), self._id))
                        lines = []
                    event = ""
                    continue
                if line[0] == ":":
                    continue  # a comment / keep-alive
                name, _, value = line.partition(":")
                if value[:1] == " ":
                    value = value[1:]
                if name == "data":
                    lines.append(value)
                elif name == "event":
                    event = value
                elif name == "id" and "\x00" not in value:
                    self._id = value
            if lines:
                events.append(SSEEvent(event or "message", "\n".join(lines), self._id))
        return events
