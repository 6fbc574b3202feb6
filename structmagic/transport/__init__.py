"""The transport: HTTP, retries, error mapping at the boundary, and the SSE decoder.

- :mod:`.send` — one request of a call: cassette, attempts, reading the answer;
- :mod:`.http` — the shared client or the user's own (``http_client=``), the key's auth;
- :mod:`.retry` — the retry policy in named steps;
- :mod:`.status` — error answers and transport failures as structmagic errors;
- :mod:`.sse` — the incremental Server-Sent Events decoder (pure).
"""

from __future__ import annotations
