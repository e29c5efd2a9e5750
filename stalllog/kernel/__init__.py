"""Kernel knowledge as data: GFP flag layouts by release (applied to parsed tables as a
post-step)."""

from stalllog.kernel import gfp

__all__ = ["gfp"]
