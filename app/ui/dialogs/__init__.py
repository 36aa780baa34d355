"""Patina ui/dialogs package."""
