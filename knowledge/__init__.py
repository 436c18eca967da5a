"""The knowledge base: playbooks and call transcripts, redacted, in Chroma + SQLite FTS5,
searched per language and fused, with citations."""

from knowledge.chunking import KnowledgeError
from knowledge.embeddings import make_embedder
from knowledge.redact import redact
from knowledge.store import EmbedderMismatch, Hit, IndexReport, KnowledgeStore, ReindexReport, Visibility

__all__ = ["EmbedderMismatch", "Hit", "IndexReport", "KnowledgeError", "KnowledgeStore", "ReindexReport", "Visibility", "make_embedder",
           "redact"]
