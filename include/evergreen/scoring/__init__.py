"""Batch scoring of every model's champion."""
