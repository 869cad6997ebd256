"""Packaged data files: the default alert rules."""
