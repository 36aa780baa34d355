"""Patina ml/services package."""
