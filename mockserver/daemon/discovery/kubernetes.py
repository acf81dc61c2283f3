"""The kubernetes strategy: the pod's own service account asks the API server for the
EndpointSlices, Endpoints or Pods that match a label selector, and proposes the ready,
non-terminating ones (``kubernetes_objects`` reads them).

The client is kubernetes-asyncio (the ``kubernetes`` extra). It runs on aiohttp, the
daemon's own HTTP stack, so no second client stack is brought in. It takes the user's label
selector as written. Its in-cluster loader reads the token, ``ca.crt`` and
``KUBERNETES_SERVICE_HOST`` / ``_PORT`` from a directory we name (tests name their own),
and re-reads the token every minute, since the kubelet rotates bound tokens. The answers
are read raw rather than through its generated models: three fields matter, and a
malformed answer must be named, not half-built.

A failure never takes members away: the runner keeps what was found before, and the
status says what the API server answered. For a 403, it also says which permission the
service account lacks.
"""
from __future__ import annotations

import asyncio
import json
import os

import aiohttp

from mockserver.daemon.config.discovery import Kubernetes
from mockserver.daemon.discovery.kubernetes_objects import LIST_KINDS, read_list

PAGE = 500          # items per request; larger lists are read page by page ("continue")
RESOURCES = {"endpointslices": ("endpointslices", "discovery.k8s.io"), "endpoints": ("endpoints", ""),
             "pods": ("pods", "")}


class KubernetesStrategy:
    """``poll()`` raises OSError saying what went wrong: the in-cluster configuration
    (which file or variable), the API server's refusal (status and message), an answer
    that is not the expected list, or no answer in time."""

    def __init__(self, spec: Kubernetes, default_port: int, environ=os.environ):
        from kubernetes_asyncio import client  # noqa: F401 (checked here: build() names the extra)
        self.spec, self.default_port, self.environ = spec, default_port, environ
        self.interval = spec.polling_interval_ms / 1000
        self.name = f"kubernetes {spec.mode} {spec.selector}" + (f" in {spec.namespace}" if spec.namespace else "")
        self.problems: list = []
        self.lifetime = min(5.0, max(0.5, self.interval))
        self._api = None
        self._namespace: str | None = None

    def _file(self, name: str) -> str:
        return os.path.join(self.spec.service_account, name)

    def _connect(self):
        """The API client, from the in-cluster configuration (read again at each poll
        until it is complete: a token mounted late is picked up)."""
        if self._api is not None:
            return self._api
        from kubernetes_asyncio import client
        from kubernetes_asyncio.config.config_exception import ConfigException
        from kubernetes_asyncio.config.incluster_config import InClusterConfigLoader
        for variable in ("KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"):
            if not self.environ.get(variable):
                raise OSError(f"in-cluster configuration: {variable} is not set (is the daemon running in a pod?)")
        for name in ("token", "ca.crt"):
            path = self._file(name)
            if not os.path.isfile(path):
                raise OSError(f"in-cluster configuration: {path} does not exist (is a service account token"
                              f" mounted? the option 'service-account' names another directory)")
        namespace = self.spec.namespace
        if namespace is None:
            try:
                with open(self._file("namespace"), encoding="utf-8") as f:
                    namespace = f.read().strip()
            except OSError as exc:
                raise OSError(f"in-cluster configuration: cannot read {self._file('namespace')}: {exc.strerror}"
                              f" (or set the option 'namespace')") from None
        configuration = client.Configuration()
        try:
            InClusterConfigLoader(self._file("token"), self._file("ca.crt"),
                                  environ=self.environ).load_and_set(configuration)
        except ConfigException as exc:
            raise OSError(f"in-cluster configuration: {exc}") from None
        self._api, self._namespace = client.ApiClient(configuration), namespace
        return self._api

    async def close(self) -> None:
        if self._api is not None:
            await self._api.close()
            self._api = None

    async def poll(self) -> set:
        api = self._connect()
        found, problems, page = set(), [], None
        while True:
            document = await self._get(api, page)
            try:
                reading = read_list(self.spec.mode, document, self.default_port, self.spec.port_name)
            except ValueError as exc:
                raise OSError(f"the API server's answer is not a {LIST_KINDS[self.spec.mode]}: {exc}") from None
            found |= reading.found
            problems += reading.problems
            page = reading.next_page
            if page is None:
                self.problems = problems
                return found

    async def _get(self, api, page: str | None):
        from kubernetes_asyncio import client
        lists = {"endpointslices": client.DiscoveryV1Api(api).list_namespaced_endpoint_slice,
                 "endpoints": client.CoreV1Api(api).list_namespaced_endpoints,
                 "pods": client.CoreV1Api(api).list_namespaced_pod}
        paging = {"_continue": page} if page else {}
        try:
            response = await lists[self.spec.mode](
                self._namespace, label_selector=self.spec.selector, limit=PAGE, **paging,
                _preload_content=False, _request_timeout=self.lifetime)
            try:
                status, body = response.status, await response.read()
            finally:
                response.release()
        except asyncio.TimeoutError:
            raise OSError(f"the API server did not answer within {self.lifetime:g} s") from None
        except aiohttp.ClientSSLError as exc:
            raise OSError(f"TLS with the API server failed (is {self._file('ca.crt')} its CA?): {exc}") from None
        except aiohttp.ClientError as exc:
            raise OSError(f"cannot reach the API server: {exc}") from None
        try:
            document = json.loads(body)
        except ValueError:
            raise OSError(f"the API server answered {status} with something that is not JSON:"
                          f" {body[:80]!r}") from None
        if status != 200:
            raise OSError(self._refusal(status, document))
        return document

    def _refusal(self, status: int, document) -> str:
        """A refusal as the API server's Status object explains it, and what to do."""
        message = document.get("message") if isinstance(document, dict) else None
        reason = document.get("reason") if isinstance(document, dict) else None
        text = f"the API server answered {status}" + (f" {reason}" if reason else "")
        text += f": {message}" if message else ""
        resource, group = RESOURCES[self.spec.mode]
        if status == 403:
            text += (f" (the service account needs 'list' on {resource}{'.' + group if group else ''}"
                     f" in namespace {self._namespace}: a Role and a RoleBinding)")
        elif status == 401:
            text += f" (the token in {self._file('token')} was not accepted)"
        elif status == 410:
            text += " (the list changed while it was read page by page: the next poll reads it again)"
        return text
