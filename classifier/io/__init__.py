"""Reading incident logs and crime records, writing scores and flags (formats.md)."""
