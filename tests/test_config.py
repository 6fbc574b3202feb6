"""Settings resolution, key handling and base URLs."""

from __future__ import annotations

import pickle
import re
from dataclasses import fields

import pytest

from structmagic import config
from structmagic.config import Secret, configure, resolve
from structmagic.errors import ConfigError


@pytest.fixture(autouse=True)
def clean_config():
    saved = config.configured()
    config.reset()
    yield
    config.reset(saved)


def test_defaults():
    s = resolve()
    assert s.provider == "openai"
    assert s.base_url == "https://api.openai.com/v1"
    assert s.model == "gpt-4o-mini"
    assert (s.retries, s.reasks, s.timeout, s.mode, s.cache) == (2, 1, 600.0, "auto", "off")


def test_order_argument_configured_env_default(monkeypatch):
    monkeypatch.setenv("STRUCTMAGIC_MODEL", "env-model")
    assert resolve().model == "env-model"
    configure(model="configured-model")
    assert resolve().model == "configured-model"
    assert resolve(model="arg-model").model == "arg-model"
    configure(model=None)
    assert resolve().model == "env-model"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("https://relay.example.com", "https://relay.example.com/v1"),
        ("https://relay.example.com/", "https://relay.example.com/v1"),
        ("https://relay.example.com/v1/", "https://relay.example.com/v1"),
        ("http://127.0.0.1:8000/api/v1", "http://127.0.0.1:8000/api/v1"),
    ],
)
def test_base_url_normalised(given, expected):
    assert resolve(base_url=given).base_url == expected


def test_env_base_url(monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", "https://relay.example.com")
    assert resolve().base_url == "https://relay.example.com/v1"


@pytest.mark.parametrize("url", ["relay.example.com", "ftp://x", "https://x/v1?key=abc"])
def test_bad_base_url(url):
    with pytest.raises(ConfigError):
        resolve(base_url=url)


@pytest.mark.parametrize(
    ("option", "value"),
    [("retries", -1), ("mode", "xml"), ("cache", "sometimes"), ("timeout", 0),
     ("max_tokens", 0), ("provider", "cohere"), ("temperature", "hot")],
)
def test_bad_values(option, value):
    with pytest.raises(ConfigError, match=option):
        resolve(**{option: value})


def test_env_strings_are_coerced(monkeypatch):
    monkeypatch.setenv("STRUCTMAGIC_RETRIES", "5")
    monkeypatch.setenv("STRUCTMAGIC_TIMEOUT", "12.5")
    s = resolve()
    assert (s.retries, s.timeout) == (5, 12.5)


def test_cache_needs_cassette():
    with pytest.raises(ConfigError, match="cassette"):
        resolve(cache="replay")


def test_key_sources_and_masking(monkeypatch):
    canary = "sk-canary-ZX81ab34cd56"
    monkeypatch.setenv("OPENAI_API_KEY", canary)
    s = resolve()
    assert s.key().get_secret_value() == canary
    assert s.key().source == "environment variable OPENAI_API_KEY"
    for text in (repr(s), str(s), repr(s.key()), str(s.masked())):
        assert canary not in text and canary[-6:] not in text
    monkeypatch.setenv("MY_KEY", "sk-other-key-123456")
    assert resolve(api_key_env="MY_KEY").key().source == "environment variable MY_KEY"
    configure(api_key="sk-configured-999999")
    assert resolve().key().source.startswith("structmagic.configure")
    assert "sk-configured" not in repr(config.configured())


def test_secret_is_not_picklable():
    with pytest.raises(TypeError):
        pickle.dumps(Secret("sk-x-123456789", "test"))


def test_unknown_setting():
    with pytest.raises(ConfigError, match="Unknown"):
        configure(colour="blue")


def test_each_setting_is_declared_once_and_everything_else_is_made_from_it():
    """The declarations on Settings make the environment variables (in the README's table),
    the magics' traits and the options of %structured_config and %%structured."""
    from pathlib import Path

    from structmagic.config import Settings, declared
    from structmagic.magic import StructuredMagics

    names = [d.name for d in declared()]
    assert names == [f.name for f in fields(Settings)]
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    for decl in declared():
        if decl.env:
            assert f"`{decl.env}`" in readme, decl.env
    traits = set(StructuredMagics.class_traits(config=True))
    assert {d.name for d in declared(configurable=True)} | {"stream"} == traits
    config_help = StructuredMagics.structured_config.__doc__
    cell_help = StructuredMagics.structured.__doc__
    for decl in declared():
        # the option whole: --cache is not --cache-ttl
        whole = re.compile(re.escape(decl.option) + r"(?![\w-])")
        assert bool(whole.search(config_help)) == decl.configurable, decl.name
        assert bool(whole.search(cell_help)) == decl.cell, decl.name


def test_a_setting_is_checked_in_one_place_whoever_gives_it(monkeypatch):
    """The same bad value is refused the same way from Python, the environment, the
    configuration and a magic line."""
    from IPython.core.error import UsageError
    from IPython.core.interactiveshell import InteractiveShell

    with pytest.raises(ConfigError, match="Bad value for retries: -1"):
        resolve(retries=-1)
    monkeypatch.setenv("STRUCTMAGIC_RETRIES", "-1")
    with pytest.raises(ConfigError, match="Bad value for retries: '-1'"):
        resolve()
    monkeypatch.delenv("STRUCTMAGIC_RETRIES")
    configure(retries=-1)
    with pytest.raises(ConfigError, match="Bad value for retries: -1"):
        resolve()
    configure(retries=None)
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "structmagic")
    with pytest.raises(UsageError, match="Bad value for --retries: -1"):
        shell.run_line_magic("structured_config", "--retries -1")
    with pytest.raises(UsageError, match="Bad value for --retries: -1"):
        shell.run_cell_magic("structured", "s --retries -1", "q")


def test_the_tests_clear_every_variable_structmagic_reads():
    """A developer's (or a CI machine's) own Azure, Vertex or OpenAI variables never reach a
    test: every variable a setting or a provider reads is cleared for each test."""
    from conftest import CLEARED_ENV

    from structmagic.config import declared
    from structmagic.providers import get_provider, provider_names

    read = {d.env for d in declared() if d.env}
    for name in provider_names():
        p = get_provider(name)
        read |= set(p.key_envs) | set(p.base_url_envs)
    assert read - CLEARED_ENV <= {v for v in read if v.startswith("STRUCTMAGIC_")}
