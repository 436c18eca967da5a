"""Leads: find one by id or by a (partial, Chinese or English) name; its Customer Behaviour
Intensity index (CBI, 0–100) with the events behind it; the next best actions from the
readable rules in ``tools/intent.yaml``; and a one-screen summary.

Access comes from the ToolContext only (``crm.access.visible_leads``): a rep sees their own
leads, a manager the team's (and the region's unassigned ones), an admin all, a trainer none.

Privacy: touchpoints of contacts without recorded consent never enter an individual score,
a rule or the evidence — they are reported as a count. In anonymized aggregate mode
(``ctx.anonymized``) no individual event is shown at all, only counts per kind.
"""

from tools.leads.access import denied, get_visible_lead, refuse_trainer
from tools.leads.actions import (
    Suggestion,
    evaluate_rules,
    local_day_start,
    next_best_action,
)
from tools.leads.config import (
    CLOSED_LEAD_STATUSES,
    INTENT_CONFIG_PATH,
    OPEN_STAGES,
    SUGGESTION_KIND_PREFIX,
    load_intent_config,
)
from tools.leads.find import (
    ID_PATTERN,
    MIN_CORPUS,
    MIN_COVERAGE,
    MIN_MATCHED_IDF,
    VERBATIM_SCORE,
    LeadMatch,
    find_among,
    find_hidden_leads,
    find_leads,
)
from tools.leads.rules import (
    RULE_CHECKS,
    RuleHit,
    RuleInput,
    check_bid_unopened_then_policy,
    check_low_activity,
    check_not_followed_up,
    check_page_views_and_download,
    check_tech_doc_streak_and_expo,
)
from tools.leads.score import (
    IntentScore,
    cbi_from_raw,
    compute_intent,
    confidence_from_n_eff,
    decay,
    intent_score,
    tier_of,
    touch_value,
)
from tools.leads.summary import LeadFacts, LeadSummary, OpportunityBrief, lead_summary
from tools.leads.touches import LeadTouches, Touch, load_touches

__all__ = [
    "CLOSED_LEAD_STATUSES", "ID_PATTERN", "INTENT_CONFIG_PATH", "MIN_CORPUS", "MIN_COVERAGE", "MIN_MATCHED_IDF",
    "OPEN_STAGES", "RULE_CHECKS", "SUGGESTION_KIND_PREFIX", "VERBATIM_SCORE", "IntentScore", "LeadFacts", "LeadMatch",
    "LeadSummary", "LeadTouches", "OpportunityBrief", "RuleHit", "RuleInput", "Suggestion", "Touch", "cbi_from_raw",
    "check_bid_unopened_then_policy", "check_low_activity", "check_not_followed_up", "check_page_views_and_download",
    "check_tech_doc_streak_and_expo", "compute_intent", "confidence_from_n_eff", "decay", "denied", "evaluate_rules",
    "find_among", "find_hidden_leads", "find_leads", "get_visible_lead",
    "intent_score", "lead_summary", "load_intent_config", "load_touches",
    "local_day_start", "next_best_action", "refuse_trainer", "tier_of", "touch_value",
]
