"""Station users, their roles and what each role may do; passwords hashed with argon2id.

    user = authenticate(engine, "alice", password, now)   # -> User, or AuthenticationFailed
    require(user, "payment.record")                      # raises NotPermitted for a viewer

A role is a set of permissions (PERMISSIONS); a higher role includes the lower ones' reading
rights but not, say, the cashier's till: a dispatcher cuts power, a cashier takes money, an admin
does both and manages users. Repeated wrong passwords lock the account for LOCKOUT_S.
"""
import collections

import argon2
from sqlalchemy import insert, select, update

from host_tools.business.tables import ROLES, users

MAX_FAILED_LOGINS = 5
LOCKOUT_S = 15 * 60

_READ = {"read"}
PERMISSIONS = {
    "viewer": _READ,
    "clerk": _READ | {"customer.edit", "tariff.edit", "billing.run", "statement.issue",
                      "adjustment.record", "arrears.notice"},
    "cashier": _READ | {"payment.record"},
    "dispatcher": _READ | {"arrears.approve", "relay.control", "alarm.ack"},
    "admin": None,      # everything
}

User = collections.namedtuple("User", "id name role full_name")

_hasher = argon2.PasswordHasher()


class AuthenticationFailed(Exception):
    """Unknown user, wrong password, inactive or locked account (the message says which, for
    the log; people are shown one neutral sentence)."""


class NotPermitted(Exception):
    """The user's role does not allow the action."""


def may(user, action):
    allowed = PERMISSIONS[user.role]
    return allowed is None or action in allowed


def require(user, action):
    if user is None or not may(user, action):
        raise NotPermitted("%s (role %s) may not %s" % (
            getattr(user, "name", "nobody"), getattr(user, "role", "-"), action))


def check_role(role):
    if role not in ROLES:
        raise ValueError("unknown role %r: one of %s" % (role, ", ".join(ROLES)))
    return role


def hash_password(password):
    if not password or len(password) < 8:
        raise ValueError("a password needs at least 8 characters")
    return _hasher.hash(password)


def add_user(conn, name, password, role, now, full_name=""):
    """Create a user; returns its User."""
    check_role(role)
    result = conn.execute(insert(users).values(
        name=name, full_name=full_name, role=role, password_hash=hash_password(password),
        created_at=now, password_changed_at=now))
    return User(result.inserted_primary_key[0], name, role, full_name)


def set_password(conn, name, password, now):
    done = conn.execute(update(users).where(users.c.name == name).values(
        password_hash=hash_password(password), password_changed_at=now, failed_logins=0,
        locked_until=None))
    if done.rowcount != 1:
        raise AuthenticationFailed("no user %r" % name)


def authenticate(engine, name, password, now):
    """The User for a name and password; counts failures and locks the account after
    MAX_FAILED_LOGINS of them in a row. Takes the Engine, not a Connection: a failure is
    committed before AuthenticationFailed is raised, so the caller's rollback cannot undo it."""
    with engine.begin() as conn:
        user, failure = _check_password(conn, name, password, now)
    if failure:
        raise AuthenticationFailed(failure)
    return user


def _check_password(conn, name, password, now):
    row = conn.execute(select(users).where(users.c.name == name)).one_or_none()
    if row is None:
        # Hash anyway so an unknown name takes as long as a wrong password.
        _hasher.hash(password or "-")
        return None, "no user %r" % name
    if not row.active:
        return None, "user %r is disabled" % name
    if row.locked_until is not None and row.locked_until > now:
        return None, ("user %r is locked for %d s after %d failed logins"
                      % (name, row.locked_until - now, row.failed_logins))
    try:
        _hasher.verify(row.password_hash, password or "")
    except argon2.exceptions.VerificationError:
        failed = row.failed_logins + 1
        conn.execute(update(users).where(users.c.id == row.id).values(
            failed_logins=failed,
            locked_until=now + LOCKOUT_S if failed >= MAX_FAILED_LOGINS else None))
        return None, "wrong password for %r" % name
    changes = {"failed_logins": 0, "locked_until": None}
    if _hasher.check_needs_rehash(row.password_hash):
        changes["password_hash"] = _hasher.hash(password)
    conn.execute(update(users).where(users.c.id == row.id).values(**changes))
    return User(row.id, row.name, row.role, row.full_name), None


def by_id(conn, user_id):
    row = conn.execute(select(users).where(users.c.id == user_id)).one_or_none()
    return None if row is None else User(row.id, row.name, row.role, row.full_name)
