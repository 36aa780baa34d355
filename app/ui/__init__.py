"""Patina ui package."""
