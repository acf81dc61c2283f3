"""The Go request structs of LXD's cluster API, for decoding bodies with Go's rules."""
from mockserver.godecode import BOOL, STRING, ListOf, MapOf, Struct

CLUSTER_MEMBER_CONFIG_KEY = Struct("ClusterMemberConfigKey", {
    "entity": STRING, "name": STRING, "key": STRING, "value": STRING, "description": STRING})

CLUSTER_PUT = Struct("ClusterPut", {
    "server_name": STRING, "enabled": BOOL, "member_config": ListOf(CLUSTER_MEMBER_CONFIG_KEY),
    "cluster_address": STRING, "cluster_certificate": STRING, "server_address": STRING,
    "cluster_password": STRING, "cluster_token": STRING})

CLUSTER_CERTIFICATE_PUT = Struct("ClusterCertificatePut", {
    "cluster_certificate": STRING, "cluster_certificate_key": STRING})

CLUSTER_MEMBERS_POST = Struct("ClusterMembersPost", {"server_name": STRING})

CLUSTER_MEMBER_PUT = Struct("ClusterMemberPut", {
    "roles": ListOf(STRING), "failure_domain": STRING, "description": STRING,
    "config": MapOf(STRING), "groups": ListOf(STRING)})

CLUSTER_MEMBER_POST = Struct("ClusterMemberPost", {"server_name": STRING})

CLUSTER_MEMBER_STATE_POST = Struct("ClusterMemberStatePost", {
    "action": STRING, "mode": STRING, "force": BOOL})

CLUSTER_GROUPS_POST = Struct("ClusterGroupsPost", {
    "description": STRING, "members": ListOf(STRING), "name": STRING})

CLUSTER_GROUP_PUT = Struct("ClusterGroupPut", {"description": STRING, "members": ListOf(STRING)})

CLUSTER_GROUP_POST = Struct("ClusterGroupPost", {"name": STRING})

