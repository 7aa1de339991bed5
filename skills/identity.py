"""Identity keys: two live skills of one owner may not describe the same thing."""

from __future__ import annotations

import hashlib
import re
import unicodedata

_NON_WORD = re.compile(r"[^\w]+", re.UNICODE)


def identity_text(*, description: str, title: str = "") -> str:
    """Normalise the description (or the title when it is empty) for comparison."""
    source = description.strip() or title.strip()
    text = unicodedata.normalize("NFKC", source).casefold()
    return _NON_WORD.sub(" ", text).strip()[:1024]


def identity_key(*, description: str, title: str = "") -> str:
    normalised = identity_text(description=description, title=title)
    return hashlib.sha256(normalised.encode("utf-8")).hexdigest()[:40]


def qualified_identity_key(key: str, skill_id: object) -> str:
    """Make a duplicate's key unique while keeping its shared prefix searchable."""
    return f"{key}~{str(skill_id).replace('-', '')[:32]}"
