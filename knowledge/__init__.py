"""The knowledge base: playbooks and call transcripts, redacted, in Chroma + SQLite FTS5,
searched per language and fused, with citations."""

from knowledge.chunking import KnowledgeError
from knowledge.embeddings import make_embedder
from knowledge.redact import redact
from knowledge.store import Hit, IndexReport, KnowledgeStore, Visibility

__all__ = ["Hit", "IndexReport", "KnowledgeError", "KnowledgeStore", "Visibility", "make_embedder", "redact"]
