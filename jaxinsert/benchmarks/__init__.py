"""D4RL reference tables and normalisation; speed benchmarks."""
