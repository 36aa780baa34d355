"""Patina ui/canvas package."""
