"""An example vlkd plugin package: registers the ``grayscale`` preprocessing step.

Install it (``pip install ./examples/vlkd-example-plugin``) and use it in a recipe::

    preprocess:
      - plugin: grayscale
        keep_rgb: true
"""

from __future__ import annotations

from pydantic import Field

from vlkd.api import PluginOptions, Preprocessor, hookimpl


class GrayscaleOptions(PluginOptions):
    keep_rgb: bool = Field(default=True, description="convert back to 3 channels after removing colour")


class Grayscale(Preprocessor):
    """Remove colour from an image (an example of a third-party preprocessing step)."""

    Options = GrayscaleOptions

    def apply(self, image, record):
        grey = image.convert("L")
        record.notes.append("grayscale")
        return grey.convert("RGB") if self.options.keep_rgb else grey


@hookimpl
def vlkd_register_preprocessors(register):
    register("grayscale", Grayscale)
