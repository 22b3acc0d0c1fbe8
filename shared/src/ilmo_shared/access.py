"""Who may do what: the roles of the people who run Ilmo, and what each role permits.

Pure rules, no I/O. Authentication (``ilmo_shared.identity``: tokens from
the OpenID Connect provider, the development token) turns a request into a
``Principal``; every admin route and page states the one ``Permission`` it
needs, and one dependency checks it (docs/security.md, "Roles"). Use cases
never check roles themselves.

Roles come from a claim of the provider's tokens (``ILMO_OIDC_ROLES_CLAIM``).
Per-event teams are out of scope: an organiser organises every event.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    """What a person does for Ilmo, as the identity provider says."""

    ORGANISER = "organiser"
    VIEWER = "viewer"
    DOOR = "door"
    OPERATOR = "operator"


class Permission(StrEnum):
    """One thing a route or page lets its caller do."""

    READ_EVENTS = "read-events"  # every event, drafts too
    CHANGE_EVENTS = "change-events"  # create, edit, publish, duplicate
    LIST_REGISTRATIONS = "list-registrations"  # names, states and attendance only
    READ_PERSONAL_DATA = "read-personal-data"  # emails, organisations, needs
    CHANGE_REGISTRATIONS = "change-registrations"  # cancel, switch, resend, erase for someone
    EXPORT = "export"  # registrations as CSV or XLSX
    READ_AUDIT = "read-audit"  # the audit trail and its export
    CHECK_IN = "check-in"  # the door's page
    READ_COUNTS = "read-counts"  # seats, mails, stream links: numbers, never people
    OPERATE = "operate"  # metrics, API docs, sweeps, dead letters


class Kind(StrEnum):
    """How the caller proved who it is."""

    PERSON = "person"  # a person's token from the provider (the console's session, or a bearer)
    SERVICE = "service"  # one of Ilmo's services, by the client-credentials grant
    DEVELOPMENT = "development"  # the static development token (never in production)


ROLE_PERMISSIONS: Mapping[Role, frozenset[Permission]] = {
    Role.ORGANISER: frozenset(Permission) - {Permission.OPERATE},
    Role.VIEWER: frozenset(
        {Permission.READ_EVENTS, Permission.LIST_REGISTRATIONS, Permission.READ_COUNTS}
    ),
    Role.DOOR: frozenset({Permission.CHECK_IN}),
    Role.OPERATOR: frozenset({Permission.OPERATE, Permission.READ_COUNTS}),
}
# What another Ilmo service may read with its client-credentials token: the
# console's dashboard asks capacity, notification and streaming for counts.
SERVICE_PERMISSIONS = frozenset({Permission.READ_COUNTS})
# The development token stands for a whole event team at once.
DEVELOPMENT_ROLES = frozenset(Role)


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: who (for the audit trail) and with which roles."""

    subject: str  # the provider's `sub`: stable, never reassigned
    name: str  # for people reading the audit trail; the subject when the token has no name
    kind: Kind
    roles: frozenset[Role] = frozenset()

    @property
    def permissions(self) -> frozenset[Permission]:
        if self.kind is Kind.SERVICE:
            return SERVICE_PERMISSIONS
        granted: frozenset[Permission] = frozenset()
        for role in self.roles:
            granted |= ROLE_PERMISSIONS[role]
        return granted

    def may(self, permission: Permission) -> bool:
        return permission in self.permissions


def roles_in(claims: Mapping[str, object], claim: str) -> frozenset[Role]:
    """The Ilmo roles named by ``claim`` in a token's claims; other values are ignored.

    ``claim`` may be a dotted path into nested objects, as providers nest
    them (Keycloak: ``realm_access.roles``). The value may be a list of
    strings or one string of space- or comma-separated names.
    """
    value: object = claims
    for part in claim.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return frozenset()
        value = value[part]
    names: Iterable[object]
    if isinstance(value, str):
        names = value.replace(",", " ").split()
    elif isinstance(value, list | tuple):
        names = value
    else:
        return frozenset()
    known = {role.value: role for role in Role}
    return frozenset(known[name] for name in names if isinstance(name, str) and name in known)
