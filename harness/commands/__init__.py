"""Subcommands of `harness`; discovered by harness.cli (one module each)."""
