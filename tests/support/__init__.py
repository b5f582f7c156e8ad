"""Test support: the fake dashboard provider and the synthetic city (not part of the installed package)."""
