"""Turning pictures and words into vectors: models, the extractor, precision,
CLIP, ImageNet words."""
