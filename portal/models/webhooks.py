"""(models of this part: filled in by its owner)"""

from __future__ import annotations
