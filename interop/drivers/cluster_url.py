"""crossredis's Redis Cluster URL, read by the Python side of the interop suite (the runner and
the Python driver), which hands its seeds to redis-py's RedisCluster where crossredis takes the URL
itself. The Node driver has the same reader (ts_driver.mjs, parseClusterUrl)."""

from __future__ import annotations

import urllib.parse


def parse_cluster_url(url: str) -> tuple[list[tuple[str, int]], str | None, str | None] | None:
    """The seeds, user and password of redis+cluster://[user[:password]@]host:port,host:port,...
    (rediss+cluster:// too: the caller decides about TLS), or None for any other URL. A host
    without a port is on 6379; an IPv6 host is in brackets."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in ("redis+cluster", "rediss+cluster"):
        return None
    for end in "/?#":
        rest = rest.split(end, 1)[0]
    creds, at, hosts = rest.rpartition("@")
    username = password = None
    if at:
        user, colon, pw = creds.partition(":")
        username = urllib.parse.unquote(user) or None
        password = urllib.parse.unquote(pw) if colon else None
    nodes = []
    for hp in filter(None, hosts.split(",")):
        if hp.startswith("["):
            host, _, port = hp[1:].partition("]")
            port = port.lstrip(":")
        else:
            host, _, port = hp.rpartition(":") if ":" in hp else (hp, "", "")
        nodes.append((host, int(port or 6379)))
    return nodes, username, password
