"""Patina: offline photo restoration."""

__version__ = "0.1.0"
