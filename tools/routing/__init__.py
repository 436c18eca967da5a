"""Lead routing: who should take a new or re-opened lead, and why.

For every lead the engine scores each eligible rep on five parts (scenario fit, spare capacity,
region, wins with similar accounts, language — formula and weights in ``tools/routing.yaml``,
the active weights version in ``routing_weight_versions``), then decides what happens:
``review`` (value ≥ 500,000 CNY or cross-department work → a manager approves or overrides),
``nurture`` (low intent and quiet → the nurture pool), ``dual`` (tier S/A → the regional rep and
a specialist, with a response deadline) or ``auto``. Every decision is a ``RoutingDecision`` row
with its reasons: the parts and weights of the chosen rep(s), the runners-up, the intent score and
the (up to 5) consented events behind it.

Everything the batch needs (reps, profiles, load, wins, touchpoints) is loaded once per batch;
the per-lead work is arithmetic over those tables (≥ 1,000 leads/s at demo scale 10).

Feedback (``submit_feedback``) blames one factor (or the intent signal), proposes a new weights
version (``pending``) that a manager approves (``approve_weights``) or rejects; ``revert_weights``
re-activates an earlier version. ``backtest`` compares the engine with the historical owners.
"""

from tools.routing.backtest import backtest
from tools.routing.batch import (
    Batch,
    RepInfo,
    RepLoad,
    available,
    load_batch,
    rep_info,
    rep_load,
    scenario_fits,
    won_deals,
)
from tools.routing.config import (
    CHUNK,
    FACTORS,
    MAX_EVENTS,
    OPEN_LEAD_STATUSES,
    ROUTING_CONFIG_PATH,
    active_weights,
    check_weights,
    load_routing_config,
)
from tools.routing.copilot import (
    CandidateView,
    RoutingSuggestion,
    explain_lead_routing,
    who_should_take,
)
from tools.routing.engine import (
    Decision,
    LeadRouting,
    RoutedLead,
    RoutingReport,
    accounts_of,
    decide,
    decision_row,
    leads_to_route,
    pick_specialist,
    quiet_low_intent,
    review_reasons,
    routable,
    route_leads,
    route_one,
    routed_lead,
    store_decisions,
)
from tools.routing.explain import Explanation, event_lines, explain_decision
from tools.routing.feedback import (
    LEAD_STATUS_AFTER_FEEDBACK,
    FeedbackResult,
    attribute,
    latest_decision,
    may_give_feedback,
    propose_weights,
    submit_feedback,
)
from tools.routing.intent import LeadIntent, batch_intent
from tools.routing.review import (
    DecisionView,
    approve_decision,
    get_decision,
    my_decisions,
    override_decision,
    reject_decision,
    review_queue,
)
from tools.routing.scoring import ScoredRep, effective_weights, score_reps
from tools.routing.weights import (
    WeightVersionView,
    approve_weights,
    list_weight_versions,
    reject_weights,
    revert_weights,
)

__all__ = [
    "CHUNK", "FACTORS", "LEAD_STATUS_AFTER_FEEDBACK", "MAX_EVENTS", "OPEN_LEAD_STATUSES", "ROUTING_CONFIG_PATH", "Batch",
    "CandidateView", "Decision", "DecisionView", "Explanation", "FeedbackResult", "LeadIntent", "LeadRouting", "RepInfo",
    "RepLoad", "RoutedLead", "RoutingReport", "RoutingSuggestion", "ScoredRep", "WeightVersionView", "accounts_of",
    "active_weights", "approve_decision", "approve_weights", "attribute", "available", "backtest", "batch_intent",
    "check_weights", "decide", "decision_row", "effective_weights", "event_lines", "explain_decision",
    "explain_lead_routing", "get_decision", "latest_decision", "leads_to_route", "list_weight_versions", "load_batch",
    "load_routing_config", "may_give_feedback", "my_decisions", "override_decision", "pick_specialist", "propose_weights",
    "quiet_low_intent", "reject_decision", "reject_weights", "rep_info", "rep_load", "revert_weights", "review_queue", "review_reasons",
    "routable", "route_leads", "route_one", "routed_lead", "scenario_fits", "score_reps", "store_decisions",
    "submit_feedback", "who_should_take", "won_deals",
]
