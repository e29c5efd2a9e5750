"""Analysis over parsed tables."""

from stalllog.analyze import explain

__all__ = ["explain"]
