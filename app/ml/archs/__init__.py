"""Patina ml/archs package."""
