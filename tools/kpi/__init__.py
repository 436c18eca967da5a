"""The governed KPI layer: registry (metrics.yaml) → query spec → SQL by code → answer."""

from tools.kpi.compiler import Period, QuerySpec, compile_spec
from tools.kpi.parser import parse_question
from tools.kpi.registry import load_registry
from tools.kpi.service import KpiAnswer, answer_question, run_spec

__all__ = ["KpiAnswer", "Period", "QuerySpec", "answer_question", "compile_spec", "load_registry", "parse_question", "run_spec"]
