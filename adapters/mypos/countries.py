"""ISO 3166 alpha-2 to alpha-3, which myPOS wants in CustomerCountry; shops give alpha-2.

The table comes from CLDR through babel (already a dependency): CLDR lists every alpha-3 code as an alias of its
alpha-2 code, withdrawn codes included, so those are left out.
"""
from __future__ import annotations

from functools import cache

from babel.core import get_global

# ISO 3166-1 alpha-3 codes that CLDR still aliases to a current alpha-2 code but that ISO withdrew
# (East Germany, metropolitan France, Burma, Zaire, East Timor, South Yemen).
_WITHDRAWN = frozenset({"DDR", "FXX", "BUR", "ZAR", "TMP", "YMD"})


def to_alpha3(country: str) -> str:
    """"DE" -> "DEU". An alpha-3 code passes through; empty or unknown gives "" (the field is optional)."""
    code = country.strip().upper()
    if len(code) == 3 and code in _alpha3_codes():
        return code
    return _alpha2_to_alpha3().get(code, "")


@cache
def _alpha2_to_alpha3() -> dict[str, str]:
    mapping: dict[str, str] = {}
    for alias, targets in get_global("territory_aliases").items():
        if len(alias) == 3 and alias.isalpha() and alias not in _WITHDRAWN and len(targets) == 1:
            mapping.setdefault(targets[0], alias)
    return mapping


@cache
def _alpha3_codes() -> frozenset[str]:
    return frozenset(_alpha2_to_alpha3().values())
