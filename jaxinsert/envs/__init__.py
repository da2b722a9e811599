"""Functional environments (insertion family, probe MDPs) and their wrappers."""
