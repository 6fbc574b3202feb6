"""The cloud endpoints as the fake server plays them: an Azure OpenAI resource and Vertex AI.

Each is a responder for :class:`fakeserver.FakeLLMServer` that checks a request as the real
service does before it answers, and answers as the real service does when the check fails:

- :class:`AzureResource` — the deployments path
  (``/openai/deployments/NAME/chat/completions``) wants ``api-version`` in the query (a 404
  "Resource not found" without it, as Azure answers), a deployment that exists (404
  ``DeploymentNotFound``), and an ``api-key`` header or an Entra ID bearer token it accepts
  (401 otherwise); the v1 API (``/openai/v1/chat/completions``) takes no ``api-version``
  and the model in the body;
- :class:`VertexProject` — ``/v1/projects/P/locations/L/publishers/google/models/M:ACTION``
  with ``Authorization: Bearer`` a token it accepts (401 ``UNAUTHENTICATED`` otherwise).

Accepted tokens and keys are sets a test changes while it runs (a token that expires).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qs

from fakeserver import RecordedRequest, Reply, chat, chat_stream
from providers import gemini, gemini_stream

AZURE_DEPLOYMENT = re.compile(r"^/openai/deployments/(?P<name>[^/]+)/chat/completions$")
AZURE_V1 = "/openai/v1/chat/completions"
VERTEX_PATH = re.compile(r"^/v1/projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)/"
                         r"publishers/google/models/(?P<model>[^/:]+):(?P<action>\w+)$")


def _azure_error(status: int, code: str, message: str) -> Reply:
    return Reply.json({"error": {"code": code, "message": message}}, status=status)


@dataclass
class AzureResource:
    """An Azure OpenAI resource: its deployments, the keys and tokens it accepts, and the
    answer each deployment gives (``answer(req) -> Reply``; default: ``text``)."""

    deployments: set[str]
    keys: set[str] = field(default_factory=set)
    tokens: set[str] = field(default_factory=set)
    text: str = '{"city": "Paris", "population": 2102650}'
    answer: Callable[[RecordedRequest], Reply] | None = None

    def __call__(self, req: RecordedRequest) -> Reply:
        query = parse_qs(req.query)
        match = AZURE_DEPLOYMENT.match(req.path)
        if req.path != AZURE_V1 and match is None:
            return _azure_error(404, "404", "Resource not found")
        if match is not None and "api-version" not in query:
            return _azure_error(404, "404", "Resource not found")
        bearer = req.headers.get("authorization", "")
        if not (req.headers.get("api-key") in self.keys
                or (bearer.startswith("Bearer ") and bearer[7:] in self.tokens)):
            return _azure_error(401, "401", "Access denied due to invalid subscription key or "
                                "wrong API endpoint. Make sure to provide a valid key for an "
                                "active subscription and use a correct regional API endpoint "
                                "for your resource.")
        if match is not None and match["name"] not in self.deployments:
            return _azure_error(404, "DeploymentNotFound", "The API deployment for this "
                                "resource does not exist.")
        if self.answer is not None:
            return self.answer(req)
        body = req.json or {}
        return chat_stream(self.text) if body.get("stream") else chat(self.text)


@dataclass
class VertexProject:
    """A Google Cloud project on Vertex AI: the tokens it accepts (``Bearer``)."""

    project: str
    location: str
    tokens: set[str] = field(default_factory=set)
    text: str = '{"city": "Paris", "population": 2102650}'

    def __call__(self, req: RecordedRequest) -> Reply:
        match = VERTEX_PATH.match(req.path)
        if match is None or (match["project"], match["location"]) != (self.project,
                                                                        self.location):
            return Reply.json({"error": {"code": 404, "message": "Not found",
                                         "status": "NOT_FOUND"}}, status=404)
        bearer = req.headers.get("authorization", "")
        if not (bearer.startswith("Bearer ") and bearer[7:] in self.tokens):
            return Reply.json({"error": {
                "code": 401, "status": "UNAUTHENTICATED",
                "message": "Request had invalid authentication credentials. Expected OAuth 2 "
                           "access token, login cookie or other valid authentication "
                           "credential."}}, status=401)
        if match["action"] == "countTokens":
            return Reply.json({"totalTokens": 42})
        if match["action"] == "streamGenerateContent":
            return gemini_stream(self.text)
        return gemini(self.text)
