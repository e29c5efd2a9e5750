"""Presentation: the terminal summary."""
