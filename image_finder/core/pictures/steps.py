"""A model's resize of the shorter side and centre crop, in Pillow alone: what torchvision's
``Resize(int)`` then ``CenterCrop`` do to a Pillow image, step for step, without importing
torch (the Ray job's decode tasks, core/indexing/scale_out.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PictureSteps:
    short_side: int
    crop: tuple[int, int]  # height, width
    resample: int  # a Pillow filter

    def __call__(self, image: Any) -> Any:
        width, height = image.size
        short, long = (width, height) if width <= height else (height, width)
        new_short, new_long = self.short_side, int(self.short_side * long / short)
        size = (new_short, new_long) if width <= height else (new_long, new_short)
        if size != (width, height):
            image = image.resize(size, self.resample)
            width, height = size
        crop_height, crop_width = self.crop
        top = round((height - crop_height) / 2.0)
        left = round((width - crop_width) / 2.0)
        return image.crop((left, top, left + crop_width, top + crop_height))
