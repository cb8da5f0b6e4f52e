"""The SQL read model and the relayer's outbox: SQLite by default, PostgreSQL at scale.

The database is a cache of the chain (DESIGN §3.5) except for the outbox, which holds
signed records the API acknowledged until they are on chain.
"""
