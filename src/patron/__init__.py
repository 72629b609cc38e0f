"""Patron: membership and loyalty platform for retail chains."""

__version__ = "0.1.0"
