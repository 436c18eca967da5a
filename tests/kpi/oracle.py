"""The independent KPI oracle lives in ``evals/kpi_oracle.py`` (the eval reads it from an installed
package, where ``tests`` is not importable); the tests import it from here as before."""

from evals.kpi_oracle import expected, ranked

__all__ = ["expected", "ranked"]
