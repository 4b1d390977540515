"""Subcommands of `halsted` (see halsted_hf/cli.py)."""
