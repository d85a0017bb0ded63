"""Scoring incidents: the rules alone or with a model, the rule floor, and what a score is built from."""
