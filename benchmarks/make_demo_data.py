"""Generate the demo's sample automotive documents into ``recipes/data/demo/``.

The images are committed, so running the demo (and CI) needs no font; this script is how
they were made and how to remake them. It needs a CJK font: on Debian/Ubuntu
``apt-get install fonts-noto-cjk`` (or fonts-wqy-zenhei), or pass ``--font``.

    python benchmarks/make_demo_data.py [--out recipes/data/demo] [--check-ocr]

It writes a parts table (Chinese + English part numbers), an English parts catalogue
photo (JPEG), a dashboard with warning lights (PNG, and a phone photo of it stored
rotated with an EXIF orientation), a maintenance-manual page with torque values, a
fault-code table, a two-page PDF service manual, and ``manifest.csv`` giving each file's
category, brand and vehicle model. Text is large and black on white so OCR reads it.

It also writes ``warning_lights/``: small cluster photos with one lit warning light each
(``vlkd.images.warning_lights``), their own ``manifest.csv``, and ``expert_review.csv``, the
review sheet in which an expert named the light of every photo. The OCR teacher cannot see
an icon, so these pairs come from the expert, as they would in a real team; they are what
the demo's student measurably learns (see the README).
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import random
import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parent.parent
FONT_CANDIDATES = [
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2),  # index 2: Simplified Chinese
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc", 2),
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0),
    ("/System/Library/Fonts/PingFang.ttc", 0),
    ("C:/Windows/Fonts/msyh.ttc", 0),
]
INK = (20, 20, 20)
GREY = (120, 120, 120)
LINE = (60, 60, 60)


class Fonts:
    def __init__(self, path: str | None):
        found = [(path, 0)] if path else [(p, i) for p, i in FONT_CANDIDATES if Path(p).exists()]
        if not found:
            sys.exit("no CJK font found: apt-get install fonts-noto-cjk, or pass --font FILE")
        self.path, self.index = found[0]

    def __call__(self, size: int) -> ImageFont.FreeTypeFont:
        return ImageFont.truetype(self.path, size, index=self.index)


def page(width: int, height: int) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    image = Image.new("RGB", (width, height), "white")
    return image, ImageDraw.Draw(image)


def table(
    draw: ImageDraw.ImageDraw,
    font: ImageFont.FreeTypeFont,
    top: int,
    left: int,
    widths: list[int],
    rows: list[list[str]],
    row_h: int = 44,
    header_fill=(225, 232, 240),
) -> int:
    """Draw a ruled table; return the y below it."""
    y = top
    for r, row in enumerate(rows):
        x = left
        if r == 0:
            draw.rectangle([left, y, left + sum(widths), y + row_h], fill=header_fill)
        for w, cell in zip(widths, row, strict=True):
            draw.rectangle([x, y, x + w, y + row_h], outline=LINE, width=1)
            draw.text((x + 10, y + row_h // 2), cell, font=font, fill=INK, anchor="lm")
            x += w
        y += row_h
    return y


def parts_table(fonts: Fonts) -> Image.Image:
    image, draw = page(1000, 560)
    draw.text((40, 30), "零件清单  Parts List — 卡罗拉 Corolla E210", font=fonts(34), fill=INK)
    draw.text((40, 80), "保养套件 Service kit  |  日期 Date: 2024-03-18", font=fonts(22), fill=GREY)
    rows = [
        ["零件号 Part No.", "名称", "Name", "数量 Qty", "单价 Price"],
        ["04465-02220", "前刹车片", "Front brake pads", "1", "¥ 420"],
        ["90915-YZZD2", "机油滤清器", "Oil filter", "1", "¥ 58"],
        ["17801-21050", "空气滤清器", "Air filter", "1", "¥ 95"],
        ["90919-01275", "火花塞", "Spark plug", "4", "¥ 86"],
        ["87139-02090", "空调滤芯", "Cabin air filter", "1", "¥ 120"],
        ["16400-0T040", "散热器", "Radiator", "1", "¥ 1350"],
    ]
    y = table(draw, fonts(24), 130, 40, [210, 170, 250, 150, 140], rows, row_h=50)
    draw.text((40, y + 25), "合计 Total: ¥ 2473  (含税 incl. VAT)", font=fonts(26), fill=INK)
    return image


def parts_catalog_en(fonts: Fonts) -> Image.Image:
    image, draw = page(900, 520)
    draw.text((40, 28), "PARTS CATALOG  Section 47: Brake", font=fonts(32), fill=INK)
    draw.text((40, 76), "Model: Camry XV70  Engine: A25A-FKS", font=fonts(22), fill=GREY)
    rows = [
        ["Ref", "Part number", "Description", "Qty"],
        ["1", "47730-06330", "Front brake caliper, RH", "1"],
        ["2", "43512-06200", "Front brake disc", "2"],
        ["3", "04465-33471", "Front disc brake pad kit", "1"],
        ["4", "47750-06320", "Front brake caliper, LH", "1"],
        ["5", "90080-94021", "Caliper bleeder plug", "2"],
    ]
    table(draw, fonts(24), 125, 40, [80, 220, 420, 90], rows, row_h=52)
    return image


def warning_light(
    draw: ImageDraw.ImageDraw,
    center: tuple[int, int],
    colour: tuple[int, int, int],
    symbol: str,
    font: ImageFont.FreeTypeFont,
) -> None:
    x, y = center
    draw.ellipse([x - 42, y - 42, x + 42, y + 42], fill=(30, 30, 30), outline=colour, width=5)
    draw.text((x, y), symbol, font=font, fill=colour, anchor="mm")


DASHBOARD_LIGHTS = [
    ((240, 170, 0), "ENG", "发动机故障灯  Check engine"),
    ((230, 40, 30), "OIL", "机油压力低  Low oil pressure"),
    ((230, 40, 30), "BAT", "充电系统故障  Battery / charging"),
    ((240, 170, 0), "ABS", "ABS 故障  ABS fault"),
]
PHONE_LIGHTS = [
    ((240, 170, 0), "TPMS", "胎压低  Low tyre pressure"),
    ((230, 40, 30), "BRK", "制动系统故障  Brake system"),
    ((240, 170, 0), "EPS", "电动助力转向  Power steering"),
    ((40, 160, 60), "ECO", "经济模式  ECO mode on"),
]


def dashboard(fonts: Fonts, lights=DASHBOARD_LIGHTS) -> Image.Image:
    image = Image.new("RGB", (1000, 600), (245, 245, 245))
    draw = ImageDraw.Draw(image)
    draw.text((40, 24), "仪表盘警告灯 Dashboard warning lights", font=fonts(32), fill=INK)
    # speedometer
    cx, cy, r = 250, 290, 150
    draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=(25, 25, 30), outline=(90, 90, 90), width=6)
    for i, kmh in enumerate(range(0, 221, 40)):
        angle = math.radians(225 - i * 270 / 5.5)
        tx, ty = cx + (r - 35) * math.cos(angle), cy - (r - 35) * math.sin(angle)
        draw.text((tx, ty), str(kmh), font=fonts(20), fill="white", anchor="mm")
    needle = math.radians(225 - 60 / 220 * 270)
    draw.line(
        [cx, cy, cx + (r - 50) * math.cos(needle), cy - (r - 50) * math.sin(needle)],
        fill=(230, 60, 40),
        width=5,
    )
    draw.text((cx, cy + 70), "km/h", font=fonts(20), fill="white", anchor="mm")
    # warning lights, lit
    for i, (colour, symbol, label) in enumerate(lights):
        center = (520, 170 + 110 * i)
        warning_light(draw, center, colour, symbol, fonts(22 if len(symbol) > 3 else 24))
        draw.text((585, center[1]), label, font=fonts(26), fill=INK, anchor="lm")
    draw.text((40, 470), "冷却液温度 Coolant: 112 °C", font=fonts(24), fill=(200, 30, 30))
    draw.text((40, 515), "里程 Odometer: 86,420 km", font=fonts(24), fill=INK)
    return image


def digital_cluster(fonts: Fonts) -> Image.Image:
    """A second, different dashboard: a dark digital cluster with a row of lit warning lights."""
    image = Image.new("RGB", (1000, 600), (28, 30, 36))
    draw = ImageDraw.Draw(image)
    for i, (colour, symbol, label) in enumerate(PHONE_LIGHTS):
        x = 140 + 240 * i
        warning_light(draw, (x, 110), colour, symbol, fonts(22 if len(symbol) > 3 else 24))
        draw.text((x, 185), label.split("  ")[0], font=fonts(24), fill="white", anchor="mm")
        draw.text((x, 220), label.split("  ")[1], font=fonts(20), fill=(200, 200, 200), anchor="mm")
    draw.text((500, 330), "62", font=fonts(110), fill="white", anchor="mm")
    draw.text((500, 410), "km/h", font=fonts(28), fill=(200, 200, 200), anchor="mm")
    draw.rectangle([150, 470, 850, 560], outline=(240, 170, 0), width=3)
    draw.text(
        (500, 515),
        "请检查胎压  Check tyre pressure: 左前 LF 180 kPa",
        font=fonts(26),
        fill=(240, 170, 0),
        anchor="mm",
    )
    return image


def manual_torque(fonts: Fonts) -> Image.Image:
    image, draw = page(900, 640)
    draw.text((40, 28), "保养手册  第 5 章  拧紧力矩", font=fonts(32), fill=INK)
    draw.text((40, 76), "Maintenance Manual  Chapter 5: Torque specifications", font=fonts(24), fill=INK)
    rows = [
        ["部位 Location", "规格 Size", "力矩 Torque"],
        ["车轮螺母 Wheel nuts", "M12x1.5", "103 N·m"],
        ["机油放油螺塞 Oil drain plug", "M14", "40 N·m"],
        ["火花塞 Spark plug", "M12", "25 N·m"],
        ["制动钳支架螺栓 Caliper bracket", "M12", "107 N·m"],
        ["气缸盖螺栓 Cylinder head bolt", "M10", "36 N·m + 90°"],
    ]
    y = table(draw, fonts(23), 130, 40, [420, 160, 230], rows, row_h=52)
    draw.text((40, y + 25), "注意: 按对角线顺序分两次拧紧车轮螺母。", font=fonts(23), fill=INK)
    draw.text(
        (40, y + 65), "Note: tighten wheel nuts in a star pattern, in two passes.", font=fonts(23), fill=INK
    )
    return image


def fault_codes(fonts: Fonts) -> Image.Image:
    image, draw = page(900, 480)
    draw.text((40, 28), "故障码表  Diagnostic Trouble Codes", font=fonts(32), fill=INK)
    rows = [
        ["故障码 DTC", "含义 Meaning"],
        ["P0300", "随机/多缸失火  Random misfire"],
        ["P0171", "系统过稀 (1 列)  System too lean"],
        ["P0420", "催化器效率低  Catalyst efficiency low"],
        ["C0035", "左前轮速传感器  LF wheel speed sensor"],
        ["U0100", "与 ECM 通信中断  Lost comm. with ECM"],
    ]
    table(draw, fonts(24), 100, 40, [200, 610], rows, row_h=54)
    return image


def pdf_pages(fonts: Fonts) -> list[Image.Image]:
    first, draw = page(850, 1100)
    draw.text((60, 60), "维修手册  Service Manual", font=fonts(40), fill=INK)
    draw.text((60, 120), "制动系统 Brake system — 更换前刹车片", font=fonts(28), fill=INK)
    steps = [
        "1. 举升车辆, 拆下前轮。 Lift the vehicle, remove the front wheels.",
        "2. 拆下制动钳螺栓 (M8)。 Remove the caliper bolts (M8).",
        "3. 取出旧刹车片, 检查刹车盘厚度 ≥ 26.0 mm。",
        "   Check disc thickness: minimum 26.0 mm.",
        "4. 安装新刹车片 04465-02220。 Fit new pads 04465-02220.",
        "5. 制动钳螺栓力矩 34 N·m。 Caliper bolt torque: 34 N·m.",
        "6. 车轮螺母力矩 103 N·m。 Wheel nut torque: 103 N·m.",
    ]
    for i, line in enumerate(steps):
        draw.text((60, 210 + i * 60), line, font=fonts(24), fill=INK)
    draw.text((60, 1030), "第 1 页 / Page 1", font=fonts(20), fill=GREY)
    second, draw = page(850, 1100)
    draw.text((60, 60), "保养周期  Maintenance schedule", font=fonts(36), fill=INK)
    rows = [
        ["项目 Item", "间隔 Interval"],
        ["机油 Engine oil", "10,000 km / 12 月"],
        ["机油滤清器 Oil filter", "10,000 km / 12 月"],
        ["空气滤清器 Air filter", "40,000 km"],
        ["火花塞 Spark plugs", "100,000 km"],
        ["制动液 Brake fluid", "40,000 km / 24 月"],
    ]
    table(draw, fonts(24), 150, 60, [400, 330], rows, row_h=56)
    draw.text((60, 1030), "第 2 页 / Page 2", font=fonts(20), fill=GREY)
    return [first, second]


def save_png(image: Image.Image, path: Path, colors: int = 64) -> None:
    # few colours: a palette PNG keeps text crisp and the file small
    image.quantize(colors=colors, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
        path, "PNG", optimize=True
    )


def save_rotated_jpeg(image: Image.Image, path: Path) -> None:
    """Stored turned 90 degrees with EXIF orientation 6, as phone cameras do: upright once transposed."""
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "vlkd demo phone"
    image.rotate(90, expand=True).save(path, "JPEG", quality=80, exif=exif.tobytes())


def write_all(out: Path, fonts: Fonts) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for name, image in [
        ("parts_table.png", parts_table(fonts)),
        ("dashboard.png", dashboard(fonts)),
        ("manual_torque.png", manual_torque(fonts)),
        ("fault_codes.png", fault_codes(fonts)),
    ]:
        save_png(image, out / name)
        files.append(out / name)
    parts_catalog_en(fonts).save(out / "parts_catalog_en.jpg", "JPEG", quality=80)
    files.append(out / "parts_catalog_en.jpg")
    save_rotated_jpeg(
        digital_cluster(fonts).resize((800, 480), Image.Resampling.LANCZOS), out / "dashboard_phone.jpg"
    )
    files.append(out / "dashboard_phone.jpg")
    # bilevel pages, as a document scanner makes them: CCITT G4 in the PDF keeps it about 11 KB
    pages = [p.convert("L").point(lambda v: 255 if v > 150 else 0).convert("1") for p in pdf_pages(fonts)]
    buf = io.BytesIO()
    pages[0].save(buf, "PDF", save_all=True, append_images=pages[1:], resolution=100.0)
    (out / "service_manual.pdf").write_bytes(buf.getvalue())
    files.append(out / "service_manual.pdf")
    rows = [
        ("parts_table.png", "part_recognition", "Toyota", "Corolla E210", "zh+en", "parts counter"),
        ("parts_catalog_en.jpg", "part_recognition", "Toyota", "Camry XV70", "en", "catalogue scan"),
        ("dashboard.png", "fault_diagnosis", "BYD", "Qin Plus", "zh+en", "workshop screenshot"),
        ("dashboard_phone.jpg", "fault_diagnosis", "BYD", "Song Pro", "zh+en", "phone photo"),
        ("fault_codes.png", "fault_diagnosis", "Geely", "Emgrand", "zh+en", "DTC sheet"),
        ("manual_torque.png", "manual_parsing", "Toyota", "Corolla E210", "zh+en", "manual scan"),
        ("service_manual.pdf", "manual_parsing", "Toyota", "Corolla E210", "zh+en", "service manual"),
    ]
    with (out / "manifest.csv").open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["path", "category", "brand", "vehicle_model", "language", "source"])
        writer.writerows(rows)
    files.append(out / "manifest.csv")
    return files


#: cluster photos with one warning light: enough that the split holds out about 70 of them
LIGHT_IMAGES = 240
LIGHTS_DIR = "warning_lights"


def write_lights(out: Path, n: int = LIGHT_IMAGES) -> list[Path]:
    """The warning-light photos, their manifest, and the expert's review sheet naming each light."""
    from vlkd.images.warning_lights import QUESTION, balanced, dashboard

    folder = out / LIGHTS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("light_*.png"):
        old.unlink()
    rng = random.Random(7)
    files, labels = [], []
    for i, light in enumerate(balanced(n, seed=7)):
        name = f"light_{i:03d}.png"
        save_png(dashboard(light, seed=1000 + i), folder / name, colors=32)
        files.append(folder / name)
        labels.append((name, light.answer, rng.choice(BRANDS)))
    with (folder / "manifest.csv").open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["path", "category", "brand", "vehicle_model", "language", "source"])
        for name, _, (brand, model) in labels:
            writer.writerow([name, "warning_lights", brand, model, "none", "cluster camera"])
    # the sheet vlkd review exports, with rows the expert added (empty pair_id): one per photo
    with (out / "expert_review.csv").open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["pair_id", "image", "question", "answer", "category", "status", "comment"])
        for name, answer, _ in labels:
            writer.writerow(
                ["", name, QUESTION, answer, "warning_lights", "approved", "expert: read from the icon"]
            )
    return [*files, folder / "manifest.csv", out / "expert_review.csv"]


BRANDS = [("BYD", "Qin Plus"), ("BYD", "Song Pro"), ("Toyota", "Corolla E210"), ("Geely", "Emgrand")]


def check_distinct(files: list[Path], threshold: int = 4) -> None:
    """Fail when two photos are near duplicates for the demo's dedup_near step (it would drop one)."""
    import imagehash

    hashes = [(p.name, imagehash.phash(Image.open(p).convert("RGB"), hash_size=8)) for p in files]
    for i, (name, h) in enumerate(hashes):
        for other, g in hashes[:i]:
            if h - g <= threshold:
                sys.exit(f"{name} and {other} are near duplicates (phash distance {h - g}); change the seeds")


def check_ocr(files: list[Path]) -> None:
    """Print what rapidocr reads from each image (the demo's OCR teacher uses it)."""
    import numpy as np
    from PIL import ImageOps
    from rapidocr_onnxruntime import RapidOCR

    engine = RapidOCR()
    for path in files:
        if path.suffix.lower() not in (".png", ".jpg"):
            continue
        image = ImageOps.exif_transpose(Image.open(path)).convert("RGB")
        result, _ = engine(np.asarray(image))
        texts = [r[1] for r in result or []]
        print(f"{path.name}: {len(texts)} lines: {' | '.join(texts[:8])}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "recipes" / "data" / "demo")
    parser.add_argument("--font", help="a TTF/TTC font with Chinese glyphs")
    parser.add_argument(
        "--check-ocr", action="store_true", help="run rapidocr on the images and print the text"
    )
    args = parser.parse_args()
    files = write_all(args.out, Fonts(args.font))
    lights = write_lights(args.out)
    check_distinct([p for p in lights if p.suffix == ".png"])
    files.append(args.out / LIGHTS_DIR)
    for path in files:
        size = sum(p.stat().st_size for p in path.iterdir()) if path.is_dir() else path.stat().st_size
        print(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}  {size / 1024:.1f} KB")
    if args.check_ocr:
        check_ocr(files)


if __name__ == "__main__":
    main()
