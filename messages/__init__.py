"""Every word a user sees, from one catalogue per language (``en.yaml``)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).parent


@cache
def catalogue(lang: str = "en") -> dict[str, str]:
    """The message catalogue for a language."""
    data = yaml.safe_load((HERE / f"{lang}.yaml").read_text(encoding="utf-8"))
    return {str(k): str(v).strip() for k, v in data.items()}


def t(key: str, channel: str | None = None, lang: str = "en", **values: Any) -> str:
    """The text for ``key`` (its channel variant if there is one), with values filled in.

    Values are inserted as they are: messages go out as plain text, so user-supplied
    text can never change formatting.
    """
    cat = catalogue(lang)
    text = cat.get(f"{key}.{channel}") if channel else None
    if text is None:
        text = cat[key]
    return text.format(**values) if values else text
