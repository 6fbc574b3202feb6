"""The API key: cleaned and checked where it comes in, scrubbed (with its pieces) from every
message and hint, and kept out of the log records of the requests.

Every test runs under the canary check of ``sm_fixtures.no_key_leaks``.
"""

from __future__ import annotations

import json
import logging

import pytest

import structmagic as sm
from structmagic import config, redact
from structmagic import errors as E
from structmagic.secret import Secret

from fakeserver import Reply, chat

SCHEMA = {
    "type": "object",
    "properties": {"a": {"type": "integer"}},
    "required": ["a"],
    "additionalProperties": False,
}


def ask(**kw):
    return sm.structured("q", SCHEMA, mode="json_schema", **kw)


def _use_env_key(monkeypatch, value: str) -> None:
    config.configure(api_key=None)
    monkeypatch.setenv("OPENAI_API_KEY", value)


# --- whitespace around a pasted key ------------------------------------------------------------


PASTED = ["{k}\n", "{k}\r\n", "{k}\t", "  {k} \n", "\t{k}"]


@pytest.mark.parametrize("pasted", PASTED)
@pytest.mark.parametrize("source", ["environment", "configure", "argument"])
def test_pasted_key_is_stripped_and_the_server_gets_it_clean(server, settings, canary,
                                                             monkeypatch, pasted, source):
    key = pasted.format(k=canary)
    kw = {}
    if source == "environment":
        _use_env_key(monkeypatch, key)
    elif source == "configure":
        sm.configure(api_key=key)
    else:
        kw["api_key"] = key
    server.queue(chat('{"a": 1}'))
    assert ask(**kw).data == {"a": 1}
    assert len(server.requests) == 1  # no retries of a request that could never go out
    assert server.requests[0].headers["authorization"] == f"Bearer {canary}"


def test_pasted_key_through_the_magic(ip, server, canary, monkeypatch):
    _use_env_key(monkeypatch, canary + "\n")
    server.queue(chat('{"a": 1}'))
    ip.user_ns["s"] = SCHEMA
    ip.run_cell_magic("structured", "s -o x --no-stream", "q")
    assert ip.user_ns["x"] == {"a": 1}
    assert server.requests[0].headers["authorization"] == f"Bearer {canary}"


def test_typed_key_is_a_secret_checked_the_same_way(canary):
    secret = Secret(f"\t{canary}\n", "typed at the %structured_config prompt")
    assert secret.get_secret_value() == canary
    with pytest.raises(sm.ConfigError, match="empty"):
        Secret(" \n", "typed at the %structured_config prompt")


# --- characters that cannot go in a header ------------------------------------------------------


@pytest.mark.parametrize(
    ("inserted", "named"),
    [
        ("\u00a0", "no-break space (U+00A0)"),
        ("\u200b", "zero width space (U+200B)"),
        ("é", "latin small letter e with acute (U+00E9)"),
        ("\n", "line feed character (U+000A)"),
        ("\x1b", "control character (U+001B)"),
        ("\x7f", "U+007F"),
    ],
)
def test_key_with_an_illegal_character_is_a_config_error(server, settings, canary, monkeypatch,
                                                         inserted, named):
    bad = canary[:10] + inserted + canary[10:]
    _use_env_key(monkeypatch, bad)
    with pytest.raises(sm.ConfigError) as info:
        ask()
    text = str(info.value)
    assert "environment variable OPENAI_API_KEY" in text
    assert "cannot go in an HTTP header" in text
    assert named in text
    assert "character 11 of" in text
    for piece in (bad, canary[:10], canary[10:], canary[-6:]):
        assert piece not in text and piece not in repr(info.value)
    assert server.requests == []  # nothing went out


def test_illegal_key_in_the_magic_is_one_paragraph_even_under_verbose(ip, server, canary,
                                                                      monkeypatch, capfd):
    _use_env_key(monkeypatch, canary[:8] + "\u00a0" + canary[8:])
    ip.user_ns.update(s=SCHEMA, x="before")
    ip.run_cell("%xmode Verbose", store_history=False)
    try:
        res = ip.run_cell("%%structured s -o x\nq", store_history=False)
    finally:
        ip.run_cell("%xmode Context", store_history=False)
    assert isinstance(res.error_in_exec, sm.ConfigError)
    assert ip.user_ns["x"] == "before"
    out, err = capfd.readouterr()
    shown = out + err
    assert "ConfigError" in shown and "no-break space" in shown
    assert "Traceback" not in shown and "httpx" not in shown
    for piece in (canary[:8], canary[8:], canary[-6:]):
        assert piece not in shown
    assert server.requests == []


def test_configure_refuses_an_illegal_key_at_once(canary):
    with pytest.raises(sm.ConfigError, match=r"structmagic\.configure\(api_key=\.\.\.\)"):
        sm.configure(api_key=canary + "\u00a0x")


def test_config_secret_is_the_secret_class():
    assert config.Secret is Secret


# --- scrubbing the key and pieces of it ----------------------------------------------------------

KEY = "sk-Hx7Qp2Lm9Vt4Rw8Zk3Nb"


@pytest.fixture
def key():
    redact.register_secret(KEY)
    return KEY


def test_scrub_head_only_run(key):
    text = f"Incorrect API key provided: {key[:8]}***. See the docs."
    assert redact.scrub(text) == "Incorrect API key provided: ******. See the docs."


def test_scrub_tail_only_run(key):
    for tail in (key[-4:], key[-5:], key[-9:]):
        text = f"key ending in ...{tail}, request req_1"
        clean = redact.scrub(text)
        assert tail not in clean and clean == "key ending in ...***, request req_1"


def test_scrub_relay_mask_first_8_last_4(key):
    masked = f"{key[:8]}***{key[-4:]}"
    clean = redact.scrub(f'{{"error": "invalid key {masked}"}}')
    assert key[:8] not in clean and key[-4:] not in clean
    assert clean.startswith('{"error": "invalid key ***')


def test_scrub_whole_key_anywhere(key):
    assert redact.scrub(f"x{key}y and {key}") == "x***y and ***"


@pytest.mark.parametrize(
    "text",
    [
        "risk-averse sk-a task-planning",  # the public head "sk-" with fewer than 4 more
        "keys look like sk-... or sk-proj-...",
        f"the word {KEY[-4:]}s goes on",  # a tail run inside a longer word
        f"pre{KEY[:9]}",  # a head run not at the start of a word
        "HTTP 401 Unauthorized: invalid_api_key",
        "",
    ],
)
def test_scrub_leaves_text_without_key_pieces_unchanged(key, text):
    assert redact.scrub(text) == text


def test_vendor_prefix_does_not_count_toward_a_head_run():
    proj = "sk-proj-Q8vWm3Kd7Tq1Zr5Yp9Hc"
    redact.register_secret(proj)
    assert redact.scrub("all project keys start with sk-proj-") == (
        "all project keys start with sk-proj-")
    assert redact.scrub(f"{proj[:12]}*** was rejected") == "****** was rejected"
    assert redact.scrub(f"{proj[:11]}***") == f"{proj[:11]}***"  # 3 characters past the prefix


def test_hint_is_scrubbed_when_given_and_when_set(key):
    err = E.StructuredError("failed", hint=f"the key {key} was rejected")
    assert key not in err.hint and key not in str(err)
    err.hint = f"Gave up after 3 attempts. The key {key[:9]}*** ..."
    assert key[:9] not in err.hint and key[:9] not in str(err)
    err.hint = None
    assert str(err) == "failed"


def test_401_echoing_a_masked_key_shows_no_piece_of_it(server, settings, canary):
    masked = f"{canary[:8]}***{canary[-4:]}"
    server.queue(Reply.status(401, f"Incorrect API key provided: {masked}. Find yours at ..."))
    with pytest.raises(sm.AuthenticationError) as info:
        ask()
    err = info.value
    for text in (str(err), repr(err), err.body_excerpt):
        assert canary[:8] not in text and canary[-4:] not in text
    assert "Incorrect API key provided: ***" in str(err)


def test_401_echoing_only_the_key_tail_is_scrubbed(server, settings, canary):
    server.queue(Reply.status(401, f"No key ending in {canary[-5:]} exists."))
    with pytest.raises(sm.AuthenticationError) as info:
        ask()
    assert canary[-5:] not in str(info.value)
    assert canary[-5:] not in info.value.body_excerpt
    assert "No key ending in *** exists." in str(info.value)


# --- log records -------------------------------------------------------------------------------


def test_key_echoed_in_a_response_header_never_reaches_a_log_record(server, settings, canary,
                                                                    caplog):
    from structmagic import redact

    redact.install()
    redact.install()  # idempotent
    assert logging.getLogger("httpcore.http11").filters.count(redact._filter) == 1
    server.responder = lambda req: Reply.status(
        401, "bad key", headers={"www-authenticate": f'Bearer realm="api", error="invalid", '
                                 f'key="{req.headers["authorization"]}"'})
    caplog.set_level(logging.DEBUG)
    with pytest.raises(sm.AuthenticationError):
        ask()
    messages = [r.getMessage() for r in caplog.records]
    headers = [m for m in messages if "www-authenticate" in m]
    assert headers, "httpcore logged no response headers: the test proves nothing"
    assert all("***" in m for m in headers)
    for record in caplog.records:
        text = record.getMessage() + (record.exc_text or "")
        assert canary not in text and canary[-6:] not in text
    assert server.requests[0].headers["authorization"] == f"Bearer {canary}"


def test_filter_scrubs_args_of_any_type_and_exception_text(canary):
    from structmagic.redact import RedactingFilter

    try:
        raise ValueError(f"Illegal header value b'Bearer {canary}'")
    except ValueError:
        import sys

        exc_info = sys.exc_info()
    record = logging.LogRecord("httpcore.http11", logging.DEBUG, __file__, 1,
                               "headers=%r note=%s", ([(b"x-key", canary.encode())], canary),
                               exc_info)
    assert RedactingFilter().filter(record) is True
    assert canary not in record.getMessage() and "headers=[(b'x-key', b'***')]" in \
        record.getMessage()
    assert canary not in record.exc_text and "Illegal header value" in record.exc_text
    plain = logging.LogRecord("httpx", logging.INFO, __file__, 1, "HTTP Request: %s %s",
                              ("POST", "http://x/v1"), None)
    RedactingFilter().filter(plain)
    assert (plain.msg, plain.args) == ("HTTP Request: %s %s", ("POST", "http://x/v1"))


def test_filter_does_not_mind_a_record_without_secrets():
    record = logging.LogRecord("structmagic", logging.INFO, __file__, 1, "%d items", (3,), None)
    assert json.dumps(record.args) == "[3]"
    from structmagic.redact import RedactingFilter

    assert RedactingFilter().filter(record)
    assert record.getMessage() == "3 items"


# --- the cause chain -------------------------------------------------------------------------


def test_a_hook_raising_with_the_headers_leaves_no_key_in_the_cause_chain(ip, server,
                                                                         settings, capfd):
    """A user's request hook that raises with the request headers in its message: the
    StructuredError's text is scrubbed, and so is its ``__cause__``, which IPython prints
    under it (its locals too, under ``%xmode Verbose``)."""
    import traceback

    import httpx

    def refuse(request: httpx.Request) -> None:
        raise RuntimeError(f"proxy refused the request with headers {dict(request.headers)}")

    client = httpx.Client(event_hooks={"request": [refuse]})
    try:
        with pytest.raises(sm.StructuredError) as info:
            ask(http_client=client)
        chain = []
        link: BaseException | None = info.value
        while link is not None:
            chain.append(link)
            link = link.__cause__ or link.__context__
        assert len(chain) == 2 and "proxy refused" in str(chain[1])  # the cause is kept...
        shown = "".join(traceback.format_exception(info.value))
        assert "RuntimeError: proxy refused the request" in shown
        assert settings_key() not in shown  # ...scrubbed
        assert "/httpx/" not in shown  # no frame of httpx, whose locals hold the headers
        ip.user_ns.update(s=SCHEMA)
        config.configure(http_client=client)
        ip.run_cell("%xmode Verbose", store_history=False)
        try:
            res = ip.run_cell("%%structured s -o x\nq", store_history=False)
        finally:
            ip.run_cell("%xmode Context", store_history=False)
            config.configure(http_client=None)
        assert isinstance(res.error_in_exec, sm.StructuredError)
    finally:
        client.close()
    out, err = capfd.readouterr()
    assert "proxy refused" in out + err
    assert settings_key() not in out + err and settings_key()[-6:] not in out + err
    assert server.requests == []


def settings_key() -> str:
    return config.resolve().key().get_secret_value()
