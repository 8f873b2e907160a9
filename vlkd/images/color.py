"""Convert any Pillow image to 8-bit RGB correctly.

Pillow's plain ``convert("RGB")`` gets several real-world files wrong: it drops
transparency onto black, clips 16-bit greyscale (values 0..65535) to white, and ignores the
ICC profile of CMYK JPEGs. These helpers do each case right and say what they did.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image

RGB = tuple[int, int, int]


def has_transparency(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        image.mode in ("P", "L", "RGB", "I;16", "I") and "transparency" in image.info
    )


def to_8bit(image: Image.Image) -> Image.Image:
    """16-bit and 32-bit greyscale (``I;16*``, ``I``, ``F``) scaled to 8-bit ``L``."""
    import numpy as np
    from PIL import Image

    if image.mode.startswith("I;16"):
        arr = np.asarray(image).astype(np.uint32)
        return Image.fromarray((arr >> 8).astype(np.uint8))
    if image.mode == "I":
        arr = np.asarray(image)
        top = int(arr.max()) if arr.size else 0
        # PNG 16-bit greyscale decodes to "I" holding 0..65535; 8-bit data stays as it is
        shift = 8 if top > 255 else 0
        return Image.fromarray((np.clip(arr, 0, 65535) >> shift).clip(0, 255).astype(np.uint8))
    if image.mode == "F":
        arr = np.asarray(image)
        top = float(arr.max()) if arr.size else 0.0
        scale = 255.0 if top <= 1.0 else (255.0 / 65535.0 if top > 255 else 1.0)
        return Image.fromarray(np.clip(arr * scale, 0, 255).round().astype(np.uint8))
    return image


def cmyk_to_rgb(image: Image.Image) -> Image.Image:
    """CMYK to RGB through the embedded ICC profile when there is one (else Pillow's formula)."""
    from PIL import ImageCms

    profile = image.info.get("icc_profile")
    if profile:
        import io

        try:
            src = ImageCms.ImageCmsProfile(io.BytesIO(profile))
            dst = ImageCms.createProfile("sRGB")
            return ImageCms.profileToProfile(image, src, dst, outputMode="RGB")
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass  # a broken profile: fall back to the formula below
    return image.convert("RGB")


def to_rgb(image: Image.Image, background: RGB = (255, 255, 255)) -> tuple[Image.Image, str | None]:
    """``(rgb_image, note)``; ``note`` says what was converted, ``None`` when it already was RGB."""
    from PIL import Image

    mode = image.mode
    if mode == "RGB":
        return image, None
    if mode == "CMYK":
        return cmyk_to_rgb(image), "converted CMYK to RGB"
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        return to_8bit(image).convert("RGB"), f"converted {mode} (high bit depth) to 8-bit RGB"
    if has_transparency(image):
        rgba = image.convert("RGBA")
        base = Image.new("RGB", rgba.size, background)
        base.paste(rgba, mask=rgba.getchannel("A"))
        return base, f"composited {mode} transparency on background {_hex(background)}"
    return image.convert("RGB"), f"converted {mode} to RGB"


def _hex(color: RGB) -> str:
    return "#" + "".join(f"{c:02x}" for c in color)
