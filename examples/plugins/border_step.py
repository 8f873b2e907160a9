"""A preprocessing step: a white border around each image (``preprocess: [{plugin: border}]``)."""

from __future__ import annotations

from pydantic import Field

from vlkd.api import PluginOptions, Preprocessor, hookimpl


class BorderOptions(PluginOptions):
    pixels: int = Field(8, ge=1, le=256, description="border width on each side, in pixels")


class Border(Preprocessor):
    """Add a white border (an example preprocessor: one image in, one image out)."""

    Options = BorderOptions
    options: BorderOptions

    def apply(self, image, record):
        from PIL import ImageOps  # heavy libraries inside methods

        record.notes.append(f"border {self.options.pixels}px")
        return ImageOps.expand(image, border=self.options.pixels, fill="white")


@hookimpl
def vlkd_register_preprocessors(register):
    register("border", Border)
