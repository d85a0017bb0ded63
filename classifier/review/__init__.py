"""Reviewing flags: the flag store, decisions and audit, and how a flag is shown (terminal, HTML)."""
