"""Tests for the Meterit integration."""
