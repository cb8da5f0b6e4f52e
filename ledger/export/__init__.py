"""Reports and standards: periodic reports with provenance, organization indicators,
IATI 2.03 activity XML and CSV exports, all computed from the ledger's read model.
"""
