"""Delivery batches: file parsing, record building, the wire framing and the ingest service."""
