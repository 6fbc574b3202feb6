"""Azure OpenAI: the Chat Completions format on an Azure resource.

The request and answer are OpenAI's (:class:`~structmagic.providers.openai.OpenAIChat`);
what differs is where it goes and how it says who it is from:

- the base URL is the resource's (``https://NAME.openai.azure.com``, or
  ``NAME.cognitiveservices.azure.com``; from ``AZURE_OPENAI_ENDPOINT`` when none is set), and
  a resource URL with no path gets ``/openai``. Three forms are understood:

  - ``…/openai``: the deployments path, the model being the deployment's name:
    ``…/openai/deployments/MODEL/chat/completions?api-version=V``;
  - ``…/openai/deployments/NAME`` (or the portal's whole target URI, ending in
    ``/chat/completions``): that deployment, whatever the model says;
  - ``…/openai/v1``: Azure's v1 API, which takes the model in the body and no
    ``api-version``.

- every request but the v1 API's carries ``api-version`` (``api_version=`` / the environment
  variable ``OPENAI_API_VERSION``; default :attr:`Azure.default_api_version`, a GA version);
- the key goes in an ``api-key`` header (``AZURE_OPENAI_API_KEY``); with a Microsoft Entra ID
  token provider (``token_provider=``), a ``Authorization: Bearer`` token instead, and no key
  is needed.

The batch API is OpenAI's with Azure's paths (``/openai/files``, ``/openai/batches``, each
with ``api-version``); its lines name the endpoint ``/chat/completions`` and, as the model,
a Global-Batch deployment's name.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlsplit

from .base import Call
from .openai import OpenAIBatchAPI, OpenAIChat

__all__ = ["PROVIDER", "Azure", "AzureBatchAPI", "route"]

_COMPLETIONS = "/chat/completions"


def route(base_url: str) -> tuple[str, str | None]:
    """``base_url`` as the API's root (``…/openai`` or ``…/openai/v1``) and the deployment
    it names (None: the model is the deployment)."""
    root = base_url.rstrip("/")
    if root.endswith(_COMPLETIONS):
        root = root[: -len(_COMPLETIONS)]
    head, sep, name = root.rpartition("/deployments/")
    if sep and name and "/" not in name:
        return head, name
    return root, None


def _is_v1(url: str) -> bool:
    path = urlsplit(url).path.rstrip("/") + "/"
    return "/openai/v1/" in path


class AzureBatchAPI(OpenAIBatchAPI):
    """OpenAI's batch API at an Azure resource's root (``…/openai/files``,
    ``…/openai/batches``); its lines name ``/chat/completions``, not ``/v1/…``."""

    def endpoint(self, url: str, base_url: str) -> str:
        return _COMPLETIONS

    def upload(self, base_url: str, name: str, size: int) -> Any:
        return super().upload(route(base_url)[0], name, size)

    def create(self, base_url: str, *, endpoint: str, name: str, file_id: str | None
               ) -> tuple[str, dict[str, Any]]:
        return super().create(route(base_url)[0], endpoint=endpoint, name=name,
                              file_id=file_id)

    def job_url(self, base_url: str, job_id: str) -> str:
        return super().job_url(route(base_url)[0], job_id)

    def cancel_url(self, base_url: str, job_id: str) -> str:
        return super().cancel_url(route(base_url)[0], job_id)

    def list_url(self, base_url: str, cursor: str | None = None) -> str:
        return super().list_url(route(base_url)[0], cursor)

    def files_url(self, base_url: str, cursor: str | None = None) -> str:
        return super().files_url(route(base_url)[0], cursor)

    def result_urls(self, base_url: str, info: Any) -> list[str]:
        return super().result_urls(route(base_url)[0], info)


class Azure(OpenAIChat):
    """Azure OpenAI: Chat Completions on a resource's deployments (or its v1 API)."""

    name = "azure"
    title = "Azure OpenAI (Chat Completions)"
    default_base_url = "https://YOUR-RESOURCE.openai.azure.com/openai"
    version_path = "/openai"
    base_url_envs = ("AZURE_OPENAI_ENDPOINT",)
    default_model = "gpt-4o-mini"
    key_envs = ("AZURE_OPENAI_API_KEY",)
    hosts = (".openai.azure.com", ".cognitiveservices.azure.com")
    api_version_param = "api-version"
    #: the GA version of the data-plane API sent when none is configured
    default_api_version = "2024-10-21"
    price_table_id = "azure"
    #: Azure enforces the schema itself, whatever host fronts it (an API gateway's): no
    #: server check, no servers' own parameters
    server_modes = ()  # type: ignore[assignment]
    batch_api = AzureBatchAPI()

    def base_url_for(self, options: Any) -> str:
        raise ValueError(
            "Azure OpenAI needs your resource's URL: set AZURE_OPENAI_ENDPOINT, or "
            "base_url='https://NAME.openai.azure.com' (%structured_config --base-url)")

    def build(self, call: Call, base_url: str) -> tuple[str, dict[str, Any]]:
        """OpenAI's body, sent to the deployment (the model's name, or the one the base URL
        names) or, on the v1 API, to ``…/openai/v1/chat/completions``."""
        _, body = super().build(call, base_url)
        root, deployment = route(base_url)
        if deployment is not None:
            return f"{root}/deployments/{deployment}{_COMPLETIONS}", body
        if _is_v1(root + "/") or not root.endswith("/openai"):
            return f"{root}{_COMPLETIONS}", body
        return f"{root}/deployments/{quote(call.model, safe='-._~')}{_COMPLETIONS}", body

    def auth_headers(self, key: str) -> dict[str, str]:
        """``api-key: KEY`` (a token provider's token goes as ``Authorization: Bearer``)."""
        return {"api-key": key}

    def query(self, url: str, api_version: str | None) -> dict[str, str]:
        """``api-version`` on every request but the v1 API's."""
        return {} if _is_v1(url) else super().query(url, api_version)


PROVIDER = Azure
