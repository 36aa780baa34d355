"""Batch restoration of folders: a resumable, crash-safe pipeline (Qt-free)."""
