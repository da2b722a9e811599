"""Flax modules shared by the agents: MLPs, policies, critics, encoders."""
