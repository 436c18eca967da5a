"""The copilot's capabilities as typed service functions (and, in agent/, their tool declarations)."""

from tools.context import ToolContext
from tools.evidence import Evidence

__all__ = ["Evidence", "ToolContext"]
