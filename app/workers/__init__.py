"""Patina workers package."""
