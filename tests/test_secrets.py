"""The API key: cleaned and checked where it comes in, scrubbed (with its pieces) from every
message and hint, and kept out of the log records of the requests.

Every test runs under the canary check of ``sm_fixtures.no_key_leaks``.
"""

from __future__ import annotations

import pytest

import structmagic as sm
from structmagic import config
from structmagic.secret import Secret

from fakeserver import chat

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
