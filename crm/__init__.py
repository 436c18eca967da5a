"""The CRM-shaped database: models, engine and sessions, migrations, access scopes, the demo company's rows
(``tools.demo_setup.build_demo`` builds the whole demo)."""

from crm.access import Scope, get_user, scope_for, visible_leads
from crm.db import engine_for, ensure_home, make_engine, session_scope, upgrade_schema
from crm.demo import entity_counts

__all__ = [
    "Scope",
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
