"""Business logic. Takes plain values, returns models or dataclasses; knows nothing of Flask's request."""
