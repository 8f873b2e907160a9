"""Generators of odd and broken image files, for vlkd's tests and for plugin authors' tests.

Every function writes one file at ``path`` and returns it. They need Pillow (and numpy
for the 16-bit image) and nothing else; the PDFs are written by hand, byte by byte.
"""

from __future__ import annotations

import io
from pathlib import Path


def photo(
    path: Path, size: tuple[int, int] = (64, 48), fmt: str | None = None, seed: int = 0, **save
) -> Path:
    """A small picture with structure (gradient + shapes), distinct per ``seed``."""
    from PIL import Image, ImageDraw

    w, h = size
    image = Image.linear_gradient("L").resize(size).convert("RGB")
    draw = ImageDraw.Draw(image)
    for i in range(4):
        x = (seed * 37 + i * 53) % max(1, w - w // 4)
        y = (seed * 17 + i * 29) % max(1, h - h // 4)
        draw.rectangle([x, y, x + w // 4, y + h // 4], fill=((seed * 70 + i * 60) % 256, (i * 90) % 256, 120))
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, fmt, **save)
    return path


def truncated(
    path: Path, source_fmt: str = "JPEG", keep: float = 0.5, size: tuple[int, int] = (256, 192)
) -> Path:
    """A JPEG or PNG cut off part way through its image data (an interrupted copy)."""
    buf = io.BytesIO()
    _picture(size).save(buf, source_fmt)
    data = buf.getvalue()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def corrupt_png(path: Path) -> Path:
    """A PNG whose compressed image data is overwritten with garbage."""
    buf = io.BytesIO()
    _picture((128, 96)).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    start = data.index(b"IDAT") + 4 + 20
    data[start : start + 200] = bytes((i * 73) % 256 for i in range(200))
    path.write_bytes(bytes(data))
    return path


def png_bomb(path: Path, width: int = 100_000, height: int = 100_000) -> Path:
    """A tiny PNG whose header claims ``width x height`` pixels (a decompression bomb)."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


def animated(path: Path, fmt: str = "GIF", frames: int = 3, size: tuple[int, int] = (48, 32)) -> Path:
    """An animated GIF or WebP whose frames are solid red, green, blue, ..."""
    from PIL import Image

    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)]
    images = [Image.new("RGB", size, colours[i % len(colours)]) for i in range(frames)]
    images[0].save(path, fmt, save_all=True, append_images=images[1:], duration=100, loop=0)
    return path


def png16(path: Path, size: tuple[int, int] = (64, 32)) -> Path:
    """A 16-bit greyscale PNG: a horizontal ramp from 0 to 65535."""
    import numpy as np
    from PIL import Image

    ramp = np.linspace(0, 65535, size[0]).astype(np.uint16)
    arr = np.tile(ramp, (size[1], 1))
    Image.fromarray(arr).save(path, "PNG")
    return path


def cmyk_jpeg(path: Path, size: tuple[int, int] = (64, 48)) -> Path:
    """A CMYK JPEG (as printers' and scanners' software writes them) of a known RGB picture."""
    _picture(size).convert("CMYK").save(path, "JPEG", quality=95)
    return path


def minimal_pdf(pages: int = 1, encrypt: bool = False) -> bytes:
    """A valid PDF of ``pages`` blank pages with one black box each; ``encrypt`` adds a
    standard security handler whose user password is not empty (so it cannot be opened)."""
    objects: list[bytes] = [b"<< /Type /Catalog /Pages 2 0 R >>"]
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(pages))
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {pages} >>".encode())
    for i in range(pages):
        content = f"0 0 0 rg {20 + 10 * i} 20 100 60 re f".encode()
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 150] /Contents {4 + 2 * i} 0 R >>".encode()
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream")
    trailer_extra = b""
    if encrypt:
        objects.append(
            b"<< /Filter /Standard /V 1 /R 2 /P -44 /O <" + b"ab" * 32 + b"> /U <" + b"cd" * 32 + b"> >>"
        )
        trailer_extra = (
            b" /Encrypt %d 0 R /ID [<0123456789abcdef0123456789abcdef>"
            b"<0123456789abcdef0123456789abcdef>]" % len(objects)
        )
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for n, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R" % (len(objects) + 1) + trailer_extra + b" >>\n"
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def pdf(path: Path, pages: int = 2, encrypt: bool = False) -> Path:
    path.write_bytes(minimal_pdf(pages, encrypt))
    return path


def _picture(size: tuple[int, int]):
    from PIL import Image, ImageDraw

    image = Image.linear_gradient("L").resize(size).convert("RGB")
    draw = ImageDraw.Draw(image)
    draw.rectangle([size[0] // 4, size[1] // 4, size[0] // 2, size[1] // 2], fill=(200, 40, 40))
    draw.ellipse([size[0] // 2, size[1] // 3, size[0] - 4, size[1] - 4], fill=(30, 160, 60))
    return image


def run_image_stages(recipe: str, workdir: Path, *, fresh: bool = True, to_stage: str | None = None):
    """Run a recipe's ingest/preprocess stages with only the built-in image plugins loaded.

    The recipe text is written to ``workdir/recipe.yaml``; returns ``(manifest, run_dir)``.
    """
    import vlkd.plugins.ingest
    import vlkd.plugins.preprocess
    from vlkd.core.engine import Engine
    from vlkd.core.progress import Reporter
    from vlkd.core.recipe import load_recipe
    from vlkd.core.registry import Registry, get_plugin_manager

    pm = get_plugin_manager(builtins=False, autoload=False)
    pm.register(vlkd.plugins.ingest)
    pm.register(vlkd.plugins.preprocess)
    path = workdir / "recipe.yaml"
    path.write_text(recipe, encoding="utf-8")
    run_dir = workdir / "run"
    engine = Engine(
        load_recipe(path, registry=Registry(pm)),
        run_dir,
        fresh=fresh,
        to_stage=to_stage,
        reporter=Reporter(quiet=True),
    )
    return engine.run(), run_dir
