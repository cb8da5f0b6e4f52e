"""The independent auditor: checks a deployment from the chain (and optionally a database) alone."""
