"""The kubernetes strategy: the reading of the API's lists (ready and non-terminating
endpoints only), and the strategy against a double of the API server over TLS with a
service account's token (refusals, garbage, slow answers, missing files)."""
from __future__ import annotations

import asyncio
import os

import pytest

from mockserver.daemon.config.discovery import Kubernetes
from mockserver.daemon.discovery.kubernetes import KubernetesStrategy
from mockserver.daemon.discovery.kubernetes_objects import read_list
from mockserver.daemon.discovery.runner import DiscoveryRunner
from tests.daemon.discovery.kubeapi import (
    NOT_READY,
    READY,
    TERMINATING,
    KubeApiDouble,
    ServiceAccount,
    endpoint_slice,
    endpoints_object,
    pod,
    selector_matches,
    shape,
)

SERVICE = "kubernetes.io/service-name=pack"


def as_list(kind: str, api_version: str, items: list, **metadata) -> dict:
    return {"kind": kind, "apiVersion": api_version, "metadata": {"resourceVersion": "1", **metadata}, "items": items}


# ---- reading (sans-IO) -----------------------------------------------------------------------

def test_the_reference_shapes_read_as_one_member_each():
    for mode, kind, version, name in (("endpointslices", "EndpointSliceList", "discovery.k8s.io/v1", "endpointslice"),
                                      ("endpoints", "EndpointsList", "v1", "endpoints"),
                                      ("pods", "PodList", "v1", "pod")):
        reading = read_list(mode, as_list(kind, version, [shape(name)]), 7000)
        assert reading.found == {("198.51.100.11", 7000)}, mode
        assert reading.problems == [] and reading.next_page is None
        assert read_list(mode, as_list(kind, version, [shape(name)]), 7000, "pack").found == {("198.51.100.11", 5252)}


def test_only_ready_and_not_terminating_endpoints_are_proposed():
    nil = {}                                            # every condition left out: ready, not terminating
    ready_but_terminating = {"ready": True, "serving": True, "terminating": True}   # publishNotReadyAddresses
    item = endpoint_slice("pack-a", [("198.51.100.1", READY), ("198.51.100.2", TERMINATING),
                                     ("198.51.100.3", NOT_READY), ("198.51.100.4", nil),
                                     ("198.51.100.5", ready_but_terminating), ("198.51.100.6", {"ready": None})])
    reading = read_list("endpointslices", as_list("EndpointSliceList", "discovery.k8s.io/v1", [item]), 5252)
    assert reading.found == {("198.51.100.1", 5252), ("198.51.100.4", 5252), ("198.51.100.6", 5252)}
    assert reading.problems == []


def test_endpoints_leave_not_ready_addresses_out_and_pods_need_running_ready_and_not_deleted():
    item = endpoints_object("pack", ready=["198.51.100.1", "198.51.100.2"], not_ready=["198.51.100.3"])
    assert read_list("endpoints", as_list("EndpointsList", "v1", [item]), 1).found == {("198.51.100.1", 1),
                                                                                       ("198.51.100.2", 1)}
    pods = [pod("a", "198.51.100.1"), pod("b", "198.51.100.2", phase="Pending", ready=False),
            pod("c", "198.51.100.3", ready=False), pod("d", "198.51.100.4", deleting=True),
            pod("e", "198.51.100.5", phase="Succeeded", ready=False)]
    assert read_list("pods", as_list("PodList", "v1", pods), 1).found == {("198.51.100.1", 1)}


def test_ipv6_fqdn_and_unnamed_ports_are_named_not_proposed():
    v6 = endpoint_slice("pack-v6", [("2001:db8::1", READY)], address_type="IPv6")
    fqdn = endpoint_slice("pack-fqdn", [("node.example", READY)], address_type="FQDN")
    v4 = endpoint_slice("pack-v4", [("198.51.100.1", READY)])
    dual = pod("dual", "2001:db8::5")
    dual["status"]["podIPs"] = [{"ip": "2001:db8::5"}, {"ip": "198.51.100.5"}]
    only_v6 = pod("only-v6", "2001:db8::6")
    reading = read_list("endpointslices", as_list("EndpointSliceList", "discovery.k8s.io/v1", [v6, fqdn, v4]), 1)
    assert reading.found == {("198.51.100.1", 1)}
    assert reading.problems == ["pack-v6: addressType 'IPv6': only IPv4 slices are used",
                                "pack-fqdn: addressType 'FQDN': only IPv4 slices are used"]
    reading = read_list("pods", as_list("PodList", "v1", [dual, only_v6]), 1)
    assert reading.found == {("198.51.100.5", 1)}      # a dual-stack pod's IPv4 address
    assert reading.problems == ["only-v6: address 2001:db8::6 not used: the pack's datagrams travel over IPv4"]
    reading = read_list("endpointslices", as_list("EndpointSliceList", "discovery.k8s.io/v1", [v4]), 1, "gossip")
    assert reading.found == set() and reading.problems == ["pack-v4: no port named 'gossip': skipped"]


def test_what_is_not_the_expected_list_is_refused_by_name():
    with pytest.raises(ValueError, match="expected kind EndpointSliceList, got 'Status'"):
        read_list("endpointslices", shape("status-forbidden"), 1)
    with pytest.raises(ValueError, match="'items' is not a list"):
        read_list("pods", {"kind": "PodList", "items": {"a": 1}}, 1)
    with pytest.raises(ValueError, match="expected a EndpointsList object, got list"):
        read_list("endpoints", [], 1)
    reading = read_list("pods", {"kind": "PodList", "items": [3, {"metadata": "x"}]}, 1)
    assert reading.found == set() and reading.problems == ["an item of PodList is not an object: skipped"]


def test_the_double_parses_selectors_as_the_api_server_does():
    labels = {"app": "pack", "tier": "core"}
    assert selector_matches("app=pack,tier==core", labels) and selector_matches("app,!gone", labels)
    assert not selector_matches("app!=pack", labels) and not selector_matches("tier", {"app": "pack"})
    with pytest.raises(ValueError, match="unable to parse"):
        selector_matches("app in (pack", labels)


# ---- the strategy against the API double --------------------------------------------------------

@pytest.fixture
def api(tmp_path):
    with KubeApiDouble(tmp_path) as double:
        yield double


@pytest.fixture
def account(tmp_path, api):
    return ServiceAccount(tmp_path / "serviceaccount", api)


def strategy(account, **options) -> KubernetesStrategy:
    spec = Kubernetes(**{"selector": SERVICE, "service_account": str(account.dir), **options})
    return KubernetesStrategy(spec, 5252, environ=account.environ)


def poll(strategy_: KubernetesStrategy):
    async def once():
        try:
            return await strategy_.poll()
        finally:
            await strategy_.close()
    return asyncio.run(once())


def test_endpoint_slices_are_read_with_the_token_in_the_namespace_of_the_account(api, account):
    api.objects["endpointslices"] = [
        endpoint_slice("pack-a", [("127.0.0.11", READY), ("127.0.0.12", TERMINATING)]),
        endpoint_slice("pack-b", [("127.0.0.13", READY)], port=7000),
        endpoint_slice("other", [("127.0.0.99", READY)], service="other"),
        endpoint_slice("pack-c", [("127.0.0.98", READY)], namespace="elsewhere"),
    ]
    assert poll(strategy(account)) == {("127.0.0.11", 5252), ("127.0.0.13", 5252)}
    assert poll(strategy(account, port_name="pack")) == {("127.0.0.11", 5252), ("127.0.0.13", 7000)}
    path, query, authorization = api.requests[-1]
    assert path == "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices"
    assert query["labelSelector"] == SERVICE and authorization == f"Bearer {api.token}"
    assert poll(strategy(account, namespace="elsewhere")) == {("127.0.0.98", 5252)}


def test_endpoints_and_pods_modes(api, account):
    api.objects["endpoints"] = [endpoints_object("pack", ready=["127.0.0.11"], not_ready=["127.0.0.12"])]
    api.objects["pods"] = [pod("pack-0", "127.0.0.11"), pod("pack-1", "127.0.0.12", deleting=True),
                           pod("web-0", "127.0.0.13", labels={"app": "web"})]
    assert poll(strategy(account, mode="endpoints", selector="app=pack")) == {("127.0.0.11", 5252)}
    assert api.requests[-1][0] == "/api/v1/namespaces/default/endpoints"
    assert poll(strategy(account, mode="pods", selector="app=pack")) == {("127.0.0.11", 5252)}
    assert api.requests[-1][0] == "/api/v1/namespaces/default/pods"


def test_a_long_list_is_read_page_by_page(api, account):
    api.objects["pods"] = [pod(f"pack-{n}", f"127.0.{n // 250}.{n % 250 + 1}") for n in range(1201)]
    found = poll(strategy(account, mode="pods", selector="app=pack"))
    assert len(found) == 1201
    assert [query.get("continue") for _, query, _ in api.requests] == [None, "500", "1000"]


def run_status(account, api, fault, **options) -> tuple[set, dict]:
    """Poll once with the API answering, then once with ``fault``: (what the runner
    proposes after both, the status)."""
    proposed = []
    poller = strategy(account, **options)
    runner = DiscoveryRunner([poller], proposed.append)

    async def main():
        await runner.poll_once(poller)
        api.fault = fault
        await runner.poll_once(poller)
        await runner.stop()
    asyncio.run(main())
    return proposed[-1], runner.describe()[0]


@pytest.mark.parametrize("fault, error", [
    (("status", 403), "the API server answered 403 Forbidden: endpointslices.discovery.k8s.io is forbidden: User"
                      " \"system:serviceaccount:default:pack\" cannot list resource \"endpointslices\" in API group"
                      " \"discovery.k8s.io\" in the namespace \"default\" (the service account needs 'list' on"
                      " endpointslices.discovery.k8s.io in namespace default: a Role and a RoleBinding)"),
    (("status", 500), "the API server answered 500 InternalError: etcdserver: request timed out"),
    (("garbage", b"<html>bad gateway</html>"),
     "the API server answered 200 with something that is not JSON: b'<html>bad gateway</html>'"),
    (("garbage", b'{"kind": "Status", "items": []}'),
     "the API server's answer is not a EndpointSliceList: expected kind EndpointSliceList, got 'Status'"),
    (("slow", 30), "the API server did not answer within 0.5 s"),
])
def test_a_failing_api_keeps_the_members_and_the_status_says_why(api, account, fault, error):
    api.objects["endpointslices"] = [endpoint_slice("pack-a", [("127.0.0.11", READY), ("127.0.0.12", READY)])]
    # A slow answer is waited for at most the polling interval (here 0.5 s).
    proposed, status = run_status(account, api, fault, polling_interval_ms=500)
    assert proposed == {("127.0.0.11", 5252), ("127.0.0.12", 5252)}
    assert status["error"] == error
    assert status["found"] == ["127.0.0.11:5252", "127.0.0.12:5252"] and status["failures"] == 1


def test_a_wrong_token_and_a_missing_service_account_are_named(api, account):
    (account.dir / "token").write_text("not-the-token")
    with pytest.raises(OSError, match=r"answered 401 Unauthorized: Unauthorized \(the token in .*/token was not"):
        poll(strategy(account))
    os.unlink(account.dir / "token")
    with pytest.raises(OSError, match=r"in-cluster configuration: .*/serviceaccount/token does not exist"):
        poll(strategy(account))
    (account.dir / "token").write_text(api.token)
    os.unlink(account.dir / "namespace")
    with pytest.raises(OSError, match=r"cannot read .*/namespace: No such file or directory \(or set the option"):
        poll(strategy(account))
    assert poll(strategy(account, namespace="default")) == set()
    environ = dict(account.environ, KUBERNETES_SERVICE_HOST="")
    bare = KubernetesStrategy(Kubernetes(SERVICE, namespace="default", service_account=str(account.dir)), 1,
                              environ=environ)
    with pytest.raises(OSError, match="KUBERNETES_SERVICE_HOST is not set"):
        poll(bare)


def test_a_server_certificate_the_account_ca_did_not_sign_is_refused(tmp_path, api, account):
    (tmp_path / "other").mkdir()
    stranger = KubeApiDouble(tmp_path / "other")     # another cluster's CA, never started
    (account.dir / "ca.crt").write_bytes(stranger.ca.read_bytes())
    with pytest.raises(OSError, match=r"TLS with the API server failed \(is .*/ca.crt its CA\?\)"):
        poll(strategy(account))
    stranger.httpd.server_close()


def test_a_token_mounted_late_is_picked_up(api, account):
    api.objects["endpointslices"] = [endpoint_slice("pack-a", [("127.0.0.11", READY)])]
    os.unlink(account.dir / "token")
    poller = strategy(account)

    async def main():
        with pytest.raises(OSError, match="does not exist"):
            await poller.poll()
        (account.dir / "token").write_text(api.token)
        try:
            return await poller.poll()
        finally:
            await poller.close()
    assert asyncio.run(main()) == {("127.0.0.11", 5252)}
    assert api.requests[-1][1]["limit"] == "500"
