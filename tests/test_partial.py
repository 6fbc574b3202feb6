"""The partial JSON parser: properties (prefix-consistent, == json.loads), units, linear work."""

from __future__ import annotations

import copy
import json
import math
import pickle
import re
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import structmagic.call.partial as partial_module
from structmagic.call.live import PartialReporter
from structmagic.call.partial import MISSING, PartialJSONError, PartialJSONParser
from structmagic.providers.base import Delta

# --- partial JSON: helpers ------------------------------------------------------------------


def same(a, b) -> bool:
    """Equal, with the same types all the way down (1, 1.0 and True differ; so do 0.0, -0.0)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float):
        return repr(a) == repr(b)
    return a == b


def is_prefix_consistent(partial, final) -> bool:
    """``partial`` could grow into ``final``: a snapshot taken on the way to it."""
    if partial is MISSING:
        return True
    if isinstance(final, dict):
        if not isinstance(partial, dict) or not set(partial) <= set(final):
            return False
        keys = list(partial)
        if keys != [k for k in final if k in partial]:  # members arrive in order
            return False
        return all(
            is_prefix_consistent(partial[k], final[k]) if k == keys[-1]
            else same(partial[k], final[k])
            for k in keys
        )
    if isinstance(final, list):
        if not isinstance(partial, list) or len(partial) > len(final):
            return False
        if not partial:
            return True
        done = len(partial) - 1
        return all(same(x, y) for x, y in zip(partial[:done], final[:done], strict=True)) and (
            is_prefix_consistent(partial[-1], final[done]))
    if isinstance(final, str):
        return isinstance(partial, str) and final.startswith(partial)
    return same(partial, final)


def test_is_prefix_consistent_itself():
    final = {"a": [1, "xyz", {"b": True}], "c": "hello"}
    assert is_prefix_consistent({}, final)
    assert is_prefix_consistent({"a": [1, "x"]}, final)
    assert is_prefix_consistent({"a": [1, "xyz", {}]}, final)
    assert is_prefix_consistent({"a": [1, "xyz", {"b": True}], "c": "he"}, final)
    assert not is_prefix_consistent({"a": [1, "xy"], "c": ""}, final)  # "xy" not the last
    assert not is_prefix_consistent({"c": "", "a": []}, final)  # order
    assert not is_prefix_consistent({"a": [True]}, final)  # True is not 1
    assert not is_prefix_consistent({"a": [1, "xz"]}, final)
    assert not is_prefix_consistent([], final)


def chunked(text: str, cuts: list[int]) -> list[str]:
    points = sorted({c % (len(text) + 1) for c in cuts})
    pieces, last = [], 0
    for p in points:
        pieces.append(text[last:p])
        last = p
    pieces.append(text[last:])
    return [p for p in pieces if p]


def run_checked(pieces: list[str], final, **kwargs):
    """Feed ``pieces``, snapshot after each, check every rule; return the finished value."""
    parser = PartialJSONParser(**kwargs)
    history = []  # (snapshot, a deep copy of it taken right away)
    for piece in pieces:
        parser.feed(piece)
        snap = parser.snapshot()
        history.append((snap, copy.deepcopy(snap)))
    result = parser.finish()
    assert same(result, final), (result, final)
    assert same(parser.finish(), final)  # finish() can be asked again
    assert parser.done
    assert parser.text == "".join(pieces)
    previous = MISSING
    for snap, frozen in history:
        assert snap is frozen or same(snap, frozen), "a later feed changed an earlier snapshot"
        assert is_prefix_consistent(snap, final), (snap, final)
        assert is_prefix_consistent(previous, snap if snap is not MISSING else final)
        previous = snap
    return result


_tricky = st.sampled_from(["\ud83d", "\ude00", "😀", "\\", '"', "/", "\u2028", "\x00", "\x1f",
                           "\x7f", "é", "和", "\\u", "\n"])
texts = st.lists(st.one_of(st.characters(exclude_categories=()), _tricky), max_size=10).map(
    "".join)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | texts,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(texts, children, max_size=5),
    max_leaves=25,
)


# --- partial JSON: properties ---------------------------------------------------------------


@given(json_values, st.booleans(), st.sampled_from([None, 0, 2]),
       st.lists(st.integers(min_value=0), max_size=40))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_value_any_chunking(value, ascii_only, indent, cuts):
    text = json.dumps(value, ensure_ascii=ascii_only, indent=indent)
    run_checked(chunked(text, cuts), json.loads(text))


@given(json_values.filter(lambda v: isinstance(v, dict | list)),
       st.text(st.characters(exclude_characters="{["), max_size=15),
       st.text(max_size=15), st.lists(st.integers(min_value=0), max_size=20))
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_skip_prefix_any_prose_around_a_container(value, prefix, suffix, cuts):
    body = json.dumps(value, ensure_ascii=False)
    text = prefix + body + suffix
    run_checked(chunked(text, cuts), json.loads(body), skip_prefix=True)


@given(json_values, st.integers(min_value=0),
       st.sampled_from(["}", "]", ",", ":", '"', "x", "\\", "1", "-", ".", " ", "delete"]),
       st.lists(st.integers(min_value=0), max_size=8))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_edited_text_agrees_with_json_loads_for_any_chunking(value, at, edit, cuts):
    text = json.dumps(value)
    k = at % (len(text) + 1)
    edited = text[:k] + text[k + 1 :] if edit == "delete" else text[:k] + edit + text[k:]
    try:
        expected, valid = json.loads(edited), True
    except ValueError:
        expected, valid = None, False
    outcomes = set()
    for pieces in ([edited], list(edited), chunked(edited, cuts)):
        parser = PartialJSONParser()
        try:
            for p in pieces:
                parser.feed(p)
            got = parser.finish()
        except PartialJSONError as exc:
            outcomes.add(str(exc))
        else:
            assert valid and same(got, expected), (edited, got)
            outcomes.add("ok")
    assert len(outcomes) == 1, outcomes  # the same error, whatever the chunking
    outcome = outcomes.pop()
    assert (outcome == "ok") == valid, (edited, outcome)
    if not valid:
        assert re.match(r"invalid JSON(: no JSON value| at character \d+: )", outcome)


# --- partial JSON: units --------------------------------------------------------------------


def snapshots(pieces: list[str], **kwargs) -> list:
    parser = PartialJSONParser(**kwargs)
    out = []
    for p in pieces:
        parser.feed(p)
        out.append(parser.snapshot())
    return out


@pytest.mark.parametrize(
    ("pieces", "expected"),
    [
        (['{"a": "x\\', 'ny"}'], [{"a": "x"}, {"a": "x\ny"}]),
        (['["a\\u00', 'e9b"]'], [["a"], ["aéb"]]),
        (['["\\ud83d', '\\ude00"]'], [[""], ["😀"]]),
        (['["\\ud83d\\u', 'de00 ok"]'], [[""], ["😀 ok"]]),
        (['["\\ud83d\\', "ude00", '"]'], [[""], ["😀"], ["😀"]]),
        (['["x\\ud83d', '\\n"]'], [["x"], ["x\ud83d\n"]]),  # a lone high surrogate, as loads
        (['["\\ud83d\\ud83d', "\\ude00", '"]'], [["\ud83d"], ["\ud83d😀"], ["\ud83d😀"]]),
        (['{"n": 12', '3, "b": 1}'], [{}, {"n": 123, "b": 1}]),
        (['{"n": -', "0.5e", "-3", "}"], [{}, {}, {}, {"n": -0.0005}]),
        (['{"k', 'ey": tr', "ue", "}"], [{}, {}, {"key": True}, {"key": True}]),
        (['{"a": [1, 2', ', 3]}'], [{"a": [1]}, {"a": [1, 2, 3]}]),
        (['{"a": "', "", "b"], [{"a": ""}, {"a": ""}, {"a": "b"}]),
        (["  ", '["', 'x", {"y"', ": [", "]"], [MISSING, [""], ["x", {}], ["x", {"y": []}],
                                              ["x", {"y": []}]]),
    ],
)
def test_split_tokens(pieces, expected):
    got = snapshots(pieces)
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        assert g is e if e is MISSING else same(g, e), (got, expected)


ESCAPES = '["a\\n\\t\\"\\\\\\/\\b\\f\\r\\u00e9\\u0000\\ud83d\\ude00\\ud83d-\\udc00\\u2028z"]'


def test_every_split_of_escapes():
    final = json.loads(ESCAPES)
    for i in range(len(ESCAPES) + 1):
        run_checked([ESCAPES[:i], ESCAPES[i:]], final)
    run_checked(list(ESCAPES), final)


NUMBERS = "[0, -0, 12, -3.25, 1e5, 1E+2, 2.5e-3, 123456789012345678901234567890, 1e400, -1e400]"


def test_numbers_at_every_chunk_boundary():
    final = json.loads(NUMBERS)
    assert final[8] == math.inf and final[9] == -math.inf
    for i in range(len(NUMBERS) + 1):
        run_checked([NUMBERS[:i], NUMBERS[i:]], final)
    run_checked(list(NUMBERS), final)


def test_top_level_scalars():
    for text in ["12", "-0.5e3", '"s"', "true", "false", "null", " 7 ", "1e400", '"\\ud83d"']:
        parser = PartialJSONParser()
        for ch in text:
            parser.feed(ch)
        assert same(parser.finish(), json.loads(text)), text


def test_a_top_level_number_is_complete_only_at_the_end():
    parser = PartialJSONParser()
    parser.feed("12")
    assert parser.snapshot() is MISSING and not parser.done
    parser.feed("3")
    assert parser.finish() == 123
    parser = PartialJSONParser()
    parser.feed("12 ")
    assert parser.done and parser.snapshot() == 12


def test_open_strings_show_and_literals_wait():
    assert snapshots(['"ab', "c"]) == ["ab", "abc"]
    assert snapshots(["[tr", "ue"]) == [[], [True]]
    assert snapshots(['{"a": nu', "ll"]) == [{}, {"a": None}]


def test_skip_prefix_with_fences_and_prose():
    pieces = ["Sure! Here it is:\n```", "json\n", '{"a": ', "[1]", "}", "\n```", "\nHope it helps"]
    got = snapshots(pieces, skip_prefix=True)
    assert got == [MISSING, MISSING, {}, {"a": [1]}, {"a": [1]}, {"a": [1]}, {"a": [1]}]
    parser = PartialJSONParser(skip_prefix=True)
    for p in pieces:
        parser.feed(p)
    assert parser.done
    assert parser.finish() == {"a": [1]}
    assert parser.text == "".join(pieces)
    # without skip_prefix, the fence is an error at its first character
    with pytest.raises(PartialJSONError, match="at character 0"):
        PartialJSONParser().feed("```json\n{}")


def test_skip_prefix_without_any_json():
    parser = PartialJSONParser(skip_prefix=True)
    parser.feed("I cannot help with that.")
    assert parser.snapshot() is MISSING
    with pytest.raises(PartialJSONError, match="no JSON value"):
        parser.finish()


def test_trailing_text_without_skip_prefix():
    parser = PartialJSONParser()
    parser.feed('{"a": 1} \n\t ')
    assert parser.finish() == {"a": 1}
    with pytest.raises(PartialJSONError, match=r"at character 12: unexpected 'x'"):
        parser.feed("x")


@pytest.mark.parametrize(
    ("text", "position", "expected"),
    [
        ('{"a" 1}', 5, "expected ':'"),
        ("[1,]", 3, "expected a value"),
        ("tru e", 3, "expected 'true'"),
        ("[nulL]", 4, "expected 'null'"),
        ('{"a": 1}}', 8, "after the JSON value"),
        ("[01]", 1, "bad number '01'"),
        ("[1.]", 1, "bad number"),
        ("[-]", 1, "bad number"),
        ('"\\x"', 2, "invalid escape"),
        ('"\\u12G4"', 5, "hex digits"),
        ('{"a": "\x01"}', 7, "control character"),
        ('{"a": 1,}', 8, "expected a key"),
        ("{1: 2}", 1, "expected a key"),
        ("[1 2]", 3, "expected ',' or ']'"),
        ('{"a": 1]', 7, "expected ',' or '}'"),
        ("[1}", 2, "expected ',' or ']'"),
        ("]", 0, "expected a value"),
        ("'a'", 0, "expected a value"),
    ],
)
def test_invalid_input_raises_with_position(text, position, expected):
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)
    for pieces in ([text], list(text)):
        parser = PartialJSONParser()
        with pytest.raises(PartialJSONError, match=re.escape(expected)) as info:
            for p in pieces:
                parser.feed(p)
            parser.finish()
        assert f"at character {position}:" in str(info.value)


@pytest.mark.parametrize("text", ["NaN", "[Infinity]", "[-Infinity]"])
def test_nan_and_infinity_are_not_json(text):
    # json.loads takes these (a Python extension); JSON and this parser do not
    parser = PartialJSONParser()
    with pytest.raises(PartialJSONError, match=r"expected a value|bad number '-'"):
        parser.feed(text)


def test_incomplete_at_finish():
    cases = {
        '{"a": [1, 2': "a number, 2 unclosed",
        '{"a": "x': "a string, 1 unclosed",
        '{"a': "a key, 1 unclosed",
        '{"a":': "1 unclosed",
        "[tru": "a literal, 1 unclosed",
        '"abc': "a string",
    }
    for text, what in cases.items():
        parser = PartialJSONParser()
        parser.feed(text)
        with pytest.raises(PartialJSONError, match="ends early") as info:
            parser.finish()
        assert f"at character {len(text)}:" in str(info.value)
        assert what in str(info.value)
    with pytest.raises(PartialJSONError, match="no JSON value"):
        PartialJSONParser().finish()
    parser = PartialJSONParser()
    parser.feed("  \n")
    with pytest.raises(PartialJSONError, match="no JSON value"):
        parser.finish()


def test_a_failed_parser_stays_failed():
    parser = PartialJSONParser()
    with pytest.raises(PartialJSONError, match="at character 3") as first:
        parser.feed("[1,]")
    with pytest.raises(PartialJSONError) as again:
        parser.feed("[2]")
    assert str(again.value) == str(first.value)
    with pytest.raises(PartialJSONError):
        parser.finish()
    assert isinstance(first.value, ValueError)


def test_integers_beyond_the_digit_limit_fail_as_json_loads_does():
    text = "[" + "9" * (sys.get_int_max_str_digits() + 1) + "]"
    with pytest.raises(ValueError):
        json.loads(text)
    parser = PartialJSONParser()
    with pytest.raises(PartialJSONError, match="at character 1"):
        parser.feed(text)


def test_deep_nesting_is_iterative():
    depth = 10_000
    for opener, closer, leaf in (("[", "]", "[]"), ('{"k": ', "}", "{}")):
        text = opener * depth + leaf + closer * depth
        parser = PartialJSONParser()
        innermost = len(opener) * depth + len(leaf)
        parser.feed(text[:innermost])
        snap = parser.snapshot()  # a snapshot 10,000 levels down
        parser.feed(text[innermost:])
        for value in (snap, parser.finish()):
            levels = 0
            while value:
                value = value[0] if isinstance(value, list) else value["k"]
                levels += 1
            assert levels == depth


def test_snapshots_copy_only_the_open_path_and_share_finished_values():
    parser = PartialJSONParser()
    parser.feed('{"steps": [{"e": "one", "o": [1, 2]}, {"e": "tw')
    first = parser.snapshot()
    parser.feed('o"}, {"e": "thr')
    second = parser.snapshot()
    assert first == {"steps": [{"e": "one", "o": [1, 2]}, {"e": "tw"}]}
    assert second == {"steps": [{"e": "one", "o": [1, 2]}, {"e": "two"}, {"e": "thr"}]}
    assert second["steps"][0] is first["steps"][0]  # a finished element is shared, not copied
    parser.feed('ee"}]}')
    final = parser.finish()
    assert final["steps"][1] is second["steps"][1]
    assert first == {"steps": [{"e": "one", "o": [1, 2]}, {"e": "tw"}]}  # never mutated
    assert parser.snapshot() is final


def test_missing_and_empty_input():
    assert repr(MISSING) == "MISSING"
    assert not MISSING
    assert copy.copy(MISSING) is MISSING and copy.deepcopy([MISSING])[0] is MISSING
    assert pickle.loads(pickle.dumps(MISSING)) is MISSING
    parser = PartialJSONParser()
    assert parser.snapshot() is MISSING and not parser.done and parser.text == ""
    parser.feed("")
    assert parser.text == ""


def test_text_is_everything_fed():
    parser = PartialJSONParser()
    for piece in ['{"a"', ": ", "1", "}"]:
        parser.feed(piece)
        assert parser.text.endswith(piece)
    assert parser.text == '{"a": 1}'


def test_public_names():
    assert partial_module.__all__ == ["MISSING", "PartialJSONError", "PartialJSONParser"]


# --- linear work (counted, not timed) ----------------------------------------------------


def answer(n: int) -> str:
    steps = [{"explanation": f"Step {i}: compare the digits, \"carefully\" — 和 {i} of {n}.\n",
              "output": [i, i / 4, True, None, "\\ud83d\\ude00"]} for i in range(n)]
    return json.dumps({"steps": steps, "final_answer": "9.8 is larger"})


class _CountingPattern:
    """Wraps a compiled pattern; counts the characters its matches and searches scan."""

    def __init__(self, pattern: re.Pattern[str], counter: list[int]) -> None:
        self._pattern = pattern
        self._counter = counter

    def match(self, s, pos=0, endpos=sys.maxsize):
        m = self._pattern.match(s, pos, endpos)
        self._counter[0] += (m.end() if m else pos) - pos + 1
        return m

    def fullmatch(self, s, pos=0, endpos=sys.maxsize):
        self._counter[0] += min(len(s), endpos) - pos + 1
        return self._pattern.fullmatch(s, pos, endpos)

    def search(self, s, pos=0, endpos=sys.maxsize):
        m = self._pattern.search(s, pos, endpos)
        self._counter[0] += (m.end() if m else len(s)) - pos + 1
        return m


def measure_work(text: str) -> tuple[int, int]:
    """(characters scanned by the patterns, Python lines run) to parse ``text`` in pieces."""
    scanned = [0]
    lines = [0]
    source = partial_module.__file__

    def tracer(frame, event, arg):
        if frame.f_code.co_filename != source:
            return None
        if event == "line":
            lines[0] += 1
        return tracer

    pieces = [text[i : i + 7] for i in range(0, len(text), 7)]
    with pytest.MonkeyPatch.context() as mp:
        for name in ("_WS", "_STR_RUN", "_HEX", "_NUM_CHARS", "_NUMBER", "_OPEN"):
            mp.setattr(partial_module, name,
                       _CountingPattern(getattr(partial_module, name), scanned))
        parser = PartialJSONParser()
        previous = sys.gettrace()
        sys.settrace(tracer)
        try:
            for k, piece in enumerate(pieces):
                parser.feed(piece)
                if k % 40 == 0:
                    parser.snapshot()
            value = parser.finish()
        finally:
            sys.settrace(previous)
    assert value == json.loads(text)
    return scanned[0], lines[0]


def test_work_is_linear_in_the_input():
    small, big = answer(40), answer(160)
    assert 3.9 < len(big) / len(small) < 4.1
    scanned_small, lines_small = measure_work(small)
    scanned_big, lines_big = measure_work(big)
    # each character is scanned about once (+1 per call: pieces are 7 characters)
    assert scanned_small <= 1.5 * len(small)
    assert scanned_big <= 1.5 * len(big)
    # Python-level work per character is constant: 4x the text, ~4x the lines
    assert lines_big <= 4.3 * lines_small


def test_live_partial_values_follow_a_tool_call_not_the_prose_before_it():
    """A forced tool's input is the answer: once a call's pieces come, the live value is read
    from them alone (the prose before it, JSON and all, is dropped; a second call and later
    prose are not fed)."""
    seen: list = []
    live = PartialReporter(seen.append, None)
    live.min_interval = 0.0
    live([Delta(text='My guess is {"city": "Rio", ')])
    assert live.last == {"city": "Rio"}
    live([Delta(call=1, name="response"), Delta(tool='{"city": "São', call=1)])
    live([Delta(tool=' Paulo", "population": 11451245}', call=1),
          Delta(tool='{"query": "x"}', call=2), Delta(text=" And more prose.")])
    live.flush()
    assert live.last == {"city": "São Paulo", "population": 11451245}
    assert seen[-1] == live.last
