"""The IPython front end: ``%%structured``, ``%structured_config``, ``%structured_schema``
and ``%structured_batches``.

Usage::

    %load_ext structmagic

    %%structured math_reasoning -o answer --system "You are a helpful math tutor."
    Which is larger, 9.11 or 9.8?

The schema comes from a notebook variable; the cell body (with ``{name}`` filled from the
notebook) is the user message; the validated value is bound to ``answer``. ``%%structured?``
lists every option, in sections. In place of the variable, schema text in quotes::

    %%structured "name, born int, known_for: one sentence" -o person
    Ada Lovelace

    %structured_schema "name, born int, known_for: one sentence"   # its JSON Schema

Configuration (``%structured_config`` shows and sets it; ``%config`` works too)::

    %structured_config --model gpt-4o-mini --base-url https://relay.example/v1
    %structured_config --price my-model=0.2,0.8     # USD per million tokens, in / out
    %config StructuredMagics.model = "gpt-4o-mini"

Cost: ``--each VAR --estimate`` says what a column will cost before it runs (``--exact``,
``--sample K``); ``--max-cost USD`` stops a column before it would pass USD.

A whole column through the provider's batch API (half the price, past the rate limits;
re-running the cell re-attaches to the job instead of submitting again)::

    %%structured invoice_schema --each texts -o invoices --batch-api
    Extract the invoice: {item}

    %structured_batches                  # the jobs of the manifest, with status and cost
    %structured_batches --cancel 3f2a9c

The API key comes from the environment (``OPENAI_API_KEY``, or the variable named by
``--key-env``), from ``structmagic.configure(api_key=...)``, or from ``%structured_config
--key``, which asks for it without echo. There is no key option on the magic line: IPython's
history keeps every line.

Everything that imports ``IPython.core`` is in this package: :mod:`.magics` (the class),
:mod:`.options` (the options in groups, parsed and checked), :mod:`.keys`, :mod:`.notebook`
(reading and binding names), :mod:`.cell` (one cell), :mod:`.each` (``--each``),
:mod:`.batches` (progress bars, batch jobs, ``%structured_batches``), :mod:`.configuring`
(``%structured_config``), :mod:`.schema_text` (``%structured_schema``).
"""

from __future__ import annotations

from .magics import StructuredMagics

__all__ = ["StructuredMagics"]
