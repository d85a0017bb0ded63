"""Measuring: metrics, scoring a labelled set with every method, held-out styles and writers."""
