"""One call: from a prompt and a schema to a validated :class:`~structmagic.Result`.

- :mod:`.plan` — what is sent: the ways of asking, the messages, each request of a call, and
  :func:`~.plan.first_call`, the first request of a row (the one builder the call, batch
  jobs, estimates and budgets share);
- :mod:`.loop` — the request loop: ask → step down → read → re-ask;
- :mod:`.ignored` — whether the answers show that the server ignored the structured-output
  request (the loop then asks the next way at once, or says so in its error);
- :mod:`.prompt` — templates, messages, the JSON read out of an answer;
- :mod:`.partial` — partial values of a streaming answer; :mod:`.live` — passing them on;
- :mod:`.media` — a call's images and documents, prepared for its provider;
- :mod:`.result` — :class:`~structmagic.Result`.
"""

from __future__ import annotations

__all__: list[str] = []
