"""The CRM-shaped database: models, engine and sessions, migrations, access scopes, demo company."""

from crm.access import Scope, get_user, scope_for, visible_leads
from crm.db import engine_for, ensure_home, make_engine, session_scope, upgrade_schema
from crm.demo import build_demo, entity_counts

__all__ = [
    "Scope",
    "build_demo",
    "engine_for",
    "ensure_home",
    "entity_counts",
    "get_user",
    "make_engine",
    "scope_for",
    "session_scope",
    "upgrade_schema",
    "visible_leads",
]
