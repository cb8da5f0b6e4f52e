"""Bangfu Ledger (帮扶链): the Python ledger layer (no web code)."""

__version__ = "0.1.0"
