"""Filling a store: indexing runs, the fill pass, watching, clean-up, the Ray job."""
