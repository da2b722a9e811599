"""Where agents, data and environments meet: training loops, evaluation, checkpoints, logging."""
