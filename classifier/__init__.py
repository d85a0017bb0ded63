"""incident-classifier: find violent and sexual offences in incident logs that have no crime record."""

__version__ = "0.1.0"
