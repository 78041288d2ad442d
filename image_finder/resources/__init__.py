"""Icons and desktop-integration files, installed as package data (image_finder.resources)."""
