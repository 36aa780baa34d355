"""Patina ui/panels package."""
