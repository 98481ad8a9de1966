"""Tests for homewizard."""
