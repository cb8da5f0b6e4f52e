"""Command groups of the `bangfu` CLI, one module each (discovered by ledger.cli)."""
