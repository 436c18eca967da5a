"""The governed KPI layer: registry (metrics.yaml) → query spec → SQL by code → answer."""

from tools.kpi.compiler import Period, QuerySpec, compile_spec
from tools.kpi.linker import MetricLink, closest_metrics, link_metric
from tools.kpi.parser import ParsedQuestion, parse_question
from tools.kpi.registry import load_registry
from tools.kpi.service import KpiAnswer, KpiClarification, answer_question, clarification, run_spec

__all__ = ["KpiAnswer", "KpiClarification", "MetricLink", "ParsedQuestion", "Period", "QuerySpec", "answer_question",
           "clarification", "closest_metrics", "compile_spec", "link_metric", "load_registry", "parse_question", "run_spec"]
