"""Evergreen: models that stay fresh on their own."""
