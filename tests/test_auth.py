"""What every request carries besides its body (``transport/auth.py``): the user's extra
headers and query parameters — on every road (a call, a stream, a batch job's requests), each
header once, secret values read from the environment when the request leaves and kept out of
every output — and the magic's ``--header`` / ``--query``, which refuse a credential written
on the line.
"""

from __future__ import annotations

from urllib.parse import parse_qs

import pytest
from IPython.core.error import UsageError

import structmagic as sm
from structmagic.config import resolve

from fakeserver import Reply, chat, chat_stream
from sm_fixtures import CANARY
from wire_helpers import SCHEMA

ANSWER = '{"city": "Paris", "population": 2102650}'
#: a gateway's token, as an environment variable holds it (never on a magic line)
GATEWAY_TOKEN = "gw-7Hq2Lx9Pz4"


def ask(**kw):
    return sm.structured("Population of Paris?", SCHEMA, **kw)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_extra_headers_and_query_go_with_a_call(server, settings, monkeypatch, stream):
    monkeypatch.setenv("GATEWAY_TOKEN", GATEWAY_TOKEN)
    server.queue(chat_stream(ANSWER) if stream else chat(ANSWER))
    ask(stream=stream, extra_headers={"X-Org": "acme", "X-Gateway-Token": "env:GATEWAY_TOKEN"},
        extra_query={"tenant": "t-1", "trace": 7})
    (req,) = server.requests
    assert req.headers["x-org"] == "acme"
    assert req.headers["x-gateway-token"] == GATEWAY_TOKEN  # read as the request left
    assert req.headers["authorization"] == f"Bearer {CANARY}"
    assert parse_qs(req.query) == {"tenant": ["t-1"], "trace": ["7"]}
    assert req.path == "/v1/chat/completions"


def test_each_header_is_sent_once_and_the_users_wins(server, settings):
    server.queue(chat(ANSWER))
    ask(extra_headers={"accept": "application/json; q=1", "CONTENT-TYPE": "application/json"})
    (req,) = server.requests
    repeated = {h for h in req.header_names if req.header_names.count(h) > 1}
    assert not repeated, repeated
    assert req.headers["accept"] == "application/json; q=1"


def test_a_secret_value_is_scrubbed_from_what_the_server_echoes(server, settings, monkeypatch):
    monkeypatch.setenv("GATEWAY_TOKEN", GATEWAY_TOKEN)
    server.queue(Reply.json({"error": {"message": f"bad gateway token {GATEWAY_TOKEN}"}},
                            status=400))
    with pytest.raises(sm.BadRequestError) as info:
        ask(extra_headers={"X-Gateway-Token": "env:GATEWAY_TOKEN"})
    assert GATEWAY_TOKEN not in str(info.value) + repr(info.value)
    assert GATEWAY_TOKEN not in info.value.body_excerpt


def test_an_unset_variable_is_one_config_error_and_nothing_is_sent(server, settings,
                                                                   monkeypatch):
    monkeypatch.delenv("GATEWAY_TOKEN", raising=False)
    with pytest.raises(sm.ConfigError) as info:
        ask(extra_headers={"X-Gateway-Token": "env:GATEWAY_TOKEN"})
    assert info.value.message == ("The environment variable GATEWAY_TOKEN (the value of header "
                                  "X-Gateway-Token) is not set.")
    assert server.requests == []


def test_a_callable_value_is_called_for_each_request(server, settings):
    calls = []

    def signature() -> str:
        calls.append(1)
        return f"sig{len(calls)}-Wq8"

    server.queue(chat(ANSWER), chat(ANSWER))
    ask(extra_headers={"X-Request-Signature": signature})
    ask(extra_headers={"X-Request-Signature": signature})
    assert [r.headers["x-request-signature"] for r in server.requests] == ["sig1-Wq8",
                                                                            "sig2-Wq8"]


def test_configured_and_given_headers_add_up(server, settings):
    sm.configure(extra_headers={"X-Org": "acme", "X-Team": "a"})
    server.queue(chat(ANSWER))
    ask(extra_headers={"x-team": "b"})
    (req,) = server.requests
    assert (req.headers["x-org"], req.headers["x-team"]) == ("acme", "b")


def test_the_headers_reach_a_batch_jobs_requests(server, settings, monkeypatch):
    """Every request structmagic makes passes the one auth flow: a batch of calls too."""
    server.responder = lambda req: chat(ANSWER)
    sm.batch(["a", "b", "c"], SCHEMA, extra_headers={"X-Org": "acme"},
             extra_query={"tenant": "t-1"}, concurrency=2)
    assert len(server.requests) == 3
    assert all(r.headers["x-org"] == "acme" and r.query == "tenant=t-1"
               for r in server.requests)


@pytest.mark.parametrize(("given", "message"), [
    ({"bad name": "x"}, "'bad name' is not a header name"),
    (["X-Org"], "'X-Org' is not NAME=VALUE"),
    ({"X-Org": ["a"]}, "the value of X-Org is a list, not text"),
    ({"X-Org": "caf\u00e9"}, "cannot go in an HTTP header"),
    ({"X-Org": "env:NOT A NAME"}, "does not name an environment variable"),
])
def test_bad_headers_are_config_errors(given, message):
    with pytest.raises(sm.ConfigError, match=message):
        resolve(extra_headers=given)


def test_values_are_shown_only_where_they_are_not_secret(monkeypatch):
    s = resolve(extra_headers={"X-Org": "acme", "api-key": "zK4-literal-9Qw",
                               "X-Token": "env:GATEWAY_TOKEN"},
                extra_query={"tenant": "t-1"})
    shown = s.masked()
    assert shown["extra_headers"] == ("X-Org: acme; api-key: set (secret); X-Token: from "
                                      "environment variable GATEWAY_TOKEN")
    assert shown["extra_query"] == "tenant: t-1"
    assert "zK4-literal-9Qw" not in repr(s) + str(shown)


# --- the magic --------------------------------------------------------------------------------


def test_the_magics_header_and_query_options(ip, server, settings, monkeypatch):
    monkeypatch.setenv("GATEWAY_TOKEN", GATEWAY_TOKEN)
    ip.user_ns["city"] = SCHEMA
    server.queue(chat(ANSWER))
    ip.run_cell_magic("structured", "city -o out --no-stream --header X-Org=acme "
                      "--header X-Gateway-Token=env:GATEWAY_TOKEN --query tenant=t-1",
                      "Population of Paris?")
    assert ip.user_ns["out"] == {"city": "Paris", "population": 2102650}
    (req,) = server.requests
    assert req.headers["x-org"] == "acme" and req.headers["x-gateway-token"] == GATEWAY_TOKEN
    assert req.query == "tenant=t-1"


@pytest.mark.parametrize("option", ["--header Authorization=Bearer-abc123",
                                    "--header api-key=abc123", "--query code=abc123"])
def test_a_credential_on_the_magic_line_is_refused(ip, server, settings, option):
    ip.user_ns["city"] = SCHEMA
    with pytest.raises(UsageError) as info:
        ip.run_cell_magic("structured", f"city -o out --no-stream {option}", "Hi")
    assert "looks like a credential" in str(info.value) and "=env:" in str(info.value)
    assert "out" not in ip.user_ns and server.requests == []


def test_the_help_lists_the_options(ip):
    from structmagic.magic import StructuredMagics

    doc = StructuredMagics.structured.__doc__
    assert "--header NAME=VALUE" in doc and "--query NAME=VALUE" in doc
    assert "NAME=env:VAR" in doc
