"""Cost of one non-streaming structured() call against a loopback server.

Baseline, in the same process against the same server and answer: a bare
``httpx.Client.post`` + ``json.loads`` + jsonschema validation (validator built once).
Target: structmagic at most 1.15x the baseline.

    python benchmarks/bench_call.py [calls]
"""

from __future__ import annotations

import json
import sys

import httpx
import jsonschema
from _common import MATH_SCHEMA, chat, interleave, median, server_process

import structmagic as sm

SCHEMA = MATH_SCHEMA
ANSWER = {
    "steps": [{"explanation": f"step {i}: compare the digits", "output": f"{i}"} for i in range(8)],
    "final_answer": "9.8 is larger",
}


REPLY = chat(json.dumps(ANSWER))


def _answer(req: object) -> object:
    return REPLY


def main() -> None:
    calls = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    # the server in a child process: its threads do not take the measured process's GIL
    with server_process(_answer) as url:
        base = url + "/v1"
        sm.configure(base_url=base, api_key="sk-bench-000000000000", model="bench")
        http = httpx.Client()
        validator = jsonschema.Draft202012Validator(SCHEMA)
        body = {
            "model": "bench",
            "messages": [{"role": "user", "content": "q"}],
            "response_format": {"type": "json_schema", "json_schema": {
                "name": "response", "schema": SCHEMA, "strict": True}},
        }

        def bare() -> None:
            for _ in range(calls):
                r = http.post(base + "/chat/completions", json=body,
                              headers={"Authorization": "Bearer sk-bench-000000000000"})
                data = json.loads(json.loads(r.content)["choices"][0]["message"]["content"])
                validator.validate(data)

        def ours() -> None:
            for _ in range(calls):
                sm.structured("q", SCHEMA)

        bare()
        ours()  # warm both (connections, imports, validator cache)
        times = interleave(15, bare=bare, ours=ours)
    b, o = median(times["bare"]), median(times["ours"])
    print(f"{calls} calls, median of 15 runs each, interleaved")
    print(f"bare httpx post + json.loads + validate : {b * 1000 / calls:7.3f} ms/call")
    print(f"structmagic.structured()                : {o * 1000 / calls:7.3f} ms/call")
    print(f"ratio                                   : {o / b:7.3f}  (target <= 1.15)")


if __name__ == "__main__":
    main()
