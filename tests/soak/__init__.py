"""A busy evening, measured: the real bot under many channels and players (`bench --soak`)."""
