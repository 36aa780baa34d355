"""Patina ml package."""
