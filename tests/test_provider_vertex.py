"""Vertex AI: Gemini's format on a project's path, with an OAuth bearer token from a token
provider or from Application Default Credentials (google-auth, optional), and no key asked
for — against a fake Vertex project on loopback (``cloud_fakes.VertexProject``) that refuses a
request without a token it accepts, as Vertex does.
"""

from __future__ import annotations

import sys
import types

import pytest

import structmagic as sm
from structmagic.config import resolve
from structmagic.providers import get_provider
from structmagic.transport.auth import CLOUD_SCOPE, forget_google_credentials
from structmagic.transport.request import require_key

from cloud_fakes import VertexProject
from sm_fixtures import CANARY
from wire_helpers import SCHEMA, make_call

PARIS = {"city": "Paris", "population": 2102650}
PATH = "/v1/projects/proj-1/locations/us-central1/publishers/google"


@pytest.fixture
def vertex(server, settings):
    """The fake server as Vertex AI for proj-1 in us-central1; no key configured."""
    project = VertexProject("proj-1", "us-central1", tokens={"ya29.Vx1a"})
    server.responder = project
    sm.configure(api_key=None)
    forget_google_credentials()
    yield project
    forget_google_credentials()


def ask(server, **kw):
    return sm.structured("Population of Paris?", SCHEMA, provider="vertex",
                         base_url=server.url + PATH, model="gemini-2.5-flash", **kw)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_a_token_providers_token_on_the_projects_path(server, vertex, stream):
    res = ask(server, token_provider=lambda: "ya29.Vx1a", stream=stream)
    assert res.data == PARIS and res.provider == "vertex"
    (req,) = server.requests
    action = "streamGenerateContent" if stream else "generateContent"
    assert req.path == f"{PATH}/models/gemini-2.5-flash:{action}"
    assert req.query == ("alt=sse" if stream else "")
    assert req.headers["authorization"] == "Bearer ya29.Vx1a"
    assert "x-goog-api-key" not in req.headers
    assert req.json["generationConfig"]["responseJsonSchema"] == SCHEMA


def test_the_base_url_is_made_from_the_project_and_location(monkeypatch):
    s = resolve(provider="vertex", project="proj-1", location="us-central1")
    assert s.base_url == ("https://us-central1-aiplatform.googleapis.com/v1/projects/proj-1/"
                          "locations/us-central1/publishers/google")
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "proj-env")
    s = resolve(provider="vertex")
    assert s.base_url == ("https://aiplatform.googleapis.com/v1/projects/proj-env/locations/"
                          "global/publishers/google")
    monkeypatch.setenv("GOOGLE_CLOUD_LOCATION", "europe-west4")
    assert resolve(provider="vertex").base_url.startswith(
        "https://europe-west4-aiplatform.googleapis.com/v1/projects/proj-env/locations/"
        "europe-west4/")
    url, _ = get_provider("vertex").build(make_call("json_schema", model="gemini-2.5-pro"),
                                          resolve(provider="vertex").base_url)
    assert url.endswith("/publishers/google/models/gemini-2.5-pro:generateContent")
    with pytest.raises(sm.ConfigError, match="not a Google Cloud location"):
        resolve(provider="vertex", location="us central1/x")


def test_without_a_project_the_message_says_where_it_goes(monkeypatch):
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT", raising=False)
    with pytest.raises(sm.ConfigError) as info:
        resolve(provider="vertex")
    assert "GOOGLE_CLOUD_PROJECT" in info.value.message


def test_no_key_is_asked_for_where_a_token_is_used(monkeypatch):
    for var in ("GEMINI_API_KEY", "GOOGLE_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.setenv(var, "AIza-not-for-vertex-0123456789")
    s = resolve(provider="vertex", project="proj-1")
    assert s.key() is None and s.uses_token  # an AI Studio key is not sent to Vertex
    require_key(s)  # no ConfigError: the token is the credential
    gemini = resolve(provider="gemini", api_key=None)
    assert not gemini.uses_token


def test_a_key_given_explicitly_goes_as_an_express_mode_key(server, vertex):
    vertex.tokens = set()
    server.responder = None
    from providers import gemini

    server.queue(gemini('{"city": "Paris", "population": 2102650}'))
    ask(server, api_key=CANARY)
    (req,) = server.requests
    assert req.headers["x-goog-api-key"] == CANARY and "authorization" not in req.headers


def test_the_token_count_sends_the_requests_own_fields():
    p = get_provider("vertex")
    url, body = p.count_request(make_call("json_schema"), "https://h.test" + PATH)
    assert url == f"https://h.test{PATH}/models/m-1:countTokens"
    assert "generateContentRequest" not in body
    assert body["contents"] and body["generationConfig"]["responseJsonSchema"] == SCHEMA


# --- Application Default Credentials -----------------------------------------------------------


class FakeCredentials:
    """google-auth's credentials: ``valid`` until they expire, ``refresh`` gets a new token."""

    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens
        self.token: str | None = None
        self.valid = False
        self.refreshed = 0

    def refresh(self, request: object) -> None:
        assert type(request).__name__ == "Request"
        self.token = self.tokens[min(self.refreshed, len(self.tokens) - 1)]
        self.refreshed += 1
        self.valid = True


@pytest.fixture
def google_auth(monkeypatch):
    """A stand-in for the google-auth package (not a dependency of the tests)."""
    creds = FakeCredentials(["ya29.Vx1a", "ya29.Vx2b"])
    asked: list[list[str]] = []

    def default(scopes=None):
        asked.append(list(scopes or ()))
        return creds, "proj-1"

    google = types.ModuleType("google")
    auth = types.ModuleType("google.auth")
    transport = types.ModuleType("google.auth.transport")
    requests = types.ModuleType("google.auth.transport.requests")
    auth.default = default
    requests.Request = type("Request", (), {})
    google.auth, auth.transport, transport.requests = auth, transport, requests
    for name, module in (("google", google), ("google.auth", auth),
                         ("google.auth.transport", transport),
                         ("google.auth.transport.requests", requests)):
        monkeypatch.setitem(sys.modules, name, module)
    creds.asked = asked
    return creds


def test_application_default_credentials_give_the_token(server, vertex, google_auth):
    assert ask(server).data == PARIS
    assert ask(server).data == PARIS
    first, second = server.requests
    assert first.headers["authorization"] == second.headers["authorization"] == (
        "Bearer ya29.Vx1a")
    assert google_auth.asked == [[CLOUD_SCOPE]]  # found once, kept
    assert google_auth.refreshed == 1  # refreshed once: still valid for the second call


def test_an_expired_adc_token_is_refreshed(server, vertex, google_auth):
    ask(server)
    google_auth.valid = False  # the hour is over
    vertex.tokens = {"ya29.Vx2b"}
    assert ask(server).data == PARIS
    assert server.requests[-1].headers["authorization"] == "Bearer ya29.Vx2b"
    assert google_auth.refreshed == 2


def test_a_token_the_server_refuses_is_refreshed_once_and_sent_again(server, vertex,
                                                                      google_auth):
    ask(server)
    vertex.tokens = {"ya29.Vx2b"}  # revoked on the server's side, still "valid" here
    res = ask(server)
    assert res.data == PARIS and res.attempts == 1
    assert [r.headers["authorization"] for r in server.requests] == [
        "Bearer ya29.Vx1a", "Bearer ya29.Vx1a", "Bearer ya29.Vx2b"]


def test_without_google_auth_the_message_says_what_to_install(server, vertex, monkeypatch):
    monkeypatch.setitem(sys.modules, "google.auth", None)  # import fails, as when absent
    with pytest.raises(sm.ConfigError) as info:
        ask(server)
    assert "google-auth" in info.value.message
    assert "structmagic[vertex]" in info.value.hint and "token_provider" in info.value.hint
    assert server.requests == []


def test_credentials_that_cannot_be_found_are_one_config_error(server, vertex, google_auth,
                                                              monkeypatch):
    def no_credentials(scopes=None):
        raise RuntimeError("Your default credentials were not found.")

    monkeypatch.setattr(sys.modules["google.auth"], "default", no_credentials)
    with pytest.raises(sm.ConfigError) as info:
        ask(server)
    assert "default credentials were not found" in info.value.message
    assert "gcloud auth application-default login" in info.value.hint
    assert server.requests == []


def test_a_refused_token_is_an_authentication_error_about_the_credentials(server, vertex,
                                                                          google_auth):
    vertex.tokens = set()
    with pytest.raises(sm.AuthenticationError) as info:
        ask(server)
    err = info.value
    assert err.status == 401 and "UNAUTHENTICATED" in err.message
    assert err.key_source == "Google's Application Default Credentials"
    assert "gcloud auth application-default login" in err.hint
    assert "ya29" not in str(err) + repr(err)
