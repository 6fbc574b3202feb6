"""Vertex AI: the Gemini format on Google Cloud's Vertex AI path, with an OAuth bearer token.

The request and answer are Gemini's (:class:`~structmagic.providers.gemini.Gemini`); what
differs is the path and the credentials:

- the base URL is made from the project and location (``project=`` / ``location=``, or the
  environment variables ``GOOGLE_CLOUD_PROJECT`` / ``GOOGLE_CLOUD_LOCATION``; the location
  defaults to ``global``)::

      https://aiplatform.googleapis.com/v1/projects/P/locations/global/publishers/google
      https://LOCATION-aiplatform.googleapis.com/v1/projects/P/locations/LOCATION/publishers/google

  and a model ``M`` is asked at ``…/models/M:generateContent`` (``:streamGenerateContent``);
- it authenticates with ``Authorization: Bearer TOKEN``: from ``token_provider=`` when given,
  else from Application Default Credentials (the optional ``google-auth`` package, the
  ``vertex`` extra; ``gcloud auth application-default login`` on a workstation, the service
  account on Google Cloud). No API key is asked for; one given explicitly (``api_key=``, a
  Vertex express-mode key) goes as ``x-goog-api-key`` instead;
- its token count (``:countTokens``) takes the request's fields as they are;
- it has no batch API here (Vertex's batch prediction reads from Cloud Storage or BigQuery).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from .base import Call, Capabilities
from .gemini import Gemini

__all__ = ["DEFAULT_LOCATION", "PROVIDER", "Vertex", "vertex_base_url"]

#: the location used when none is configured: the global endpoint
DEFAULT_LOCATION = "global"


def vertex_base_url(project: str, location: str = DEFAULT_LOCATION) -> str:
    """The base URL of Google's models on Vertex AI for ``project`` at ``location``."""
    host = ("aiplatform.googleapis.com" if location == DEFAULT_LOCATION
            else f"{location}-aiplatform.googleapis.com")
    return (f"https://{host}/v1/projects/{quote(project, safe='')}/locations/"
            f"{quote(location, safe='')}/publishers/google")


class Vertex(Gemini):
    """Gemini on Vertex AI: a project's path, a bearer token."""

    name = "vertex"
    title = "Gemini on Vertex AI"
    default_base_url = vertex_base_url("PROJECT")
    version_path = "/v1"
    base_url_envs = ("VERTEX_BASE_URL",)
    key_envs = ()  # type: ignore[assignment]
    hosts = ("aiplatform.googleapis.com",)
    token_source = "google"
    capabilities = Capabilities(strict_schema=False, streaming=True, thinking=True,
                                images=True, documents=True, batch_api=False)
    batch_api = None  # type: ignore[assignment]
    batch_price_factor = None  # type: ignore[assignment]

    def base_url_for(self, options: Mapping[str, Any]) -> str:
        project = str(options.get("project") or "").strip()
        if not project:
            raise ValueError(
                "Vertex AI needs a Google Cloud project: set GOOGLE_CLOUD_PROJECT, or "
                "project='my-project' (%structured_config --project)")
        location = str(options.get("location") or "").strip() or DEFAULT_LOCATION
        if not all(c.isalnum() or c == "-" for c in location):
            raise ValueError(f"the location {location!r} is not a Google Cloud location "
                             "(e.g. global, us-central1, europe-west4)")
        return vertex_base_url(project, location)

    def count_request(self, call: Call, base_url: str) -> tuple[str, dict[str, Any]]:
        """``POST …/models/M:countTokens`` with the request's own fields (Vertex takes
        ``contents``, ``systemInstruction``, ``tools`` and ``generationConfig`` there)."""
        url, body = self.build(call, base_url)
        return f"{url[: url.rindex(':')]}:countTokens", body


PROVIDER = Vertex
