"""Authentication: who a request comes from, by the bearer token of its kubeconfig user.

routes/authorization.py's middleware calls `Authenticator.authenticate` on every API request and
hands the `UserInfo` on to authorization (authz.py), the review endpoints and, through the store, to
admission policies (``request.userInfo``). `Sandbox` (cluster.py) owns the token table: the
administrator's token ``sandbox`` and the users a test adds. As on a real API server with a static
token file, every user so authenticated is also in the group ``system:authenticated``, and an
unknown token is a 401 whatever the path.

The sandbox listens twice, as kube-apiserver once did. On the plain-HTTP port (the URL of the
administrator's kubeconfig, which kubectl sends no token to) a request without credentials is the
administrator, as on the old insecure port, so every existing client keeps working unchanged. On
the TLS port (the URL of the users' kubeconfigs: kubectl sends tokens only over TLS) a request
without credentials is ``system:anonymous``, in ``system:unauthenticated``.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field

from .errors import ApiError

AUTHENTICATED = "system:authenticated"
MASTERS = "system:masters"  # the group every authorizer lets through (kube-apiserver's privileged group)
ADMIN_TOKEN = "sandbox"


@dataclass(frozen=True)
class UserInfo:
    """authentication.k8s.io/v1 UserInfo: what authorization and admission see of a requester."""

    username: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: dict[str, tuple[str, ...]] = field(default_factory=dict, hash=False)

    def document(self) -> dict:
        """The UserInfo object as reviews and admission requests carry it (empty fields left out)."""
        body: dict = {"username": self.username}
        if self.uid:
            body["uid"] = self.uid
        if self.groups:
            body["groups"] = list(self.groups)
        if self.extra:
            body["extra"] = {key: list(values) for key, values in self.extra.items()}
        return body


ADMIN = UserInfo("sandbox-admin", groups=(MASTERS, AUTHENTICATED))
UNAUTHENTICATED = "system:unauthenticated"
ANONYMOUS = UserInfo("system:anonymous", groups=(UNAUTHENTICATED,))


def unauthorized() -> ApiError:
    """The 401 a real API server answers a token it cannot authenticate (kubectl: "You must be logged in")."""
    return ApiError(401, "Unauthorized", "Unauthorized")


class Authenticator:
    """Bearer tokens to users, like kube-apiserver's ``--token-auth-file``."""

    def __init__(self) -> None:
        self._users: dict[str, UserInfo] = {ADMIN_TOKEN: ADMIN}

    def add(self, username: str, groups: Sequence[str] = ()) -> str:
        """Add a user (in ``groups`` and system:authenticated); returns a new token that authenticates it."""
        token = secrets.token_urlsafe(24)
        self._users[token] = UserInfo(username, uid=f"sandbox-{username}", groups=(*groups, AUTHENTICATED))
        return token

    def token_for(self, username: str) -> str:
        """A token that authenticates ``username``, for writing its kubeconfig."""
        for token, user in self._users.items():
            if user.username == username:
                return token
        raise KeyError(f"the sandbox has no user {username!r}: add it first")

    def authenticate(self, authorization: str | None, *, secure: bool) -> UserInfo:
        """The user of an ``Authorization`` header on the TLS port (``secure``) or the plain one; only
        bearer tokens authenticate, and a request with none is anonymous (see the module doc)."""
        scheme, _, credential = (authorization or "").partition(" ")
        if scheme.lower() != "bearer":
            return ANONYMOUS if secure else ADMIN
        user = self._users.get(credential.strip())
        if user is None:
            raise unauthorized()
        return user
