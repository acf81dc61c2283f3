"""``REMOTE:`` prefixes and ``cluster update-certificate``, beside the real ``lxc`` reading the same
client configuration: ``local`` is one mock (``$LXD_SOCKET``), the remote ``prod`` another
(four members, ``unix:///...`` in lxc's config.yml), so a prefix that is not obeyed shows."""
from __future__ import annotations

import sys

import pytest

from mockserver.state.certificate import generate
from pylxd_cluster.cli.main import main


@pytest.fixture
def prod(mock_cluster_factory):
    return mock_cluster_factory(4)


@pytest.fixture
def conf(lxc, prod, mock_cluster, monkeypatch):
    """lxc's configuration directory with the remote prod; our CLI reads it through $LXD_CONF,
    and finds the local server through $LXD_SOCKET, as lxc does."""
    (lxc.conf / "config.yml").write_text(
        f"default-remote: local\nremotes:\n  prod:\n    addr: unix://{prod.unix_socket}\n    protocol: lxd\n"
        "    public: false\n")
    monkeypatch.setenv("LXD_CONF", str(lxc.conf))
    monkeypatch.setenv("LXD_SOCKET", mock_cluster.unix_socket)
    for name in ("INCUS_CONF", "PYLXD_CLUSTER_ENDPOINT", "LXC_REMOTE"):
        monkeypatch.delenv(name, raising=False)
    return lxc.conf


@pytest.fixture
def cli(capsys):
    """``cli(*args)`` -> (exit code, stdout, stderr), no --endpoint."""
    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        try:
            code = main(list(args))
        except SystemExit as exc:   # argparse, and the option checks
            code = exc.code if isinstance(exc.code, int) else 1
            if not isinstance(exc.code, int):
                print(exc.code, file=sys.stderr)
        captured = capsys.readouterr()
        return code, captured.out, captured.err
    return run


@pytest.mark.parametrize("command", [("cluster", "list", "prod:", "-f", "csv"), ("cluster", "list", "prod:"),
                                     ("cluster", "show", "prod:node4"), ("cluster", "group", "list", "prod:"),
                                     ("cluster", "list", "local:", "-f", "csv"), ("cluster", "list", "-f", "csv")])
def test_a_remote_prefix_reaches_the_server_lxc_reaches(conf, lxc, cli, command):
    theirs = lxc.ok(*command)
    assert cli(*command) == (0, theirs, "")
    if "prod:" in command and command[1] == "list":
        assert "node4" in theirs


def test_an_unknown_remote_is_lxcs_error(conf, lxc, cli, mock_cluster, prod):
    assert lxc.fails("cluster", "show", "nope:node1") == 'Error: The remote "nope" doesn\'t exist\n'
    code, out, err = cli("cluster", "show", "nope:node1")
    assert (code, out) == (1, "") and err.startswith('Error: The remote "nope" doesn\'t exist in ')
    assert "local, prod" in err
    assert mock_cluster.requests == [] and prod.requests == []   # nothing was sent anywhere


def test_remote_option_and_prefix_act_on_the_remote(conf, cli, prod, mock_cluster):
    code, out, _ = cli("--remote", "prod", "status")
    assert code == 0 and "Members online: 4 of 4" in out
    assert cli("cluster", "evacuate", "prod:node2", "--force")[0] == 0
    assert prod.state.member_to_api("node2")["status"] == "Evacuated"
    assert mock_cluster.state.member_to_api("node2")["status"] == "Online"
    assert cli("cluster", "rename", "prod:node4", "node7")[0] == 0 and "node7" in prod.state.members
    assert cli("--remote", "prod", "cluster", "show", "prod:node1")[0] == 0   # the same remote twice is fine


@pytest.mark.parametrize("args,error", [
    (("--endpoint", "/nothing.sock", "cluster", "list", "prod:"), "--endpoint cannot be given with it"),
    (("cluster", "show", "prod:node1", "--verify", "no"), "--verify cannot be given with it"),
    (("--remote", "prod", "cluster", "show", "local:node1"), "--remote prod and local: name two servers"),
    (("cluster", "list", "prod"), "expected a remote and a colon ([REMOTE:], e.g. prod:), got 'prod'"),
    (("cluster", "list", "prod:node1"), "this command takes a remote only"),
    (("cluster", "show", "prod:"), "Missing cluster member name after prod:"),
    (("cluster", "group", "show", "prod:"), "Missing cluster group name after prod:"),
])
def test_what_cannot_be_combined(conf, cli, args, error, prod):
    code, out, err = cli(*args)
    assert (code, out) == (1, "") and error in err, err
    assert prod.requests == []


def test_without_any_client_configuration(cli, mock_cluster, monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("LXD_SOCKET", mock_cluster.unix_socket)
    for name in ("LXD_CONF", "INCUS_CONF", "PYLXD_CLUSTER_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    code, out, _ = cli("cluster", "list", "local:", "-f", "csv")   # local: is always there, as in lxc
    assert code == 0 and out.startswith("node1,")
    code, out, err = cli("cluster", "show", "prod:node1")
    assert (code, out) == (1, "") and 'The remote "prod" doesn\'t exist (no lxc or incus client configuration' in err


# ---- update-certificate ------------------------------------------------------------------------


@pytest.fixture
def pem(tmp_path):
    cert, key = generate("the-new-cluster-certificate")
    (tmp_path / "new.crt").write_text(cert)
    (tmp_path / "new.key").write_text(key)
    return str(tmp_path / "new.crt"), str(tmp_path / "new.key"), cert


def test_update_certificate_as_lxc(conf, lxc, cli, prod, mock_cluster, pem):
    crt, key, cert = pem
    (conf / "servercerts").mkdir()
    pinned = conf / "servercerts" / "prod.crt"
    pinned.write_text("the old certificate\n")
    theirs = lxc.ok("cluster", "update-certificate", crt, key)   # lxc on local
    assert theirs == "Successfully updated cluster certificates for remote local\n"
    assert mock_cluster.state.certificate_pem == cert
    mock_cluster.state.certificate_pem = "before"
    assert cli("cluster", "update-cert", crt, key) == (0, theirs, "")   # lxc's alias; on the local server
    assert mock_cluster.state.certificate_pem == cert
    code, out, err = cli("cluster", "update-certificate", "prod:", crt, key)
    assert (code, out) == (0, "Successfully updated cluster certificates for remote prod\n")
    assert "servercerts/prod.crt" in err
    assert prod.state.certificate_pem == cert and pinned.read_text() == cert   # as lxc rewrites it


def test_update_certificate_refusals_as_lxc(conf, lxc, cli, mock_cluster_factory, pem, tmp_path, monkeypatch):
    crt, key, _ = pem
    missing = str(tmp_path / "missing.crt")
    assert cli("cluster", "update-certificate", missing, key)[2] == f"Error: Could not find certificate file path: " \
                                                                     f"{missing}\n"
    assert lxc.fails("cluster", "update-certificate", missing, key) == \
        f"Error: Could not find certificate file path: {missing}\n"
    standalone = mock_cluster_factory(0)
    monkeypatch.setenv("LXD_SOCKET", standalone.unix_socket)
    lxc.env["LXD_SOCKET"] = standalone.unix_socket
    theirs = lxc.fails("cluster", "update-certificate", crt, key)
    assert cli("cluster", "update-certificate", crt, key) == (1, "", theirs) == \
        (1, "", "Error: LXD server isn't part of a cluster\n")
    code, _, err = cli("cluster", "update-certificate", "a", "b", "c", "d")
    assert code == 2 and "takes [REMOTE:] CERT.CRT CERT.KEY, not 4" in err
