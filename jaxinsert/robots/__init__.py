"""Real-robot adapters (Sawyer, KUKA iiwa), a safety layer, and a simulated robot server."""
