"""Practice dialogues: scenarios, the scripted customer, scoring, sessions and reports."""

from tools.practice.dialogue import classify_turn, decide, score_transcript
from tools.practice.scenario import Scenario, catalogue, find_scenario, get_scenario, load_file, parse_scenario

__all__ = ["Scenario", "catalogue", "classify_turn", "decide", "find_scenario", "get_scenario", "load_file",
           "parse_scenario", "score_transcript"]
