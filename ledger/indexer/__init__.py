"""The indexer: chain events into the SQL read model, and rebuilding it from the chain alone."""
