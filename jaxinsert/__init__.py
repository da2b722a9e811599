"""jaxinsert: JAX offline RL and offline-to-online finetuning for robotic insertion."""

__version__ = "0.1.0"


def __getattr__(name):
  # Lazy, so `import jaxinsert.types` does not pay for the training stack.
  if name in ("load_policy", "Policy"):
    from jaxinsert.training import policy_api

    return getattr(policy_api, name)
  raise AttributeError(f"module 'jaxinsert' has no attribute {name!r}")
