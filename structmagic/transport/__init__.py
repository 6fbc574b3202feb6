"""The transport: HTTP, retries, error mapping at the boundary, and the SSE decoder.

- :mod:`.request` — the one way every request goes: built, encoded, checked for a key, and
  sent through the one retry loop (calls, batch jobs' files and polls, token counts);
- :mod:`.send` — one request of a call: cassette, attempts, reading the answer;
- :mod:`.http` — the shared client or the user's own (``http_client=``), the key's auth;
- :mod:`.retry` — the retry policy in named steps;
- :mod:`.status` — error answers and transport failures as structmagic errors;
- :mod:`.sse` — the incremental Server-Sent Events decoder (pure);
- :mod:`.cassette` — recordings: answers kept and replayed by the request's content;
- :mod:`.fetch` — a URL's bytes for ``inline`` images and documents.
"""

from __future__ import annotations

__all__: list[str] = []
