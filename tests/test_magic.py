"""%%structured through a real InteractiveShell: success, failure, namespace and outputs."""

from __future__ import annotations

import json

import pytest
from IPython.core.error import UsageError

import structmagic as sm

from fakeserver import Reply, chat

SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
    "additionalProperties": False,
}
ANSWER = {"name": "Ada", "age": 36}


def run(ip, cell: str):
    return ip.run_cell(cell, store_history=False)


def test_binds_value_and_sends_body(ip, server, settings):
    server.queue(chat(json.dumps(ANSWER)))
    ip.user_ns["person"] = SCHEMA
    ip.user_ns["who"] = "Ada Lovelace"
    res = run(ip, "%%structured person -o rec --system 'Extract.'\nTell me about {who}, {{age}}.")
    assert res.success, res.error_in_exec
    assert ip.user_ns["rec"] == ANSWER
    body = server.requests[0].json
    assert body["messages"][-1] == {"role": "user", "content": "Tell me about Ada Lovelace, {age}."}
    assert body["messages"][0] == {"role": "system", "content": "Extract."}
    assert body["response_format"]["json_schema"]["name"] == "person"


def test_without_out_the_value_is_the_result(ip, server, settings):
    server.queue(chat(json.dumps(ANSWER)))
    ip.user_ns["person"] = SCHEMA
    res = run(ip, "%%structured person\nq")
    assert res.success
    assert isinstance(res.result, sm.Result)
    assert res.result.data == ANSWER


def test_no_interpolate_sends_braces(ip, server, settings):
    server.queue(chat(json.dumps(ANSWER)))
    ip.user_ns["person"] = SCHEMA
    assert run(ip, "%%structured person -o rec --no-interpolate\n{not_a_var}").success
    assert server.requests[0].json["messages"][-1]["content"] == "{not_a_var}"


def test_dotted_schema_lookup(ip, server, settings):
    server.queue(chat(json.dumps(ANSWER)))

    class Holder:
        schema = SCHEMA

    ip.user_ns["h"] = Holder
    assert run(ip, "%%structured h.schema -o rec\nq").success
    assert ip.user_ns["rec"] == ANSWER


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ("%%structured nothing -o x\nq", "no variable named 'nothing'"),
        ("%%structured person -o 1x\nq", "plain variable name"),
        ("%%structured person -o a.b\nq", "plain variable name"),
        ("%%structured person -o x\n   \n", "empty"),
        ("%%structured person -o x\nHello {unknown_name}", "'unknown_name' is not defined"),
        ("%%structured notaschema -o x\nq", "notaschema"),
        ("%%structured badschema -o x\nq", "badschema"),
        ("%%structured person -o x --api-key sk-zzz\nq", "no key option"),
        ("%%structured person -o x --temperature hot\nq", "temperature"),
        ("%%structured person -o x --max-tokens 0\nq", "max-tokens"),
    ],
)
def test_user_mistakes_are_usage_errors_and_bind_nothing(ip, server, settings, cell, message):
    ip.user_ns.update(person=SCHEMA, notaschema=42, badschema={"type": "strin"}, x="before")
    res = run(ip, cell)
    assert not res.success
    assert type(res.error_in_exec) is UsageError, repr(res.error_in_exec)
    assert message in str(res.error_in_exec)
    assert ip.user_ns["x"] == "before"
    assert server.requests == []


@pytest.mark.parametrize(
    ("reply", "cls", "text"),
    [
        (Reply.status(401, "Incorrect API key provided"), sm.AuthenticationError, "HTTP 401"),
        (Reply.status(404, "model not found"), sm.BadRequestError, "HTTP 404"),
        (Reply.status(400, "messages must not be empty"), sm.BadRequestError, "must not be empty"),
        (Reply.status(500, "boom"), sm.ServerError, "HTTP 500"),
    ],
)
def test_http_errors_fail_the_cell_and_keep_name(ip, server, settings, capfd, reply, cls, text):
    server.queue(reply, reply, reply)
    ip.user_ns.update(person=SCHEMA, rec="before")
    res = run(ip, "%%structured person -o rec --retries 0 --mode json_schema\nq")
    assert not res.success
    assert isinstance(res.error_in_exec, cls)
    assert text in str(res.error_in_exec)
    assert ip.user_ns["rec"] == "before"
    shown = capfd.readouterr()
    assert "Traceback" not in shown.out + shown.err
    assert cls.__name__ in shown.out + shown.err


def test_structured_config_shows_masked_key(ip, settings, capfd):
    assert run(ip, "%structured_config").success
    out = capfd.readouterr().out
    assert "sk-test-key-0123456789" not in out and "456789" not in out
    assert "api_key" in out and "set (" in out


def test_structured_config_sets_and_config_magic_works(ip, server, settings, capfd):
    assert run(ip, "%structured_config --model configured-model").success
    ip.user_ns["person"] = SCHEMA
    server.queue(chat(json.dumps(ANSWER)), chat(json.dumps(ANSWER)))
    assert run(ip, "%%structured person -o rec\nq").success
    assert server.requests[-1].json["model"] == "configured-model"
    assert run(ip, "%config StructuredMagics.model = 'trait-model'").success
    assert run(ip, "%%structured person -o rec --model arg-model\nq").success
    assert server.requests[-1].json["model"] == "arg-model"
    assert run(ip, "%structured_config --base-url ftp://nope").error_in_exec is not None


def test_structured_config_sets_nothing_when_one_option_is_bad(ip, server, settings):
    from structmagic.config import resolve
    from structmagic.cost.prices import price_for

    before = resolve().model
    for line in ("--model other-model --timeout -5", "--model other-model --price m=a,b",
                 "--price fine=1,2 --retries -1"):
        res = run(ip, f"%structured_config {line}")
        assert isinstance(res.error_in_exec, UsageError), line
        assert resolve().model == before and price_for("openai", "fine") is None, line
    assert run(ip, "%structured_config --model other-model --price fine=1,2").success
    assert resolve().model == "other-model" and price_for("openai", "fine").input == 1
    sm.configure(prices=None)


def test_help_lists_options(ip):
    from structmagic.magic import StructuredMagics

    doc = StructuredMagics.structured.__doc__
    for option in ("--out", "--model", "--system", "--no-stream", "--reveal", "--each"):
        assert option in doc


# --- text that cannot be sent ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("setup", "cell", "message"),
    [
        ({"x": "caf\ud800"}, "%%structured person -o rec\nAbout {x}.",
         "The value of {x} (variable 'x') contains a lone surrogate"),
        ({}, "%%structured person -o rec\nAbout caf\udce9.",
         "The cell body contains a lone surrogate"),
        ({}, "%%structured person -o rec --no-interpolate\n{x} caf\udce9",
         "The cell body contains a lone surrogate"),
        ({}, "%%structured person -o rec --system 'be \ud800 brief'\nq",
         "--system contains a lone surrogate"),
    ],
)
def test_lone_surrogates_are_one_line_usage_errors(ip, server, settings, capfd, setup, cell,
                                                   message):
    ip.user_ns.update(person=SCHEMA, rec="before", **setup)
    res = run(ip, cell)
    assert type(res.error_in_exec) is UsageError
    assert message in str(res.error_in_exec)
    assert ip.user_ns["rec"] == "before"
    assert server.requests == []
    shown = capfd.readouterr()
    assert "UnicodeEncodeError" not in shown.out + shown.err
    assert shown.err.strip().splitlines() == [f"UsageError: {res.error_in_exec}"]


def test_lone_surrogate_through_run_cell_magic(ip, server, settings):
    ip.user_ns.update(person=SCHEMA, x="\ud800")
    with pytest.raises(UsageError, match=r"\{x\}"):
        ip.run_cell_magic("structured", "person -o rec", "{x}")
    assert server.requests == []


# --- options given twice -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "option"),
    [
        ("person -o first -o second", "-o/--out"),
        ("person -o first --out second", "-o/--out"),
        ("person -o x --model one --model two", "--model"),
        ("person -o x --model=one --model two", "--model"),
        ("person -o x --retries 1 --retries 2", "--retries"),
        ("person -o x --no-stream --no-stream", "--no-stream"),
        ("person -o x --mode json_schema --mode tools", "--mode"),
    ],
)
def test_an_option_given_twice_is_a_usage_error(ip, server, settings, line, option):
    ip.user_ns.update(person=SCHEMA)
    res = run(ip, f"%%structured {line}\nq")
    assert type(res.error_in_exec) is UsageError
    assert str(res.error_in_exec) == f"{option} was given more than once; give it once."
    assert server.requests == []
    assert "first" not in ip.user_ns and "second" not in ip.user_ns


@pytest.mark.parametrize("line", ["--model a --model b", "--cache cache --cache replay",
                                  "--retries 1 --retries=2"])
def test_config_option_given_twice_is_a_usage_error(ip, settings, line):
    from structmagic import config

    before = config.configured()
    res = run(ip, f"%structured_config {line}")
    assert type(res.error_in_exec) is UsageError
    assert "was given more than once" in str(res.error_in_exec)
    assert config.configured() == before


def test_options_given_once_still_parse(ip, server, settings):
    server.queue(chat(json.dumps(ANSWER)))
    ip.user_ns.update(person=SCHEMA)
    res = run(ip, "%%structured person -o rec --model m1 --retries 0 --no-stream --system s\nq")
    assert res.success, res.error_in_exec
    assert server.requests[0].json["model"] == "m1"


# --- names -o must not take --------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["__builtins__", "__name__", "__doc__", "__x__", "__private", "In", "Out", "get_ipython",
     "exit", "quit", "_", "__", "___", "_i", "_ii", "_iii", "_oh", "_dh", "_ih", "_1", "_42",
     "_i1", "_i42"],
)
def test_out_refuses_names_python_and_ipython_rely_on(ip, server, settings, name):
    ip.user_ns.update(person=SCHEMA)
    saved = ip.user_ns.get(name, "missing")
    res = run(ip, f"%%structured person -o {name}\nq")
    assert type(res.error_in_exec) is UsageError
    assert str(res.error_in_exec).startswith(f"-o {name}: that name belongs to Python or IPython")
    assert ip.user_ns.get(name, "missing") is saved
    assert server.requests == []
    assert run(ip, "1 + 1").success  # the next cell still works


@pytest.mark.parametrize("name", ["_private", "i1", "x_1", "In2", "output", "_x_"])
def test_out_takes_ordinary_names(ip, server, settings, name):
    server.queue(chat(json.dumps(ANSWER)))
    ip.user_ns.update(person=SCHEMA)
    assert run(ip, f"%%structured person -o {name}\nq").success
    assert ip.user_ns[name] == ANSWER


# --- teaching mode: --reveal, --hide-answer, --ask-first ------------------------------------------

STEPS_SCHEMA = {
    "type": "object",
    "properties": {
        "steps": {"type": "array", "items": {"type": "object", "properties": {
            "explanation": {"type": "string"}, "output": {"type": "string"}}}},
        "final_answer": {"type": "string"},
    },
    "required": ["steps", "final_answer"],
}
STEPS_ANSWER = {"steps": [{"explanation": "e1", "output": "o1"},
                          {"explanation": "e2", "output": "o2"}], "final_answer": "9.8"}


@pytest.mark.parametrize(("line", "message"), [
    ("--hide-answer", "--hide-answer goes with --reveal"),
    ("--ask-first", "--ask-first goes with --reveal"),
    ("--hide-answer --ask-first", "--hide-answer and --ask-first go with --reveal"),
    ("--reveal --ask-first --each items", "not with --each"),
    ("--reveal --hide-answer --compare m1,m2", "not with --compare"),
    ("--reveal --ask-first -o x --quiet", "not with --quiet"),
    ("--reveal --hide-answer --estimate", "not with --estimate"),
])
def test_teaching_options_go_with_reveal_and_one_answer(ip, server, settings, line, message):
    ip.user_ns.update(math=STEPS_SCHEMA, items=["a", "b"], x="before")
    res = run(ip, f"%%structured math {line}\nq")
    assert type(res.error_in_exec) is UsageError, repr(res.error_in_exec)
    assert message in str(res.error_in_exec)
    assert ip.user_ns["x"] == "before" and server.requests == []


def test_teaching_options_reach_the_widget_and_the_result(ip, server, settings, monkeypatch):
    from fakeserver import chat_stream

    monkeypatch.setattr(ip, "kernel", object(), raising=False)  # a kernel's: a widget shows
    ip.user_ns["math"] = STEPS_SCHEMA
    server.queue(chat_stream(json.dumps(STEPS_ANSWER), pieces=5))
    res = run(ip, "%%structured math --reveal --hide-answer --ask-first\nq")
    assert res.success, res.error_in_exec
    result = res.result
    assert (result.reveal, result.hide_answer, result.ask_first) == (True, True, True)
    wdg = result.widget(create=False)
    assert wdg.reveal and wdg.hide_answer and wdg.ask_first and wdg.revealed == 0
    html = result._repr_mimebundle_()["text/html"]
    assert "structmagic-handout" in html and "Your answer:" in html
    server.queue(chat_stream(json.dumps(STEPS_ANSWER), pieces=5))
    plain = run(ip, "%%structured math --reveal\nq").result
    assert (plain.reveal, plain.hide_answer, plain.ask_first) == (True, False, False)
    assert "Your answer:" not in plain._repr_html_()
    assert not plain.widget(create=False).hide_answer
    server.queue(chat_stream(json.dumps(STEPS_ANSWER), pieces=5))
    assert "structmagic-handout" not in run(ip, "%%structured math\nq").result._repr_html_()


def test_help_lists_the_teaching_options_in_the_display_section(ip):
    from structmagic.magic import StructuredMagics

    doc = StructuredMagics.structured.__doc__
    display = doc[doc.index("Display:"):doc.index("Inputs:")]
    for option in ("--reveal", "--hide-answer", "--ask-first"):
        assert option in display
    assert "handout" in display and "without a script" in display
