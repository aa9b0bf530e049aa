"""callaudit: offline auditor for Chinese call-center recordings."""

__version__ = "0.1.0"
