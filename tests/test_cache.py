"""The cassette: keys, header allowlist, modes, damaged lines, unwritable files, incremental
reads."""

from __future__ import annotations

import contextlib
import inspect
import json
import os
import warnings
from types import SimpleNamespace

import pytest

import structmagic as sm
from structmagic import errors as E
from structmagic.errors import CassetteError
from structmagic.transport import cassette as cache
from structmagic.transport.cassette import (
    Cassette,
    CassetteWarning,
    Exchange,
    bad_entry,
    request_key,
)

from fakeserver import chat, chat_stream

SCHEMA = {
    "type": "object",
    "properties": {"a": {"type": "integer"}},
    "required": ["a"],
    "additionalProperties": False,
}
ANSWER_BODY = {"choices": [{"message": {"role": "assistant", "content": '{"a": 1}'},
                            "finish_reason": "stop"}]}


def test_key_ignores_stream_switches_and_depends_on_body_and_provider():
    body = {"model": "m", "messages": [{"role": "user", "content": "q"}]}
    k = request_key("openai", "/v1/chat/completions", body)
    assert k == request_key("openai", "/v1/chat/completions",
                            {**body, "stream": True, "stream_options": {"include_usage": True}})
    assert k != request_key("anthropic", "/v1/chat/completions", body)
    assert k != request_key("openai", "/v1/chat/completions", {**body, "model": "n"})
    assert request_key("gemini", "/v1beta/models/g:streamGenerateContent?alt=sse", body) == \
        request_key("gemini", "/v1beta/models/g:generateContent", body)


def test_roundtrip_and_header_allowlist(tmp_path):
    path = tmp_path / "c.jsonl"
    c = Cassette(path)
    c.add(Exchange(key="k1", provider="openai", path="/v1/chat/completions", status=200,
                   headers={"Content-Type": "application/json", "Set-Cookie": "s=1",
                            "Authorization": "Bearer sk-leak"},
                   stream=False, body={"choices": []}))
    line = json.loads(path.read_text().splitlines()[0])
    assert line["headers"] == {"content-type": "application/json"}
    assert "sk-leak" not in path.read_text()
    fresh = Cassette(path)
    assert fresh.get("k1").body == {"choices": []}
    assert fresh.get("nope") is None
    assert len(fresh) == 1


def test_external_appends_are_seen(tmp_path):
    path = tmp_path / "c.jsonl"
    c = Cassette(path)
    assert c.get("k2") is None
    other = Cassette(path)
    other.add(Exchange(key="k2", provider="openai", path="/p", status=200, headers={},
                       stream=True, body="data: [DONE]\n\n"))
    assert c.get("k2").stream is True


# --- the key of a request --------------------------------------------------------------------

BODY = {"model": "m", "messages": [{"role": "user", "content": "q"}]}


def test_key_is_pinned():
    # The recordings shipped under notebooks/ are looked up by this: a change of the key
    # derivation (a header let in, a switch left out differently) orphans every one of them.
    assert request_key("openai", "/v1/chat/completions", BODY) == (
        "b96b4e2b1a9a1d23fe3dfeee0e9a9492a3e9fa085608ede6b1eb4a9e0c97cd41")
    assert list(inspect.signature(request_key).parameters) == ["provider", "path", "body"]


def test_key_has_the_endpoint_path_but_not_the_query():
    k = request_key("openai", "/v1/chat/completions", BODY)
    assert k != request_key("openai", "/v1/responses", BODY)
    assert k != request_key("openai", "/relay/v1/chat/completions", BODY)
    assert k == request_key("openai", "/v1/chat/completions?api-version=2024-06-01", BODY)


@pytest.mark.parametrize("switch", [{"stream": True}, {"stream": False},
                                    {"stream_options": {"include_usage": True}}])
def test_key_leaves_out_each_stream_switch(switch):
    assert request_key("openai", "/v1/chat/completions", {**BODY, **switch}) == \
        request_key("openai", "/v1/chat/completions", BODY)
    nested = {**BODY, "metadata": switch}  # only the top-level switches are left out
    assert request_key("openai", "/v1/chat/completions", nested) != \
        request_key("openai", "/v1/chat/completions", BODY)


def test_key_normalises_only_geminis_stream_method():
    plain = request_key("gemini", "/v1beta/models/g:generateContent", BODY)
    assert request_key("gemini", "/v1beta/models/g:streamGenerateContent", BODY) == plain
    assert request_key("gemini", "/v1beta/models/g:streamGenerateContent?alt=sse", BODY) == plain
    assert request_key("gemini", "/v1beta/models/g:countTokens", BODY) != plain
    assert request_key("gemini", "/v1beta/models/h:generateContent", BODY) != plain


def test_recorded_key_is_the_request_sent_with_headers_left_out(server, settings, tmp_path):
    path = tmp_path / "rec.jsonl"
    server.queue(chat_stream('{"a": 1}'))
    ask("q", cache="record", cassette=str(path), stream=True)
    sent = server.requests[0]
    line = json.loads(path.read_text())
    assert line["key"] == request_key("openai", sent.path, sent.json)
    assert line["path"] == sent.path == "/v1/chat/completions"
    # another key, other headers (Accept differs without streaming): the same recording
    res = ask("q", cache="replay", cassette=str(path), stream=False,
              api_key="sk-another-key-4242424242")
    assert res.data == {"a": 1} and len(server.requests) == 1


def test_a_replayed_answer_keeps_its_json_text_whole_answer_and_truncation(server, settings,
                                                                          tmp_path):
    path = tmp_path / "rec.jsonl"
    prose = 'Sure:\n```json\n{"a": 1}\n```\nAnything else?'
    server.queue(chat(prose, finish_reason="length"))
    recorded = ask("q", cache="record", cassette=str(path))
    entry = json.loads(path.read_text())  # the answer is recorded, not the Result
    assert entry["body"]["choices"][0]["message"]["content"] == prose
    assert "truncated" not in path.read_text()
    res = ask("q", cache="replay", cassette=str(path))
    assert res.from_cache and len(server.requests) == 1
    assert (res.raw, res.text, res.truncated) == (recorded.raw, prose, True)
    assert res.raw == '{"a": 1}'


# --- damaged lines -----------------------------------------------------------------------------


def ask(prompt, **kw):
    kw.setdefault("mode", "json_schema")
    return sm.structured(prompt, SCHEMA, **kw)


def record(server, path, prompts):
    for i, prompt in enumerate(prompts):
        server.queue(chat(json.dumps({"a": i})))
        ask(prompt, cache="record", cassette=str(path))


def exchange(key, body=None):
    return Exchange(key=key, provider="openai", path="/v1/chat/completions", status=200,
                    headers={}, stream=False, body=body or ANSWER_BODY)


@contextlib.contextmanager
def caught():
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        yield seen


def cassette_warnings(seen):
    return [str(w.message) for w in seen if issubclass(w.category, CassetteWarning)]


def test_damaged_lines_are_skipped_and_reported_once(server, settings, tmp_path):
    path = tmp_path / "rec.jsonl"
    record(server, path, ["one", "two", "three"])
    lines = path.read_text().splitlines()
    damaged = [lines[0], lines[1][: len(lines[1]) // 2], "<<<<<<< HEAD", lines[2], ">>>>>>> x"]
    path.write_text("\n".join(damaged) + "\n")
    server.reset()
    with caught() as seen:
        for _ in range(3):
            assert ask("one", cache="replay", cassette=str(path)).data == {"a": 0}
            assert ask("three", cache="replay", cassette=str(path)).data == {"a": 2}
        with pytest.raises(sm.CassetteMissError):
            ask("two", cache="replay", cassette=str(path))
    shown = cassette_warnings(seen)
    assert len(shown) == 3, shown
    assert shown[0].startswith(f"{path}:2: ") and "not JSON" in shown[0]
    assert shown[1].startswith(f"{path}:3: ") and "merge-conflict marker" in shown[1]
    assert shown[2].startswith(f"{path}:5: ")
    assert server.requests == []


def test_record_mode_keeps_paying_answers_after_a_damaged_line(server, settings, tmp_path):
    path = tmp_path / "rec.jsonl"
    path.write_text('{"key": "abc", "body": {"choi\n')
    with caught() as seen:
        record(server, path, ["one", "two"])
        assert ask("two", cache="replay", cassette=str(path)).data == {"a": 1}
    assert len(cassette_warnings(seen)) == 1
    assert len(server.requests) == 2
    assert len(Cassette(path)) == 2


def test_append_after_a_cut_off_last_line_starts_on_a_new_line(tmp_path):
    path = tmp_path / "rec.jsonl"
    Cassette(path).add(exchange("k1"))
    whole = exchange("k2").to_json()
    with path.open("a") as fh:
        fh.write(whole[:40])  # a writer killed mid-line
    c = Cassette(path)
    with caught() as seen:
        assert c.get("k1") is not None and c.get("k2") is None
        c.add(exchange("k3"))
        assert c.get("k3") is not None
    lines = path.read_text().splitlines()
    assert len(lines) == 3 and lines[1] == whole[:40]
    assert json.loads(lines[2])["key"] == "k3"
    shown = cassette_warnings(seen)
    assert len(shown) == 1 and shown[0].startswith(f"{path}:2: ") and "cut off" in shown[0]
    fresh = Cassette(path)
    with caught() as seen:
        assert fresh.get("k3").line == 3 and fresh.get("k1").line == 1
    assert len(cassette_warnings(seen)) == 0  # line 2 of this file was reported already


def test_a_whole_last_entry_without_its_newline_replays(tmp_path):
    path = tmp_path / "rec.jsonl"
    path.write_text(exchange("k1").to_json() + "\n" + exchange("k2").to_json())
    c = Cassette(path)
    with caught() as seen:
        assert c.get("k2") is not None
        c.add(exchange("k3"))
    assert cassette_warnings(seen) == []
    assert [json.loads(x)["key"] for x in path.read_text().splitlines()] == ["k1", "k2", "k3"]


def test_batch_over_a_damaged_cassette_loses_nothing(server, settings, tmp_path):
    path = tmp_path / "rec.jsonl"
    record(server, path, ["p0", "p1"])
    with path.open("a") as fh:
        fh.write("{not json\n")
    server.reset()
    server.responder = lambda req: chat('{"a": 7}')
    with caught():
        results = sm.batch([f"p{i}" for i in range(5)], SCHEMA, cache="cache",
                           cassette=str(path), mode="json_schema", concurrency=3)
        assert [r.data for r in results] == [{"a": 0}, {"a": 1}, *[{"a": 7}] * 3]
        assert len(server.requests) == 3
        again = sm.batch([f"p{i}" for i in range(5)], SCHEMA, cache="cache",
                         cassette=str(path), mode="json_schema", concurrency=3)
    assert [r.data for r in again] == [r.data for r in results]
    assert len(server.requests) == 3  # nothing paid twice


# --- entries that are not answers --------------------------------------------------------------


def test_exchange_knows_its_file_and_line_and_bad_entry_names_them(tmp_path):
    path = tmp_path / "rec.jsonl"
    path.write_text("\n" + exchange("k1").to_json() + "\n" + exchange("k2").to_json() + "\n")
    hit = Cassette(path).get("k2")
    assert (hit.source, hit.line) == (str(path), 3)
    err = bad_entry(hit, ValueError("no 'choices' list"))
    assert isinstance(err, sm.StructuredError) and isinstance(err, CassetteError)
    assert str(err).startswith(f"{path}:3: ") and "no 'choices' list" in str(err)
    assert issubclass(sm.CassetteMissError, CassetteError)
    assert "CassetteError" in E.__all__ and "CassetteError" in E.__doc__


def test_entry_that_is_not_an_answer_is_a_cassette_error(server, settings, tmp_path):
    path = tmp_path / "rec.jsonl"
    record(server, path, ["one"])
    line = json.loads(path.read_text())
    line["body"] = {"object": "error", "message": "not an answer"}
    path.write_text(json.dumps(line) + "\n")
    with pytest.raises(CassetteError) as info:
        ask("one", cache="replay", cassette=str(path))
    assert str(info.value).startswith(f"{path}:1: ")
    assert len(server.requests) == 1  # only the recording call


# --- files that cannot be written --------------------------------------------------------------


def unwritable_paths(tmp_path):
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    folder = tmp_path / "a-folder.jsonl"
    folder.mkdir()
    paths = {"parent is a file": a_file / "rec.jsonl", "a folder": folder}
    if os.geteuid() != 0:  # root writes read-only files all the same
        ro = tmp_path / "ro.jsonl"
        ro.write_text("")
        ro.chmod(0o444)
        paths["read-only"] = ro
    return paths


def test_check_writable_refuses_what_cannot_be_written(tmp_path):
    for what, path in unwritable_paths(tmp_path).items():
        c = Cassette(path)
        with pytest.raises(CassetteError, match="cannot be written") as info:
            c.check_writable()
        assert str(path) in str(info.value), what
        assert "nothing was sent" in str(info.value)
    Cassette(tmp_path / "new" / "deeper" / "rec.jsonl").check_writable()
    assert not (tmp_path / "new").exists()  # the check created nothing


def test_check_writable_is_cached_until_an_append_fails(tmp_path, monkeypatch):
    calls = []
    real = cache._unwritable
    monkeypatch.setattr(cache, "_unwritable", lambda p: calls.append(p) or real(p))
    c = Cassette(tmp_path / "rec.jsonl")
    for _ in range(3):
        c.check_writable()
    assert len(calls) == 1
    monkeypatch.setattr(c, "_append", lambda data: (_ for _ in ()).throw(OSError(28, "No "
                                                                                 "space left")))
    with caught():
        c.add(exchange("k1"))
    checked = len(calls)
    c.check_writable()  # an append failed since: checked again
    assert len(calls) == checked + 1


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_disk_full_keeps_the_answer_and_warns_once(server, settings, tmp_path):
    path = tmp_path / "full.jsonl"
    path.symlink_to("/dev/full")  # every write fails with ENOSPC
    server.responder = lambda req: chat('{"a": 5}')
    with caught() as seen:
        first = ask("q1", cache="cache", cassette=str(path))
        second = ask("q2", cache="record", cassette=str(path))
        again = ask("q1", cache="cache", cassette=str(path))
    assert (first.data, second.data, again.data) == ({"a": 5},) * 3
    assert len(server.requests) == 2  # the answer kept in memory was not paid again
    shown = cassette_warnings(seen)
    assert len(shown) == 1 and "/dev/full" in shown[0] and "No space left" in shown[0]


def test_unwritable_cassette_pays_for_nothing(server, settings, tmp_path):
    server.responder = lambda req: chat('{"a": 1}')
    for path in unwritable_paths(tmp_path).values():
        with pytest.raises(CassetteError, match=r"cannot be (written|read)"):
            ask("q", cache="cache", cassette=str(path))
        results = sm.batch([f"q{i}" for i in range(5)], SCHEMA, cache="record",
                           cassette=str(path), mode="json_schema")
        assert all(isinstance(r.error, CassetteError) for r in results)
    assert server.requests == []


# --- incremental reads -------------------------------------------------------------------------


@pytest.fixture
def parsed(monkeypatch):
    """How many lines the cassette code has parsed (json.loads calls)."""
    count = [0]

    def loads(text, *a, **kw):
        count[0] += 1
        return json.loads(text, *a, **kw)

    monkeypatch.setattr(cache, "json", SimpleNamespace(
        loads=loads, dumps=json.dumps, JSONDecodeError=json.JSONDecodeError))
    return count


def fill(path, keys):
    with path.open("a") as fh:
        for key in keys:
            fh.write(exchange(key).to_json() + "\n")


def test_reads_only_what_another_writer_appended(tmp_path, parsed):
    path = tmp_path / "rec.jsonl"
    fill(path, [f"k{i}" for i in range(200)])
    c = Cassette(path)
    assert len(c) == 200 and parsed[0] == 200
    for round_ in range(3):
        fill(path, [f"other{round_}"])  # another process appends
        c.add(exchange(f"mine{round_}"))
        assert c.get(f"other{round_}") is not None and c.get(f"mine{round_}") is not None
    assert parsed[0] == 200 + 3 * 2  # each new line read once, the old ones never again
    assert c.get("k0").line == 1 and c.get("mine2").line == 206
    before = parsed[0]
    for _ in range(5):
        c.get("k5")
    assert parsed[0] == before  # nothing new: no reading at all


def test_a_file_that_shrank_is_read_again(tmp_path, parsed):
    path = tmp_path / "rec.jsonl"
    fill(path, ["a", "b", "c"])
    c = Cassette(path)
    assert c.get("c") is not None
    with path.open("r+") as fh:  # the same file, cut down in place
        fh.truncate(0)
    fill(path, ["d"])
    assert c.get("c") is None and c.get("a") is None and c.get("d").line == 1


def test_a_replaced_file_is_read_again(tmp_path):
    path = tmp_path / "rec.jsonl"
    fill(path, ["a", "b"])
    c = Cassette(path)
    assert c.get("a") is not None
    other = tmp_path / "other.jsonl"
    fill(other, ["x", "y", "z"])  # longer than the original: size alone would not tell
    os.replace(other, path)  # git checkout, a download, an editor's save
    assert c.get("a") is None and c.get("z").line == 3
    path.unlink()
    assert c.get("x") is None and len(c) == 0
