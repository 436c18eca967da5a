"""Knowledge search as a service: the store opened from settings, what each user may
retrieve (computed from the CRM, never from the question), and indexing of CRM calls."""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.settings import Settings
from crm.access import scope_for
from crm.models import Call, CallTurn, User
from crm.roles import Role
from knowledge import Hit, KnowledgeStore, Visibility, make_embedder
from tools.context import ToolContext


@lru_cache(maxsize=4)
def _store(home: str, embedding_model: str, base_url: str | None, api_key: str | None, chroma_url: str | None,
           llm: tuple[str, str | None, str] | None, catalog_url: str | None = None) -> KnowledgeStore:
    from crm.db import engine_for
    from knowledge.store import llm_translator

    embedder = make_embedder(embedding_model, base_url=base_url, api_key=api_key)
    translate = llm_translator(base_url=llm[0], api_key=llm[1], model=llm[2]) if llm else None
    return KnowledgeStore(Path(home), embedder=embedder, chroma_url=chroma_url, translate=translate,
                          catalog_engine=engine_for(catalog_url) if catalog_url else None)


def shared_catalog_url(settings: Settings) -> str | None:
    """The database that holds the knowledge catalog when it is PostgreSQL (every node reads the
    same one); None: the single-node SQLite catalog in HOME."""
    url = settings.resolved_database_url
    return url if url.startswith("postgresql") else None


def open_store(settings: Settings, home: Path) -> KnowledgeStore:
    """One store per data home and embedder per process; with an LLM configured, questions
    are translated by it for the other language's search."""
    llm = (settings.llm_base_url, settings.llm_api_key, settings.llm_model or "gpt-4o-mini") if settings.llm_base_url else None
    return _store(str(home), settings.embedding_model, settings.embedding_base_url,
                  settings.embedding_api_key, settings.chroma_url, llm, shared_catalog_url(settings))


def visibility_for(session: Session, user: User) -> Visibility:
    """Playbooks are for everyone. Calls: a rep their own plus their team's exemplars; a
    manager their teams' calls; a trainer every team's exemplars; an admin all."""
    scope = scope_for(session, user)
    if scope.everything:
        return Visibility(all_calls=True)
    if user.role == Role.MANAGER:
        return Visibility(team_ids=scope.team_ids, exemplar_team_ids=scope.team_ids)
    if user.role == Role.REP:
        teams = frozenset({user.team_id}) if user.team_id else frozenset()
        return Visibility(rep_ids=frozenset({user.id}), exemplar_team_ids=teams, own_team_ids=teams)
    from crm.models import Team

    return Visibility(exemplar_team_ids=frozenset(session.scalars(select(Team.id))))


def search_knowledge(*, ctx: ToolContext, query: str, k: int = 5, kinds: tuple[str, ...] = ("playbook", "transcript")) -> list[Hit]:
    if ctx.knowledge is None:
        raise RuntimeError("ToolContext.knowledge is not set: open the store with tools.knowledge.open_store")
    return ctx.knowledge.search(query, k=k, visibility=visibility_for(ctx.session, ctx.user), kinds=kinds)


def transcripts_for_index(session: Session, call_ids: Iterable[int] | None = None) -> list[dict[str, Any]]:
    """Calls with their turns in the shape KnowledgeStore.index_transcripts takes."""
    stmt = select(Call, User.team_id).join(User, User.id == Call.rep_id)
    if call_ids is not None:
        stmt = stmt.where(Call.id.in_(list(call_ids)))
    calls = {call.id: {"call_id": call.id, "rep_id": call.rep_id, "team_id": team_id, "account_id": call.account_id,
                       "language": call.language, "is_exemplar": call.is_exemplar, "turns": []}
             for call, team_id in session.execute(stmt)}
    if not calls:
        return []
    ids = list(calls)
    for i in range(0, len(ids), 500):
        for t in session.execute(select(CallTurn).where(CallTurn.call_id.in_(ids[i:i + 500]))
                                 .order_by(CallTurn.call_id, CallTurn.idx)).scalars():
            calls[t.call_id]["turns"].append({"speaker": t.speaker, "start_s": t.start_s, "end_s": t.end_s, "text": t.text})
    return list(calls.values())
