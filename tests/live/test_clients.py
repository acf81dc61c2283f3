"""Clients-level differential checks: the same ``lxc`` / ``incus`` commands against a real
server and against the mock of its profile, whose outputs must be the same once what
differs between any two servers is normalised.

* ``lxc`` (lxd-client 5.0.2) against the real LXD 5.0.2 cluster (``real_lxd``) and a
  ``MockCluster(2, server="lxd-5.0")``;
* ``incus`` (incus-client 6.0.4) against the real Incus 6.0.4 cluster (``real_incus``) and
  a ``MockCluster(2, server="incus-6.0")``.

Both sides are driven by the same runner (tests/support/lxc.py: its own HOME and
configuration directory, ``LXD_SOCKET`` / ``INCUS_SOCKET``, no proxies), pointed at the real
``node1``'s unix socket (a file, reachable from outside the cluster's network namespace) or
at the mock's. Each command gives a *step*: its exit status and its normalised stdout and
stderr. What is normalised, on both sides alike:

- the members' addresses (``https://H:P`` and ``H:P``) become ``ADDRESS_node1`` ..., learned
  from each side's member list before the test (the mock's node1 listens on a free port, the
  real members on ``127.0.0.<i>:8443`` inside their namespace);
- a join token (base64 JSON) becomes its decoded fields, in their order, with the secret,
  the expiry and the fingerprint replaced (the fingerprint only if it is the side's own
  certificate's) and the addresses normalised;
- a token's expiry in ``list-tokens`` (``2026/12/01 01:36 UTC``) becomes ``<expiry>``;
- a table (``+---+`` rules, ``|`` rows) becomes its rows of stripped cells, since column
  widths follow the addresses' lengths.

A scenario's steps are compared one by one; the real cluster is put back as it was found
after each test (``RealCluster.reset``), and every mock is fresh.
"""
from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mockserver import MockCluster
from tests.support.lxc import Cli
from tests.support.realservers import unix_request

#: flavour: (its client, the mock profile of that server)
PAIRS = {"lxd": ("lxc", "lxd-5.0"), "incus": ("incus", "incus-6.0")}
TOKEN = re.compile(r"eyJ[A-Za-z0-9+/]+={0,2}")
EXPIRY = re.compile(r"\b\d{4}/\d\d/\d\d \d\d:\d\d UTC\b")
ADDRESS = re.compile(r"(?:https://)?\d{1,3}(?:\.\d{1,3}){3}:\d{1,5}")


@dataclass
class Side:
    """One server (``live`` or ``mock``) seen through the client."""

    name: str
    cli: Cli | None            # None: a Side that only normalises (the normaliser's own test)
    addresses: dict[str, str]  # "H:P" -> "ADDRESS_nodeN"
    fingerprint: str

    @classmethod
    def of(cls, name: str, cli: Cli) -> Side:
        status, _, reply = unix_request(cli.socket_path, "GET", "/1.0/cluster/members?recursion=1")
        assert status == 200, reply
        addresses = {m["url"].split("://", 1)[1]: f"ADDRESS_{m['server_name']}" for m in reply["metadata"]}
        _, _, info = unix_request(cli.socket_path, "GET", "/1.0")
        return cls(name, cli, addresses, info["metadata"]["environment"]["certificate_fingerprint"])

    # ---- normalising -------------------------------------------------------------------

    def address(self, match: re.Match) -> str:
        text = match.group(0)
        named = self.addresses.get(text.removeprefix("https://"))
        if named is None:  # not a member's: left as it is, so that a difference shows
            return text
        return f"https://{named}" if text.startswith("https://") else named

    def token(self, match: re.Match) -> str:
        try:
            fields = json.loads(base64.b64decode(match.group(0), validate=True), object_pairs_hook=list)
        except (binascii.Error, ValueError):
            return match.group(0)
        shown = []
        for key, value in fields:
            if key == "secret":
                value = "<secret>" if re.fullmatch(r"[0-9a-f]{64}", value) else value
            elif key == "fingerprint":
                value = "<own fingerprint>" if value == self.fingerprint else value
            elif key == "expires_at":
                value = "<time>"
            elif key == "addresses":
                value = [self.addresses.get(a, a) for a in value]
            shown.append((key, value))
        return f"<token {json.dumps(shown)}>"

    def normalise(self, text: str) -> Any:
        text = TOKEN.sub(self.token, text)
        text = ADDRESS.sub(self.address, text)
        text = EXPIRY.sub("<expiry>", text)
        lines = text.splitlines()
        if lines and lines[0].startswith("+-"):
            rules = sum(1 for line in lines if line.startswith("+"))
            return {"rules": rules, "rows": [[cell.strip() for cell in line.strip().strip("|").split("|")]
                                             for line in lines if line.startswith("|")]}
        return text

    def step(self, args: tuple[str, ...], stdin: str | None = None) -> dict:
        assert self.cli is not None
        result = self.cli.run(*args, input=stdin)
        return {"command": " ".join(args), "exit": result.returncode, "stdout": self.normalise(result.stdout),
                "stderr": self.normalise(result.stderr)}


@dataclass
class Pair:
    flavour: str
    live: Side
    mock: Side
    mock_cluster: MockCluster

    @property
    def cli_name(self) -> str:
        return self.live.cli.name

    def run(self, *commands: tuple[str, ...] | tuple[tuple[str, ...], str]) -> list[dict]:
        """Run each command on both sides (a command with stdin is ``(args, stdin)``); fail
        at the first step whose outputs differ, showing both; return the live steps."""
        steps = []
        for command in commands:
            args, stdin = (command[0], command[1]) if isinstance(command[0], tuple) else (command, None)
            live, mock = self.live.step(args, stdin), self.mock.step(args, stdin)
            assert live == mock, (f"`{self.cli_name} {live['command']}`: the live {self.flavour} and the mock "
                                  f"differ\n  live: {live}\n  mock: {mock}\n  (steps before: {steps})")
            steps.append(live)
        return steps


@pytest.fixture(params=sorted(PAIRS))
def pair(request, tmp_path: Path):
    """The real cluster of a flavour and a fresh 2-member mock of its profile, each seen
    through that flavour's client; the real cluster is reset afterwards."""
    flavour = request.param
    real = request.getfixturevalue(f"real_{flavour}")
    cli_name, profile = PAIRS[flavour]
    with MockCluster(len(real.members), server=profile) as mock:
        try:
            yield Pair(flavour, Side.of("live", Cli(cli_name, real.socket_path("node1"), tmp_path / "live")),
                       Side.of("mock", Cli(cli_name, mock.unix_socket, tmp_path / "mock")), mock)
        finally:
            real.reset()


def out(step: dict) -> tuple:
    return step["exit"], step["stdout"], step["stderr"]


# ---- the normaliser itself ----------------------------------------------------------------------

def test_normaliser_hides_addresses_tokens_expiries_and_table_widths():
    side = Side("x", None, {"127.0.0.1:8443": "ADDRESS_node1"}, "ab" * 32)
    token = base64.b64encode(json.dumps({"server_name": "n9", "fingerprint": "ab" * 32,
                                         "addresses": ["127.0.0.1:8443"], "secret": "0f" * 32,
                                         "expires_at": "2026-12-01T01:36:07.4Z"}).encode()).decode()
    assert side.normalise(f"url: https://127.0.0.1:8443\n{token}\n2026/12/01 01:36 UTC\n127.0.0.9:1\n"
                          "127.0.0.1:8443,x\n") == (
        'url: https://ADDRESS_node1\n<token [["server_name", "n9"], ["fingerprint", "<own fingerprint>"], '
        '["addresses", ["ADDRESS_node1"]], ["secret", "<secret>"], ["expires_at", "<time>"]]>\n<expiry>\n'
        '127.0.0.9:1\nADDRESS_node1,x\n')
    table = "+---+------+\n| A |  B   |\n+---+------+\n| 1 | two  |\n|   | more |\n+---+------+\n"
    assert side.normalise(table) == {"rules": 3, "rows": [["A", "B"], ["1", "two"], ["", "more"]]}


# ---- reads ---------------------------------------------------------------------------------------

READS = [
    ("cluster", "list"),
    ("cluster", "list", "--format", "csv"),
    ("cluster", "list", "--format", "json"),
    ("cluster", "list", "--format", "yaml"),
    ("cluster", "show", "node1"),
    ("cluster", "show", "node2"),
    ("cluster", "show", "nope"),
    ("cluster", "get", "node1", "scheduler.instance"),
    ("cluster", "group", "list"),
    ("cluster", "group", "list", "--format", "csv"),
    ("cluster", "group", "list", "--format", "json"),
    ("cluster", "group", "list", "--format", "yaml"),
    ("cluster", "group", "show", "default"),
    ("cluster", "group", "show", "nope"),
    ("cluster", "list-tokens"),
    ("cluster", "list-tokens", "--format", "csv"),
    ("cluster", "list-tokens", "--format", "json"),
]


REFUSED = {("cluster", "show", "nope"): "Error: Cluster member not found\n",
           ("cluster", "group", "show", "nope"): "Error: Cluster group not found\n",
           ("cluster", "get", "node1", "scheduler.instance"):
               'Error: The key "scheduler.instance" does not exist on cluster member "node1"\n'}


@pytest.mark.parametrize("command", READS, ids=[" ".join(c[1:]) for c in READS])
def test_read_command(pair, command):
    [step] = pair.run(command)
    if command in REFUSED:
        refusal = REFUSED[command]
        if pair.flavour == "incus":
            refusal = refusal.replace("Cluster group not found", "Cluster_group not found")
        assert out(step) == (1, "", refusal)
    else:
        assert (step["exit"], step["stderr"]) == (0, ""), step


def test_cluster_list_csv_rows(pair):
    [step] = pair.run(("cluster", "list", "--format", "csv"))
    assert out(step) == (0, 'node1,https://ADDRESS_node1,"database-leader,database",x86_64,default,,ONLINE,'
                            'Fully operational\nnode2,https://ADDRESS_node2,database-standby,x86_64,default,,'
                            'ONLINE,Fully operational\n', "")


def test_cluster_group_list_csv(pair):
    [step] = pair.run(("cluster", "group", "list", "--format", "csv"))
    assert out(step) == (0, "default,Default cluster group,2\n", "")


# ---- writes --------------------------------------------------------------------------------------

def test_group_lifecycle(pair):
    steps = pair.run(
        ("cluster", "group", "create", "g8"),
        ("cluster", "group", "assign", "node1", "default,g8"),
        ("cluster", "group", "list", "--format", "csv"),
        ("cluster", "group", "show", "g8"),
        ("cluster", "show", "node1"),
        ("cluster", "group", "remove", "node1", "g8"),
        ("cluster", "group", "rename", "g8", "g9"),
        (("cluster", "group", "edit", "g9"), "description: edited\nmembers:\n- node2\n"),
        ("cluster", "group", "list", "--format", "json"),
        (("cluster", "group", "edit", "g9"), "description: edited\nmembers: []\n"),
        ("cluster", "group", "delete", "g9"),
        ("cluster", "group", "list"),
    )
    assert [out(s) for s in steps[:2]] == [(0, "Cluster group g8 created\n", ""),
                                           (0, "Cluster member node1 added to cluster groups default,g8\n", "")]
    assert out(steps[2]) == (0, "default,Default cluster group,2\ng8,,1\n", "")
    assert out(steps[10]) == (0, "Cluster group g9 deleted\n", "")


def test_group_errors(pair):
    steps = pair.run(
        ("cluster", "group", "delete", "default"),
        ("cluster", "group", "assign", "node1", "default,nosuch"),
        ("cluster", "group", "create", "default"),
        ("cluster", "group", "rename", "nope", "other"),
        ("cluster", "group", "delete", "nope"),
        ("cluster", "group", "list", "--format", "csv"),
    )
    assert out(steps[0]) == (1, "", "Error: The 'default' cluster group cannot be deleted\n")
    assert out(steps[-1]) == (0, "default,Default cluster group,2\n", "")


def test_group_create_with_a_description(pair):
    """incus takes ``--description``; lxc 5.0.2 does not know the flag."""
    [create, show] = pair.run(("cluster", "group", "create", "g1", "--description", "rack one"),
                              ("cluster", "group", "show", "g1"))
    if pair.cli_name == "incus":
        assert out(create) == (0, "Cluster group g1 created\n", "")
        assert out(show) == (0, "description: rack one\nmembers: []\nname: g1\n", "")
    else:
        assert out(create) == (1, "", "Error: unknown flag: --description\n")
        assert out(show) == (1, "", "Error: Cluster group not found\n")


def test_member_config(pair):
    steps = pair.run(
        ("cluster", "set", "node2", "scheduler.instance", "manual"),
        ("cluster", "get", "node2", "scheduler.instance"),
        ("cluster", "show", "node2"),
        ("cluster", "unset", "node2", "scheduler.instance"),
        ("cluster", "get", "node2", "scheduler.instance"),
        ("cluster", "set", "node2", "scheduler.instance", "sometimes"),
        ("cluster", "set", "node2", "user.owner", "ops"),
        ("cluster", "get", "node2", "user.owner"),
        ("cluster", "set", "node2", "bogus.key", "1"),
        ("cluster", "unset", "node2", "user.owner"),
    )
    assert out(steps[1]) == (0, "manual\n", "")
    assert out(steps[4]) == (1, "", 'Error: The key "scheduler.instance" does not exist on cluster member "node2"\n')


def test_cluster_edit(pair):
    edited = ("description: rack two\nfailure_domain: rack2\nconfig:\n  scheduler.instance: manual\n"
              "roles:\n- database-standby\ngroups:\n- default\n")
    steps = pair.run((("cluster", "edit", "node2"), edited),
                     ("cluster", "show", "node2"),
                     ("cluster", "list", "--format", "csv"),
                     (("cluster", "edit", "node2"), "not: [valid"))
    assert out(steps[0]) == (0, "", "")
    assert "failure_domain: rack2\ndescription: rack two\nconfig:\n  scheduler.instance: manual\n" in steps[1]["stdout"]
    assert out(steps[3]) == (1, "", "Error: yaml: line 1: did not find expected ',' or ']'\n")


def test_rename_and_back(pair):
    steps = pair.run(
        ("cluster", "rename", "node2", "node2b"),
        ("cluster", "list", "--format", "csv"),
        ("cluster", "show", "node2b"),
        ("cluster", "show", "node2"),
        ("cluster", "rename", "node2b", "node1"),
        ("cluster", "rename", "nope", "other"),
        ("cluster", "rename", "node2b", "node2"),
        ("cluster", "group", "show", "default"),
    )
    assert out(steps[0]) == (0, "Member node2 renamed to node2b\n", "")
    assert out(steps[4]) == (1, "", "Error: Conflict\n")


def test_evacuate_and_restore(pair):
    steps = pair.run(
        ("cluster", "evacuate", "node2", "--force"),
        ("cluster", "list", "--format", "csv"),
        ("cluster", "show", "node2"),
        ("cluster", "evacuate", "node2", "--force"),
        ("cluster", "restore", "node2", "--force"),
        ("cluster", "restore", "node2", "--force"),
        ("cluster", "evacuate", "nope", "--force"),
        ("cluster", "list"),
    )
    assert out(steps[0]) == (0, "", "")
    assert "node2,https://ADDRESS_node2,database-standby,x86_64,default,,EVACUATED,Unavailable due to " \
           "maintenance\n" in steps[1]["stdout"]
    assert out(steps[4]) == (0, "", "")


@pytest.mark.parametrize("mode", ["auto", "stop", "stateful-stop", "force-stop", "migrate", "live-migrate"])
def test_evacuation_modes(pair, mode):
    """incus's ``--action`` (Incus's modes); lxc 5.0.2 has no such flag."""
    steps = pair.run(("cluster", "evacuate", "node2", "--force", "--action", mode),
                     ("cluster", "list", "--format", "csv"),
                     ("cluster", "restore", "node2", "--force"))
    if pair.cli_name == "incus":
        assert out(steps[0]) == (0, "", "") and ",EVACUATED," in steps[1]["stdout"]
    else:
        assert out(steps[0]) == (1, "", "Error: unknown flag: --action\n")
        assert ",EVACUATED," not in steps[1]["stdout"]


def test_unknown_evacuation_mode(pair):
    [step, listed] = pair.run(("cluster", "evacuate", "node2", "--force", "--action", "bogus"),
                              ("cluster", "list", "--format", "csv"))
    assert step["exit"] == 1 and "EVACUATED" not in listed["stdout"]


def test_join_tokens(pair):
    steps = pair.run(
        ("cluster", "add", "node9"),
        ("cluster", "list-tokens", "--format", "csv"),
        ("cluster", "list-tokens"),
        ("cluster", "revoke-token", "node9"),
        ("cluster", "revoke-token", "node9"),
        ("cluster", "list-tokens", "--format", "csv"),
    )
    token = steps[0]["stdout"]
    assert token.startswith("Member node9 join token:\n<token ") and '"<own fingerprint>"' in token, token
    assert '["addresses", ["ADDRESS_node1", "ADDRESS_node2"]]' in token
    assert out(steps[3]) == (0, "Cluster join token for local:node9 deleted\n", "")
    assert out(steps[4]) == (1, "", "Error: No cluster join token for member node9 on remote: local\n")
    assert out(steps[5]) == (0, "", "")


def test_join_token_for_an_existing_member_name(pair):
    """LXD 5.0.2 grants a token named after a member; Incus 6.0.4 refuses it."""
    [add, listed] = pair.run(("cluster", "add", "node2"), ("cluster", "list-tokens", "--format", "csv"))
    if pair.flavour == "incus":
        assert out(add) == (1, "", "Error: The cluster already has a member with name: node2\n")
        assert listed["stdout"] == ""
    else:
        assert add["exit"] == 0 and add["stdout"].startswith("Member node2 join token:\n<token ")
        assert listed["stdout"].startswith("node2,<token ")


def test_remove_unknown_member(pair):
    [step] = pair.run(("cluster", "remove", "nope", "--force", "--yes"))
    assert out(step) == (1, "", "Error: Cluster member not found\n")
