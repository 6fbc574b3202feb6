"""Recordings of requests that carry images or documents.

A request body holds each payload in base64 (several megabytes for a photo). A recording
keeps the body with every payload replaced by its content hash — ``"sha256:<hex>"`` for bare
base64, ``"data:<mime>;sha256,<hex>"`` for a data URL — and keys the request by the hash of
that body, which is a content hash of the request all the same: the key changes whenever a
payload does. Replay needs only the key, computed from the live request, so the payloads are
not stored at all (not once, let alone twice), and a 5 MB image adds under 100 bytes to its
line.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .parts import Part

__all__ = ["message_parts", "payload_refs"]

#: strings shorter than this are never payloads worth replacing (saves lookups)
_MIN_PAYLOAD = 64


def message_parts(messages: Iterable[Mapping[str, Any]]) -> tuple[Part, ...]:
    """The parts carried by some messages (each once, in order)."""
    seen: dict[int, Part] = {}
    for message in messages:
        content = message.get("content")
        if isinstance(content, (list, tuple)):
            for item in content:
                if isinstance(item, Part) and id(item) not in seen:
                    seen[id(item)] = item
    return tuple(seen.values())


def payload_refs(body: Any, parts: Sequence[Part]) -> Any:
    """``body`` with each part's payload (base64 or data URL) replaced by its hash.

    A body without such payloads comes back as it is (the same object).
    """
    table: dict[str, str] = {}
    for part in parts:
        if part.data is None:
            continue
        table[part.b64] = f"sha256:{part.digest}"
        table[part.data_url] = f"data:{part.mime};sha256,{part.digest}"
    if not table:
        return body
    return _walk(body, table)


def _walk(node: Any, table: dict[str, str]) -> Any:
    if isinstance(node, str):
        return table.get(node, node) if len(node) >= _MIN_PAYLOAD else node
    if isinstance(node, dict):
        return {k: _walk(v, table) for k, v in node.items()}
    if isinstance(node, list):
        return [_walk(v, table) for v in node]
    return node
