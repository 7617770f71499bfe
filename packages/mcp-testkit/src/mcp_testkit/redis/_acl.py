"""ACL users for tests: one per way a production Redis account can be wrong.

``create_acl_users`` runs ``ACL SETUSER`` on every node it is given (ACLs are per process:
a cluster needs them on each master, a sentinel setup on the master and its replicas) and
returns URLs with the credentials in them, for the node's scheme (``rediss://`` on TLS).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit, urlunsplit

from mcp_testkit.redis._server import ProcessRedis

__all__ = ["AclUsers", "create_acl_users", "url_with_credentials"]


def url_with_credentials(url: str, username: str | None, password: str | None) -> str:
    """``url`` with ``username:password@`` in it (replacing any there)."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    auth = quote(username or "", safe="")
    if password is not None:
        auth += ":" + quote(password, safe="")
    netloc = f"{auth}@{host}" if auth else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


@dataclass(frozen=True)
class AclUsers:
    """Users on a server (or on every node of a topology) and their URLs.

    - ``app``: ``~<key_prefix>* +@all`` — may do anything on keys under the prefix;
    - ``noperm``: ``~<other_prefix>* +@all`` — connects and PINGs, but every command on a
      key under ``key_prefix`` gets ``NOPERM``;
    - ``noscript``: ``~<key_prefix>* +@all -@scripting`` — ``EVAL``/``EVALSHA``/``SCRIPT``
      get ``NOPERM`` (a provider that disables scripts);
    - ``wrong_password_url``: the ``app`` user with a wrong password (``WRONGPASS``).

    ``nodes`` are the servers the users were made on (``base_url`` is the first one's).
    """

    base_url: str
    key_prefix: str
    other_prefix: str
    password: str
    app_user: str = "testkit-app"
    noperm_user: str = "testkit-noperm"
    noscript_user: str = "testkit-noscript"
    nodes: tuple[ProcessRedis, ...] = field(default=(), compare=False, repr=False)

    def url(self, user: str, password: str | None = None) -> str:
        """``base_url`` as ``user`` (with the users' password unless one is given)."""
        return url_with_credentials(self.base_url, user, password or self.password)

    @property
    def app_url(self) -> str:
        return self.url(self.app_user)

    @property
    def noperm_url(self) -> str:
        return self.url(self.noperm_user)

    @property
    def noscript_url(self) -> str:
        return self.url(self.noscript_user)

    @property
    def wrong_password_url(self) -> str:
        return self.url(self.app_user, "not-" + self.password)

    def rules(self) -> dict[str, list[str]]:
        """The ``ACL SETUSER`` rules of each user (after ``reset on >password``)."""
        mine, other = f"~{self.key_prefix}*", f"~{self.other_prefix}*"
        return {
            self.app_user: [mine, "+@all"],
            self.noperm_user: [other, "+@all"],
            self.noscript_user: [mine, "+@all", "-@scripting"],
        }


def create_acl_users(
    nodes: ProcessRedis | Sequence[ProcessRedis],
    *,
    key_prefix: str = "app:",
    other_prefix: str = "other:",
    password: str | None = None,
) -> AclUsers:
    """Create (or reset) the users of :class:`AclUsers` on every node; URLs use the first."""
    targets = [nodes] if isinstance(nodes, ProcessRedis) else list(nodes)
    if not targets:
        raise ValueError("create_acl_users needs at least one node")
    if not key_prefix or key_prefix.startswith(other_prefix) or other_prefix.startswith(key_prefix):
        raise ValueError(f"key_prefix {key_prefix!r} and other_prefix {other_prefix!r} overlap")
    users = AclUsers(
        base_url=targets[0].url,
        key_prefix=key_prefix,
        other_prefix=other_prefix,
        password=password or secrets.token_urlsafe(18),
        nodes=tuple(targets),
    )
    for node in targets:
        with node.client() as client:
            for user, rules in users.rules().items():
                grant = ["reset", "on", f">{users.password}", *rules]
                client.execute_command("ACL", "SETUSER", user, *grant)
    return users
