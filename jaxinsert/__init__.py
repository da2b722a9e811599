"""jaxinsert: JAX offline RL and offline-to-online finetuning for robotic insertion."""

__version__ = "0.1.0"
