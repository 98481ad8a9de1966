"""Tests for components."""
