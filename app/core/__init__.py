"""Patina core package."""
