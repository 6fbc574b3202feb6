"""One request per row, built exactly as the synchronous path builds its first request, and
the ids that match each result back to its row.

:class:`Plan` is worked out once per batch: the provider, its batch API, the request schema
and the first way of asking (an :class:`~structmagic.call.plan.Asking`), the endpoint.
:func:`build_line` then makes one row's line from the row's first request as the
synchronous call builds it (:meth:`Asking.first`, then the provider's body), so schema
conversion, messages and options are the same — and so are a row's images and documents,
which the provider renders as its parts.

Each row gets a ``custom_id`` ``r{position}-{hash}`` (``^[A-Za-z0-9_-]{1,64}$``): its
position, and the first 8 bytes of a SHA-256 of its request body; where the batch API keeps
no name of ours for a job (Anthropic), ``r{position}-{hash}-{mark}``, the submission's mark
(:mod:`.manifest`) added, so that the results of a job tell which submission made it
(:func:`mark_of`). :class:`RowIndex` keeps those 8 bytes per row (not the ids), and maps a
result's id back to its row only when both the position and the hash match: results are
matched by id, never by order.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ... import errors as E
from ...call.plan import Asking
from ...cost.tokens import count_json
from ...providers import get_provider
from ...transport.request import build, encode

if TYPE_CHECKING:
    from ...config import Settings
    from ...providers import Provider
    from ...providers.base import Step
    from ...providers.batch import BatchAPI
    from ...schema import Conversion, SchemaSpec

__all__ = ["Plan", "RowIndex", "build_line", "build_lines", "custom_id", "mark_of", "plan_for"]

_ID = re.compile(r"r(\d{1,12})-([0-9a-f]{16})(?:-([0-9a-f]{10}))?")
DIGEST = 8  # bytes of the request hash kept per row


@dataclass(frozen=True)
class Plan:
    """What every row of a batch shares: how its rows are asked (:class:`Asking`), the batch
    API, and the endpoint."""

    asking: Asking
    api: BatchAPI
    url: str  # the full URL a synchronous call would POST to
    endpoint: str  # what the batch API calls that endpoint

    @property
    def settings(self) -> Settings:
        return self.asking.settings

    @property
    def spec(self) -> SchemaSpec:
        return self.asking.spec

    @property
    def provider(self) -> Provider:
        return self.asking.provider

    @property
    def request(self) -> Conversion:
        return self.asking.request

    @property
    def step(self) -> Step:
        """The way every row is asked (the first of the ladder)."""
        return self.asking.steps[0]


def plan_for(spec: SchemaSpec, settings: Settings) -> Plan:
    """The shared plan of a batch; :class:`~structmagic.BatchUnavailableError` for a provider
    without a batch API."""
    provider = get_provider(settings.provider)
    api = provider.batch_api
    if api is None:
        raise E.BatchUnavailableError(
            f"The {provider.name} format has no batch API in structmagic.",
            hint="Leave the batch API off (the rows then run as parallel requests).")
    asking = Asking(spec, settings, provider)
    url, _ = build(asking.first("x"), settings, provider)
    return Plan(asking, api, url, api.endpoint(url, settings.base_url))


def custom_id(position: int, digest: bytes, mark: str = "") -> str:
    """The id of a row: its position and the hash of its request (and the submission's
    ``mark``, when given)."""
    return f"r{position}-{digest.hex()}" + (f"-{mark}" if mark else "")


def mark_of(cid: str | None) -> tuple[int, str] | None:
    """The row position and the submission mark in a result's id (None: not one of our ids;
    the mark empty: an id without one)."""
    found = _ID.fullmatch(cid) if isinstance(cid, str) else None
    return None if found is None else (int(found.group(1)), found.group(3) or "")


def build_line(plan: Plan, position: int, prompt: str | Sequence[Mapping[str, Any]],
               parts: Sequence[Any] = ()) -> tuple[bytes, bytes, int]:
    """One row's input line (UTF-8, newline-terminated), its request hash, and its input
    tokens as the estimator counts them (:func:`structmagic.cost.tokens.count_json`);
    ``parts``: the row's images and documents, prepared for the provider.

    Raises :class:`~structmagic.InputError` (or :class:`~structmagic.ConfigError`) for a
    row that cannot be sent, exactly as the synchronous call would.
    """
    line, digest, counted, _ = build_lines(plan, position, prompt, parts)
    return line, digest, counted


def build_lines(plan: Plan, position: int, prompt: str | Sequence[Mapping[str, Any]],
                parts: Sequence[Any] = (), mark: str = "") -> tuple[bytes, bytes, int, bytes]:
    """As :func:`build_line`, with the submission's ``mark`` in the row's id where the API
    keeps no name of ours (``api.named`` false); and, fourth, the line without the mark
    (the same line when it carries none), which keys the part in recordings.

    Raises :class:`~structmagic.InputError` (or :class:`~structmagic.ConfigError`) for a
    row that cannot be sent, exactly as the synchronous call would.
    """
    call = plan.asking.first(prompt, parts)
    url, body = build(call, plan.settings, plan.provider)
    if url != plan.url:
        raise E.InputError(f"Row {position} goes to {url}, not to {plan.url} as the others: "
                           "a batch job has one endpoint.")
    data = encode(body, compact=True)
    body_json = data.decode("utf-8")
    digest = hashlib.sha256(data).digest()[:DIGEST]
    plain = plan.api.line(custom_id(position, digest), plan.endpoint, body_json).encode(
        "utf-8") + b"\n"
    line = plain
    if mark and not plan.api.named:
        line = plan.api.line(custom_id(position, digest, mark), plan.endpoint,
                             body_json).encode("utf-8") + b"\n"
    return line, digest, count_json(body, body_json), plain


class RowIndex:
    """The request hash of every row (8 bytes each), to match result ids back to rows."""

    __slots__ = ("_digests", "_sent", "size")

    def __init__(self, size: int) -> None:
        self.size = size
        self._digests = bytearray(DIGEST * size)
        self._sent = bytearray(size)  # 1: the row went into the job

    def add(self, position: int, digest: bytes) -> None:
        self._digests[DIGEST * position: DIGEST * (position + 1)] = digest
        self._sent[position] = 1

    def sent(self, position: int) -> bool:
        return bool(self._sent[position])

    def custom_id(self, position: int) -> str:
        return custom_id(position, bytes(self._digests[DIGEST * position:
                                                       DIGEST * (position + 1)]))

    def position(self, cid: str | None) -> int | None:
        """The row of a result id, or None when it is not one of this job's ids."""
        if not cid:
            return None
        found = _ID.fullmatch(cid)
        if found is None:
            return None
        position = int(found.group(1))
        if position >= self.size or not self._sent[position]:
            return None
        if self._digests[DIGEST * position: DIGEST * (position + 1)] != bytes.fromhex(
                found.group(2)):
            return None
        return position
