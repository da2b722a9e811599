"""Datasets: RLDS builders and readers, transition views, on-device samplers, converters."""
