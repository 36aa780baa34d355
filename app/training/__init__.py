"""Patina training package."""
