"""VPS image recipes, one folder per package family, and the archive keys
the base bootstrap trusts. Data, shipped with the package."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).parent
KEYS = ROOT / "keys"
