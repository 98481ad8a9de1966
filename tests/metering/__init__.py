"""Tests for metering."""
