"""``structured()``: one prompt in, one validated value out.

The steps of a call, each in its own module::

    resolve settings (config) -> load the schema (schema) -> the request loop (loop: plan,
    ask through the transport, step down, read, re-ask) -> Result

This is the boundary of the Python API: whatever goes wrong leaves as a
:class:`~structmagic.StructuredError` (an exception from below that is not one is wrapped,
with the original as its ``__cause__``), and an interrupt leaves without the frames of
httpx, whose locals hold the request headers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from . import errors as E
from .call.live import Observer
from .call.loop import run as run_loop
from .call.media import Media
from .call.prompt import check_prompt
from .call.result import Result
from .call.samples import sampled
from .config import resolve
from .display.render import field_labels
from .redact import safe_cause
from .schema import load_schema

if TYPE_CHECKING:
    from .config import Settings
    from .inputs import Part
    from .schema import SchemaSpec

__all__ = ["Observer", "guarded", "interrupted", "run", "structured"]

T = TypeVar("T")


def structured(
    prompt: str | Sequence[Mapping[str, Any]],
    schema: Any,
    *,
    model: str | None = None,
    system: str | None = None,
    stream: bool = False,
    on_partial: Callable[[Any], None] | None = None,
    steps_field: str | None = None,
    observer: Observer | None = None,
    labels: Mapping[str, str] | None = None,
    images: Any = None,
    files: Any = None,
    detail: str | None = None,
    inline: bool = False,
    downscale: bool = True,
    source: Any = None,
    **options: Any,
) -> Result:
    """Ask for a value that conforms to ``schema`` and return it validated.

    ``prompt`` is the user message (or a list of chat messages). ``schema`` is a JSON Schema
    dict, a ``json_schema`` object or ``response_format`` dict, a JSON string or ``.json``
    path, schema text (``"name, age int, bio: a short bio"``: see
    :func:`structmagic.schema_dsl`), or a Python type (Pydantic model, dataclass,
    TypedDict, ``list[...]``, ...).

    ``images`` and ``files`` (one value or a list) go into the user message: PIL images,
    paths, bytes, http(s) URLs, data URLs, IPython Images, matplotlib figures, PDFs; the kind
    is decided by the value's type and magic bytes, never by a file name. URLs are sent as
    URLs unless ``inline=True`` (fetched here, at most 100 MB in at most 120 s, and sent as
    bytes); ``detail`` is ``"low"``, ``"high"`` or ``"auto"`` (the OpenAI formats); images
    larger than the provider makes use of are downscaled first (with Pillow) unless
    ``downscale=False``. Every limit is checked before anything is sent (:class:`InputError`).
    Options: ``base_url``, ``api_key``, ``provider``, ``temperature``, ``max_tokens``,
    ``mode``, ``retries``, ``reasks``, ``timeout``, ``thinking``, ``cache``, ``cassette``,
    ``http_client`` (an ``httpx.Client`` you own, for proxies, CA bundles, mTLS or a mock
    transport; never closed by structmagic); unset ones come from the configuration. With
    ``stream=True``, ``on_partial(value)`` is called with successive partial values, each a
    consistent prefix of the final one. ``labels`` renames fields in the widget and the HTML
    (``{"final_answer": "Answer"}``); by default they show the schema's titles, or the keys
    made readable.

    ``ground=True`` looks for every value of the answer in its source text and sets
    ``Result.grounding`` (each value's path to a :class:`~structmagic.grounding.Grounding`:
    status, offsets, page) and ``Result.source``; the widget then shows the source with each
    value highlighted. The source is ``source`` (a str), else the text layer of the PDFs in
    ``files``, else the prompt (see :mod:`structmagic.call.grounding`). With
    ``require_grounding=True`` values not found are asked for again within ``reasks``, then
    the call fails with :class:`~structmagic.UngroundedError` (``"warn"``: the answer is
    kept). Grounding is computed here; nothing more is sent.

    ``confidence=True`` asks for the answer's token log-probabilities (Chat Completions, the
    Responses API, llama.cpp's and vLLM's servers) and sets ``Result.confidence``: each leaf
    path's probability (see :mod:`structmagic.call.confidence`); where there are none,
    ``Result.confidence_reason`` says why and nothing fails. ``samples=K`` reads K answers
    (one request with ``n=K`` in Chat Completions, else K requests): each field's value is
    the one most of them gave, and ``Result.agreement`` the share that agree (see
    :mod:`structmagic.call.samples`). ``Result.doubt`` sums up what is known.

    Raises a :class:`structmagic.StructuredError` subclass on any failure.
    """
    media = Media(images, files, detail=detail, inline=inline, downscale=downscale)
    try:
        return guarded(_structured, prompt, schema, {**options, "model": model,
                                                     "system": system}, media, labels,
                       stream=bool(stream or on_partial is not None), on_partial=on_partial,
                       steps_field=steps_field, observer=observer, source=source)
    except KeyboardInterrupt:
        raise interrupted() from None


def _structured(prompt: Any, schema: Any, options: dict[str, Any], media: Media,
                labels: Mapping[str, str] | None, **kw: Any) -> Result:
    settings = resolve(options)
    spec = load_schema(schema)
    shown = field_labels(spec.original, labels)  # checked before anything is sent
    check_prompt(prompt, settings.system)  # before images are fetched (run checks it too)
    result = run(prompt, spec, settings, parts=media.parts(settings, thumbnails=True), **kw)
    result.labels = shown
    return result


def run(prompt: Any, spec: SchemaSpec, settings: Settings, *, stream: bool = False,
        on_partial: Callable[[Any], None] | None = None, observer: Observer | None = None,
        steps_field: str | None = None, gate: Any = None, parts: Sequence[Part] = (),
        source: Any = None, shared: int | None = None) -> Result:
    """One call with settings and schema already resolved (what :func:`batch` runs per item).

    ``parts``: the call's images and documents, prepared for the provider (:class:`Media`);
    ``source``: the text to ground the values in (``ground``); ``shared``: in a run, how many
    leading characters its prompts share (the prompt cache is asked to serve them).
    """
    check_prompt(prompt, settings.system)
    if parts and observer is not None and hasattr(observer, "show_inputs"):
        observer.show_inputs([p.summary() for p in parts])
    asked = 0

    def once(wanted: int = 1) -> Result:
        nonlocal asked
        if asked and observer is not None and hasattr(observer, "restart"):
            observer.restart()  # the next sample streams a new answer
        asked += 1
        return run_loop(prompt, spec, settings, stream=stream, on_partial=on_partial,
                        observer=observer, steps_field=steps_field, gate=gate, parts=parts,
                        source=source, wanted_answers=wanted, shared=shared)

    if settings.samples > 1:
        return sampled(once, settings.samples, spec, steps_field=steps_field)
    return once()


def guarded(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)``, with anything that is not a StructuredError (nor an interrupt)
    wrapped in one: nothing from below escapes as a bare traceback."""
    try:
        return fn(*args, **kwargs)
    except (E.StructuredError, KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except RecursionError:
        raise E.StructuredError(
            "A value nests too deep to be handled (a schema, prompt or answer with hundreds "
            "of levels).") from None
    except Exception as exc:
        raise E.StructuredError(
            f"Unexpected {type(exc).__name__}: {exc}",
            hint="This is not a known failure of the server or the input; the original "
                 "error is this one's __cause__.") from safe_cause(exc)


def interrupted() -> E.CallInterrupted:
    """A fresh interrupt, without the frames of httpx/httpcore below: a verbose traceback
    shows each frame's locals, and the request headers live there; in IPython, one line."""
    return E.CallInterrupted("interrupted: the request was closed and nothing was bound")
