"""Loopback simulators of the devices Meterit talks to (tests, benchmark, scripts/develop)."""
