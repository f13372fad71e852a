"""Every write to an audited model leaves an append-only audit row."""

from __future__ import annotations

from sqlalchemy import select

from core.audit import acting_as
from core.extensions import db
from core.models import AuditEntry
from core.org.stores import create_store, update_store
from core.org.users import create_user


def _entries(entity_type: str) -> list[AuditEntry]:
    return list(db.session.scalars(select(AuditEntry).where(AuditEntry.entity_type == entity_type)
                                   .order_by(AuditEntry.id)))


def test_create_update_delete_are_audited_with_actor(ctx):
    with acting_as(7, "user:7"):
        store = create_store({"code": "a1", "name": "A", "timezone": "Asia/Shanghai"})
        update_store("a1", {"name": "A renamed", "phone": "021-1234567"})
    created, updated = _entries("stores")
    assert created.action == "create" and created.entity_id == str(store.id)
    assert created.after["name"] == "A" and created.before is None
    assert created.actor == "user:7" and created.actor_user_id == 7
    assert updated.action == "update"
    assert updated.before == {"name": "A", "phone": ""}
    assert updated.after == {"name": "A renamed", "phone": "021-1234567"}
    db.session.delete(db.session.get(type(store), store.id))
    db.session.commit()
    deleted = _entries("stores")[-1]
    assert deleted.action == "delete" and deleted.before["name"] == "A renamed"
    assert deleted.actor == "system"


def test_password_hash_never_reaches_the_audit_log(ctx):
    create_user({"name": "Zed", "email": "zed@example.com", "password": "s3cret-pass"},
                role="owner")
    (entry,) = _entries("users")
    assert "password_hash" not in entry.after
    assert "s3cret" not in str(entry.after)
    roles = _entries("role_assignments")
    assert roles and roles[0].after["role"] == "owner"


def test_rolled_back_write_leaves_no_audit_row(ctx):
    import pytest

    from core.errors import Conflict

    create_store({"code": "dup", "name": "A", "timezone": "Asia/Shanghai"})
    before = len(_entries("stores"))
    with pytest.raises(Conflict):
        create_store({"code": "dup", "name": "B", "timezone": "Asia/Shanghai"})
    assert len(_entries("stores")) == before
