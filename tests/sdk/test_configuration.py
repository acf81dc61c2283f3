"""ConfigurationManager and PackConfiguration (``/1.0/cluster/config``) against the mock server."""

import json
from collections import OrderedDict

import pytest

from pylxd_cluster import (
    APIError,
    ClusterError,
    ConfigModule,
    ConfigurationVersion,
    NotFound,
    NotImplementedByServer,
    PackConfiguration,
    PreconditionFailed,
)

WEBGUI = {"WebGui": {"port": 80, "listen": "0.0.0.0"}}
NAMES = {"Names": {"hosts": ["a", "b"]}}


def seed(mock, *modules):
    """Put ``modules`` ([{"Name": {options}}, ...]) in the mock's configuration, as a write would."""
    return mock.state.update_configuration(list(modules), patch=False, requestor=None)


def server_modules(mock):
    return mock.state.configuration_to_api()["modules"]


def test_get_reads_modules_in_order_with_version_digest_and_etag(mock_cluster, mock_client):
    document = seed(mock_cluster, NAMES, WEBGUI)
    config = mock_client.cluster.config.get()
    assert isinstance(config, PackConfiguration)
    assert config.names == ("Names", "WebGui")  # wire order, not sorted
    assert config.modules[1] == ConfigModule("WebGui", {"port": 80, "listen": "0.0.0.0"})
    assert (config.version, config.term, config.digest) == (document.version, document.term, document.digest)
    assert config.etag == mock_cluster.state.configuration_etag()
    assert config.local_modules == ()
    assert config.modules_to_api() == [NAMES, WEBGUI]
    assert config.to_api()["modules"] == [NAMES, WEBGUI]
    assert config.describe() == f"configuration version {document.version} (term {document.term}), " \
                                f"digest {document.digest[:8]}..."


def test_options_view_is_read_only_and_module_gives_a_copy():
    config = PackConfiguration.from_api({"modules": [WEBGUI, NAMES], "version": 3, "term": 1, "digest": "ab" * 32})
    assert list(config.options) == ["WebGui", "Names"]
    assert config.options["WebGui"]["port"] == 80
    with pytest.raises(TypeError):
        config.options["New"] = {}
    with pytest.raises(TypeError):
        config.options["WebGui"]["port"] = 81
    copy = config.module("WebGui")
    copy["port"] = 81
    assert config.module("WebGui")["port"] == 80
    with pytest.raises(KeyError, match="WebGui, Names"):
        config.module("Nope")


def test_from_api_keeps_unknown_keys_and_names_a_bad_module_list():
    data = {"modules": [{"A": {"x": 1}}, {"B": None}], "version": 2, "term": 1, "digest": "d",
            "local_modules": ["L"], "from_the_future": {"k": 1}}
    config = PackConfiguration.from_api(data)
    assert config.extra == {"from_the_future": {"k": 1}}
    assert config.module("B") == {}  # "- B:" in the seed's style: no options
    assert config.local_modules == ("L",)
    assert config.to_api()["from_the_future"] == {"k": 1}
    with pytest.raises(ClusterError, match=r"PackConfiguration\.modules"):
        PackConfiguration.from_api({"modules": [{"A": {}, "B": {}}]})
    with pytest.raises(ClusterError, match="expected a mapping of options"):
        PackConfiguration.from_api({"modules": [{"A": [1, 2]}]})


def test_manager_checks_the_extension_once_and_lazily(mock_cluster, mock_client):
    mock_cluster.clear_requests()
    manager = mock_client.cluster.config
    assert repr(manager).startswith("<ConfigurationManager")
    assert mock_cluster.requests == []  # reaching the manager sends nothing
    manager.get()
    manager.get()
    # The Client read /1.0 (and its extensions) when it connected: no request to check them.
    assert [(r.method, r.path) for r in mock_cluster.requests] == [
        ("GET", "/1.0/cluster/config"), ("GET", "/1.0/cluster/config")]


def test_server_without_the_extension_raises_a_clear_error(client, lxd):
    """LXD 5.0.2 (the golden GET /1.0) has no pack_configuration: nothing is sent to /1.0/cluster/config."""
    lxd.reply("GET", "/1.0", "GET_1.0")
    for call in (client.cluster.config.get, lambda: client.cluster.config.replace([])):
        with pytest.raises(NotImplementedByServer, match="pack_configuration") as caught:
            call()
        assert caught.value.status_code == 501
        assert "/1.0/cluster/config" in str(caught.value)
    assert [c.request.url for c in lxd.calls] == []  # the extensions came with the client's own GET /1.0


def test_replace_takes_a_list_pairs_or_a_mapping(mock_cluster, mock_client):
    manager = mock_client.cluster.config
    written = manager.replace([WEBGUI, NAMES])
    assert isinstance(written, ConfigurationVersion)
    assert server_modules(mock_cluster) == [WEBGUI, NAMES]
    assert (written.version, written.digest) == (mock_cluster.state.configuration.version,
                                                 mock_cluster.state.configuration.digest)
    assert str(written) == f"configuration version {written.version} (term {written.term}), " \
                           f"digest {written.digest[:8]}..."
    manager.replace(OrderedDict([("Names", {"hosts": []}), ("WebGui", {"port": 8080})]))
    assert server_modules(mock_cluster) == [{"Names": {"hosts": []}}, {"WebGui": {"port": 8080}}]
    config = manager.get()
    again = manager.replace(config.modules)  # (name, options) pairs, unchanged: same version
    assert again.version == config.version and again.digest == config.digest
    manager.replace(config.options)  # the read-only view works as a mapping too
    assert server_modules(mock_cluster) == [{"Names": {"hosts": []}}, {"WebGui": {"port": 8080}}]
    manager.replace([])
    assert server_modules(mock_cluster) == []


def test_replace_refuses_malformed_modules_before_sending(mock_cluster, mock_client):
    manager = mock_client.cluster.config
    manager.get()
    mock_cluster.clear_requests()
    for bad in ("WebGui", [{"A": {}, "B": {}}], [["A"]], 42):
        with pytest.raises(TypeError, match="modules"):
            manager.replace(bad)
    assert mock_cluster.requests == []


def test_patch_replaces_in_place_appends_and_removes(mock_cluster, mock_client):
    seed(mock_cluster, WEBGUI, NAMES, {"Extra": {}})
    written = mock_client.cluster.config.patch({"WebGui": {"port": 81}, "Extra": None, "New": {"a": 1}})
    assert server_modules(mock_cluster) == [{"WebGui": {"port": 81}}, NAMES, {"New": {"a": 1}}]
    assert written.version == mock_cluster.state.configuration.version
    with pytest.raises(TypeError, match="mapping"):
        mock_client.cluster.config.patch([WEBGUI])


def test_set_merges_options_and_appends_a_new_module(mock_cluster, mock_client):
    seed(mock_cluster, WEBGUI, NAMES)
    before = mock_cluster.state.configuration.version
    written = mock_client.cluster.config.set("WebGui", port=8080, tls=True)
    assert server_modules(mock_cluster)[0] == {"WebGui": {"port": 8080, "listen": "0.0.0.0", "tls": True}}
    assert written.version == before + 1
    mock_client.cluster.config.set("Logs", **{"max-size": "10M", "module": "named module"})
    assert server_modules(mock_cluster)[-1] == {"Logs": {"max-size": "10M", "module": "named module"}}
    assert [next(iter(m)) for m in server_modules(mock_cluster)] == ["WebGui", "Names", "Logs"]


def test_unset_removes_a_key_or_a_module_and_refuses_what_is_not_there(mock_cluster, mock_client):
    seed(mock_cluster, WEBGUI, NAMES)
    manager = mock_client.cluster.config
    manager.unset("WebGui", "listen")
    assert server_modules(mock_cluster) == [{"WebGui": {"port": 80}}, NAMES]
    manager.unset("Names")
    assert server_modules(mock_cluster) == [{"WebGui": {"port": 80}}]
    version = mock_cluster.state.configuration.version
    with pytest.raises(NotFound, match=r"no module 'Names'.*modules: WebGui"):
        manager.unset("Names")
    with pytest.raises(NotFound, match=r"no option 'listen'.*options: port"):
        manager.unset("WebGui", "listen")
    assert mock_cluster.state.configuration.version == version  # nothing was written


def test_stale_etag_is_refused_with_precondition_failed(mock_cluster, mock_client):
    seed(mock_cluster, WEBGUI)
    config = mock_client.cluster.config.get()
    seed(mock_cluster, NAMES)  # someone else's change
    with pytest.raises(PreconditionFailed) as caught:
        config.evolve(modules=config.modules + (ConfigModule("Mine", {}),)).save()
    assert caught.value.status_code == 412 and "refresh()" in str(caught.value)
    with pytest.raises(PreconditionFailed):
        mock_client.cluster.config.patch({"Mine": {}}, etag=config.etag)
    assert server_modules(mock_cluster) == [NAMES]  # no lost update
    fresh = config.refresh()
    fresh.evolve(modules=fresh.modules + (ConfigModule("Mine", {}),)).save()
    assert server_modules(mock_cluster) == [NAMES, {"Mine": {}}]


def test_set_and_unset_send_if_match_of_what_they_read(mock_cluster, mock_client, monkeypatch):
    """A change between set()'s read and its write is refused, not overwritten."""
    seed(mock_cluster, WEBGUI)
    manager = mock_client.cluster.config
    stale = manager.get()
    seed(mock_cluster, {"WebGui": {"port": 9000}})  # lands between the read and the write
    monkeypatch.setattr(manager, "get", lambda: stale)
    with pytest.raises(PreconditionFailed):
        manager.set("WebGui", listen="127.0.0.1")
    with pytest.raises(PreconditionFailed):
        manager.unset("WebGui", "listen")
    assert server_modules(mock_cluster) == [{"WebGui": {"port": 9000}}]


@pytest.mark.parametrize("modules", [[{"Pack": {"name": "lab"}}], [{"Api": {}}], [{"PackConfiguration": {}}]])
def test_per_member_modules_are_refused_with_400(mock_cluster, mock_client, modules):
    seed(mock_cluster, WEBGUI)
    with pytest.raises(APIError) as caught:
        mock_client.cluster.config.replace(modules)
    assert type(caught.value) is APIError and caught.value.status_code == 400
    assert "never shared" in caught.value.error
    with pytest.raises(APIError, match="400"):
        mock_client.cluster.config.patch(modules[0])
    assert server_modules(mock_cluster) == [WEBGUI]


def test_a_write_emits_the_lifecycle_event(mock_client):
    with mock_client.events() as stream:
        written = mock_client.cluster.config.replace([WEBGUI])
        event = stream.wait_for(action="cluster-configuration-updated", timeout=10)
    assert event.source == "/1.0/cluster/config"
    assert event.context == {"version": written.version, "term": written.term, "digest": written.digest}


def test_repr_html_lists_modules_and_version_escaped(mock_cluster, mock_client):
    seed(mock_cluster, WEBGUI, {"Notes": {"text": "<b>bold</b>"}}, {"Empty": {}})
    config = mock_client.cluster.config.get()
    html = config._repr_html_()
    assert html.startswith("<table") and "<th" in html and "MODULE" in html and "OPTIONS" in html
    assert "WebGui" in html and "port=80, listen=0.0.0.0" in html
    assert "&lt;b&gt;bold&lt;/b&gt;" in html and "<b>bold</b>" not in html
    assert "no options" in html
    assert f"version {config.version} (term {config.term}), digest {config.digest[:8]}" in html
    local = config.evolve(local_modules=("Names",))._repr_html_()
    assert "own file" in local and "Names" in local
    long = PackConfiguration.from_api({"modules": [{"Big": {"k": "x" * 200}}]})._repr_html_()
    assert "x" * 200 not in long and "..." in long


def test_written_version_is_plain_data(mock_client):
    written = mock_client.cluster.config.replace([NAMES])
    assert json.loads(json.dumps(written.to_api())) == {"version": written.version, "term": written.term,
                                                        "digest": written.digest}
