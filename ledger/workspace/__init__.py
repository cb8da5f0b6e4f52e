"""Workspaces in the browser: sign-in sessions, the inbox and evidence files (issue 14).

A session is for private reads only; every write still carries its author's signature.
"""
