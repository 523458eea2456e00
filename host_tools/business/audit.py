"""The audit log: who changed money or a relay, when, and what (rows are never changed)."""
import json

from sqlalchemy import insert

from host_tools.business.tables import audit_log


def record(conn, user, action, subject, now, **detail):
    """Append one audit row; `user` is a users.User or None (the system itself)."""
    conn.execute(insert(audit_log).values(
        at=now, user_id=None if user is None else user.id, action=action, subject=subject,
        detail=json.dumps(detail, sort_keys=True, ensure_ascii=False, default=str)))
