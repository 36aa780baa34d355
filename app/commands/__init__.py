"""Subcommands of the `patina` command line: one module each, ``add_parser`` + ``run``."""
