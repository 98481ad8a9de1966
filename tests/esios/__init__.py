"""Tests for esios."""
