"""Azure OpenAI: the deployments path with ``api-version`` and an ``api-key`` header, the v1
API, the portal's target URI as the base URL, Microsoft Entra ID tokens, the provider chosen
by the resource's host, and its batch API's paths — against a fake Azure resource on loopback
(``cloud_fakes.AzureResource``) that answers as Azure does when a request is not right.
"""

from __future__ import annotations

from urllib.parse import parse_qs

import pytest

import structmagic as sm
from structmagic.config import resolve
from structmagic.providers import get_provider
from structmagic.providers.batch import JobInfo

from cloud_fakes import AzureResource
from sm_fixtures import CANARY
from wire_helpers import SCHEMA, make_call

PARIS = {"city": "Paris", "population": 2102650}


@pytest.fixture
def azure(server, settings):
    """The fake server as an Azure resource with the deployment ``gpt4o-prod``; the canary
    key is its key."""
    resource = AzureResource(deployments={"gpt4o-prod", "batch-global"}, keys={CANARY})
    server.responder = resource
    return resource


def ask(server, *, base: str = "", model: str = "gpt4o-prod", **kw):
    return sm.structured("Population of Paris?", SCHEMA, provider="azure",
                         base_url=server.url + base, model=model, **kw)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_the_deployments_path_with_api_version_and_the_api_key_header(server, azure, stream):
    res = ask(server, stream=stream)
    assert res.data == PARIS and res.provider == "azure" and res.attempts == 1
    (req,) = server.requests
    assert req.path == "/openai/deployments/gpt4o-prod/chat/completions"
    assert parse_qs(req.query) == {"api-version": ["2024-10-21"]}
    assert req.headers["api-key"] == CANARY and "authorization" not in req.headers
    assert req.json["model"] == "gpt4o-prod"  # Azure ignores it; the deployment decides
    assert req.json["response_format"]["json_schema"]["strict"] is True
    assert req.json.get("stream") is (True if stream else None)
    assert not {h for h in req.header_names if req.header_names.count(h) > 1}


def test_without_api_version_azure_answers_not_found(server, azure):
    """The fake resource is Azure's: a deployments request without api-version is a 404, so
    the test above fails if the parameter is not sent."""
    import httpx

    resp = httpx.post(server.url + "/openai/deployments/gpt4o-prod/chat/completions",
                      headers={"api-key": CANARY}, json={})
    assert resp.status_code == 404 and resp.json()["error"]["message"] == "Resource not found"


def test_the_api_version_is_the_configured_one(server, azure, monkeypatch):
    monkeypatch.setenv("OPENAI_API_VERSION", "2025-04-01-preview")
    ask(server)
    assert parse_qs(server.requests[-1].query) == {"api-version": ["2025-04-01-preview"]}
    ask(server, api_version="2024-06-01")
    assert parse_qs(server.requests[-1].query) == {"api-version": ["2024-06-01"]}


def test_the_portals_target_uri_is_a_base_url(server, azure):
    """The whole URL the Azure portal shows (deployment, path and api-version) works as it
    is: that deployment, that version, whatever the model says."""
    res = ask(server, base="/openai/deployments/batch-global/chat/completions"
                           "?api-version=2025-01-01-preview", model="ignored-name")
    assert res.data == PARIS
    (req,) = server.requests
    assert req.path == "/openai/deployments/batch-global/chat/completions"
    assert parse_qs(req.query) == {"api-version": ["2025-01-01-preview"]}


def test_the_v1_api_takes_no_api_version(server, azure):
    res = ask(server, base="/openai/v1")
    assert res.data == PARIS
    (req,) = server.requests
    assert (req.path, req.query) == ("/openai/v1/chat/completions", "")
    assert req.headers["api-key"] == CANARY and req.json["model"] == "gpt4o-prod"


def test_a_deployment_that_does_not_exist_says_so(server, azure):
    with pytest.raises(sm.BadRequestError) as info:
        ask(server, model="gpt-5-nope")
    assert "The API deployment for this resource does not exist" in info.value.message
    assert server.requests[0].path == "/openai/deployments/gpt-5-nope/chat/completions"


def test_a_wrong_key_is_an_authentication_error_naming_where_it_came_from(server, azure):
    azure.keys = {"zz9-other-01234567"}
    with pytest.raises(sm.AuthenticationError) as info:
        ask(server)
    err = info.value
    assert "Access denied" in err.message and err.status == 401
    assert err.key_source == "structmagic.configure(api_key=...)"
    assert "AZURE_OPENAI_API_KEY" in err.hint
    assert len(server.requests) == 1  # a key is not asked for again


class Tokens:
    """An Entra ID token provider: a new token each time it is asked (as the real one does
    when its token nears expiry), counting the calls."""

    def __init__(self, *tokens: str) -> None:
        self.left = list(tokens)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        return self.left.pop(0) if len(self.left) > 1 else self.left[0]


def test_an_entra_id_token_goes_as_a_bearer_token_and_no_key_is_needed(server, azure):
    sm.configure(api_key=None)  # no key anywhere: the token is the credential
    azure.tokens = {"eyJ0eXAi.Qm1x"}
    tokens = Tokens("eyJ0eXAi.Qm1x")
    res = ask(server, token_provider=tokens)
    assert res.data == PARIS
    (req,) = server.requests
    assert req.headers["authorization"] == "Bearer eyJ0eXAi.Qm1x"
    assert "api-key" not in req.headers
    assert tokens.calls == 1


def test_an_expired_token_is_asked_for_again_and_the_request_sent_again(server, azure):
    sm.configure(api_key=None)
    azure.tokens = {"eyJ0eXAi.Fr9b"}  # the first token has expired on the server's side
    tokens = Tokens("eyJ0eXAi.Zs7a", "eyJ0eXAi.Fr9b")
    res = ask(server, token_provider=tokens)
    assert res.data == PARIS and res.attempts == 1
    first, second = server.requests
    assert first.headers["authorization"] == "Bearer eyJ0eXAi.Zs7a"
    assert second.headers["authorization"] == "Bearer eyJ0eXAi.Fr9b"
    assert tokens.calls == 2


def test_a_token_refused_twice_is_an_authentication_error_about_the_token(server, azure):
    sm.configure(api_key=None)
    tokens = Tokens("eyJ0eXAi.Nv3c")
    with pytest.raises(sm.AuthenticationError) as info:
        ask(server, token_provider=tokens)
    err = info.value
    assert err.key_source == "the token provider (token_provider=...)"
    assert err.hint.startswith("The token came from the token provider")
    assert len(server.requests) == 2 and tokens.calls == 2
    assert "eyJ0eXAi.Nv3c" not in str(err) + repr(err)


@pytest.mark.parametrize(("provider", "message"), [
    (lambda: (_ for _ in ()).throw(RuntimeError("no login")), "raised RuntimeError: no login"),
    (lambda: None, "returned NoneType, not a token"),
    (lambda: "", "returned str, not a token"),
])
def test_a_token_provider_that_fails_is_one_config_error_and_nothing_is_sent(server, azure,
                                                                              provider,
                                                                              message):
    sm.configure(api_key=None)
    with pytest.raises(sm.ConfigError) as info:
        ask(server, token_provider=provider)
    assert message in info.value.message and "token provider" in info.value.message
    assert server.requests == []


def test_an_object_with_a_token_attribute_is_a_token():
    """azure-identity's credentials give AccessToken objects (``.token``, ``.expires_on``)."""
    from structmagic.secret import reveal

    class AccessToken:
        token = "eyJ0eXAi.Ac4d"
        expires_on = 1_767_229_200

    assert reveal(lambda: AccessToken(), "token provider") == "eyJ0eXAi.Ac4d"


def test_a_token_provider_is_never_shown():
    def get_bearer_token() -> str:
        return "eyJ0eXAi.Sv5e"

    s = resolve(provider="azure", base_url="https://res-1.openai.azure.com",
                token_provider=get_bearer_token)
    assert s.masked()["token_provider"] == "from get_bearer_token()"
    assert "eyJ0eXAi.Sv5e" not in repr(s) + str(s.masked())
    with pytest.raises(sm.ConfigError, match="token_provider"):
        resolve(token_provider="not callable")


# --- configuration --------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["https://res-1.openai.azure.com",
                                 "https://res-1.openai.azure.com/openai",
                                 "https://res-1.cognitiveservices.azure.com/",
                                 "https://RES-1.OPENAI.AZURE.COM/openai/v1"])
def test_an_azure_resource_url_chooses_the_azure_provider(url):
    s = resolve(base_url=url)
    assert s.provider == "azure"
    assert s.base_url.lower().endswith(("/openai", "/openai/v1"))


def test_a_chosen_provider_is_kept_for_an_azure_url():
    """The /openai/v1 path works with the openai provider as well (a Bearer key)."""
    s = resolve(provider="openai", base_url="https://res-1.openai.azure.com/openai/v1")
    assert s.provider == "openai"
    assert resolve(base_url="https://api.openai.com/v1").provider == "openai"
    assert resolve(base_url="https://evil-openai.azure.com.example.org/v1").provider == "openai"


def test_the_environment_names_the_resource_and_its_key(monkeypatch):
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "https://res-2.openai.azure.com/")
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "azure-key-0123456789abcdef")
    s = resolve(provider="azure")
    assert s.base_url == "https://res-2.openai.azure.com/openai"
    assert s.key().source == "environment variable AZURE_OPENAI_API_KEY"


def test_without_a_resource_the_message_says_where_it_goes(monkeypatch):
    monkeypatch.delenv("AZURE_OPENAI_ENDPOINT", raising=False)
    with pytest.raises(sm.ConfigError) as info:
        resolve(provider="azure")
    assert "AZURE_OPENAI_ENDPOINT" in info.value.message


@pytest.mark.parametrize("query", ["api-key=abcd1234efgh", "key=abcd1234efgh",
                                   "sig=abcd1234efgh"])
def test_a_key_in_the_base_urls_query_is_refused_without_showing_it(query):
    with pytest.raises(sm.ConfigError) as info:
        resolve(provider="azure", base_url=f"https://res-1.openai.azure.com/openai?{query}")
    assert "abcd1234efgh" not in str(info.value) and "keys go in headers" in str(info.value)


def test_other_parameters_of_the_base_url_go_with_every_request(server, azure):
    ask(server, base="/openai?api-version=2024-02-01&tenant=t-1")
    (req,) = server.requests
    assert parse_qs(req.query) == {"api-version": ["2024-02-01"], "tenant": ["t-1"]}


# --- the batch API ------------------------------------------------------------------------------


@pytest.mark.parametrize("base", ["https://res-1.openai.azure.com/openai",
                                  "https://res-1.openai.azure.com/openai/deployments/batch-global",
                                  "https://res-1.openai.azure.com/openai/v1"])
def test_the_batch_api_uses_the_resources_root(base):
    p = get_provider("azure")
    api = p.batch_api
    root = base.split("/deployments/")[0]
    url, _ = p.build(make_call("json_schema", model="batch-global"), base)
    assert api.endpoint(url, base) == "/chat/completions"  # Azure's lines name no /v1
    assert api.upload(base, "job.jsonl", 10).url == f"{root}/files"
    create_url, body = api.create(base, endpoint="/chat/completions", name="job-1",
                                  file_id="file-1")
    assert create_url == f"{root}/batches"
    assert body == {"input_file_id": "file-1", "endpoint": "/chat/completions",
                    "completion_window": "24h", "metadata": {"structmagic_job": "job-1"}}
    assert api.job_url(base, "batch_1") == f"{root}/batches/batch_1"
    assert api.cancel_url(base, "batch_1") == f"{root}/batches/batch_1/cancel"
    assert api.list_url(base).startswith(f"{root}/batches?")
    assert api.files_url(base).startswith(f"{root}/files?")
    info = JobInfo(id="batch_1", status="completed", raw_status="completed",
                   outputs=("file-out",))
    assert api.result_urls(base, info) == [f"{root}/files/file-out/content"]
    # every one of them is asked with the api-version, the v1 API's without
    for u in (f"{root}/files", f"{root}/batches/batch_1"):
        assert p.query(u, None) == ({} if root.endswith("/v1")
                                    else {"api-version": "2024-10-21"})


def test_a_batch_job_through_the_resources_batch_api(fake, server):
    """Submit, wait and collect on the fake resource: every batch request carries the
    api-version (the fake answers 404 without it, as Azure does) and the api-key header,
    and the lines name /chat/completions and the Global-Batch deployment."""
    from batchapi_helpers import items

    sm.configure(provider="azure", base_url=server.url, model="batch-global")
    job = sm.submit_batch(items(4), {"type": "object", "properties": {
        "n": {"type": "integer"}, "label": {"type": "string"}}, "required": ["n", "label"],
        "additionalProperties": False})
    results = job.results()
    assert [r.data for r in results] == [{"n": i, "label": f"item {i}"} for i in range(4)]
    batchy = [r for r in server.requests if r.path.startswith("/openai/")]
    assert {r.path for r in batchy} >= {"/openai/files", "/openai/batches"}
    assert all(parse_qs(r.query).get("api-version") == ["2024-10-21"] for r in batchy)
    assert all(r.headers["api-key"] == CANARY for r in batchy)
    (upload,) = [r for r in batchy if r.path == "/openai/files" and r.method == "POST"]
    assert b'"url":"/chat/completions"' in upload.body and b'"model":"batch-global"' in upload.body
    (created,) = [r for r in batchy if r.path == "/openai/batches" and r.method == "POST"]
    assert created.json["endpoint"] == "/chat/completions"


def test_an_ignored_schema_is_not_blamed_on_the_format(server, azure):
    """Azure speaks Chat Completions: the hint never sends its users to --provider openai."""
    from fakeserver import chat

    azure.answer = lambda req: chat('Here it is: {"town": "Paris"} - hope that helps!')
    with pytest.raises(sm.SchemaIgnoredError) as info:
        ask(server, mode="json_schema", reasks=0)
    err = info.value
    assert err.message.startswith("The server ignored the structured-output request "
                                  "(json_schema in the azure format): it wrote prose")
    assert "--provider" not in err.hint and "--mode json_object" in err.hint
