"""Bangfu Ledger's FastAPI service: one router per audience, calling the ledger layer."""
