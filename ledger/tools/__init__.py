"""Standalone tools shipped with the package: the stdlib-only proof verifier."""
