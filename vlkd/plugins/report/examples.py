"""The items to look at: the tuned student's worst regressions and best gains over the base one."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any


def pick_examples(predictions: list[dict[str, Any]], k: int = 5) -> dict[str, list[dict[str, Any]]]:
    """Items ranked by tuned − base ANLS (exact match breaks ties); ``k`` each way."""
    by_system: dict[str, dict[str, dict[str, Any]]] = {}
    for p in predictions:
        by_system.setdefault(p.get("system", ""), {})[p.get("id", "")] = p
    base, tuned, teacher = by_system.get("base", {}), by_system.get("tuned", {}), by_system.get("teacher", {})
    rows = []
    for item_id, t in tuned.items():
        b = base.get(item_id)
        if b is None:
            continue
        change = (
            t["scores"]["anls"] - b["scores"]["anls"],
            t["scores"]["exact_match"] - b["scores"]["exact_match"],
        )
        if change == (0, 0):
            continue
        rows.append(
            {
                "id": item_id,
                "category": t.get("category"),
                "question": t.get("question", ""),
                "reference": t.get("reference", ""),
                "base": b.get("prediction", ""),
                "tuned": t.get("prediction", ""),
                "teacher": (teacher.get(item_id) or {}).get("prediction"),
                "image": t.get("image", ""),
                "anls_change": change[0],
                "em_change": change[1],
            }
        )
    rows.sort(key=lambda r: (r["anls_change"], r["em_change"], r["id"]))
    regressions = [r for r in rows if (r["anls_change"], r["em_change"]) < (0, 0)][:k]
    gains = [r for r in reversed(rows) if (r["anls_change"], r["em_change"]) > (0, 0)][:k]
    return {"regressions": regressions, "gains": gains}


def thumbnail(path: str | Path, size: int = 160) -> str | None:
    """A JPEG ``data:`` URL of the image scaled to fit ``size`` px; ``None`` when unreadable."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            im.thumbnail((size, size))
            buf = io.BytesIO()
            im.save(buf, "JPEG", quality=80)
    except (OSError, ValueError):
        return None
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
