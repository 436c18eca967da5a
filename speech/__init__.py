"""Speech: call recordings and transcripts → speaker turns → conversation metrics."""

from speech.errors import BadAudioError, SpeechError
from speech.metrics import compute_metrics
from speech.pipeline import CallAnalysis, analyze_file
from speech.registry import load_registry
from speech.turns import Turn

__all__ = ["BadAudioError", "CallAnalysis", "SpeechError", "Turn", "analyze_file", "compute_metrics", "load_registry"]
