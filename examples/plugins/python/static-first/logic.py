"""static-first (Python, route-selection): a prefix's static routes if it
has any, else every BGP candidate with the highest local-pref (ECMP among
them), as the Rust template does. Plain functions of plain values, tested
with `python3 -m unittest` here.

No parameters: any given is refused.
"""


class BadParameters(ValueError):
    """The operator set parameters: this plugin takes none."""


def check_params(entries):
    if entries:
        raise BadParameters(
            f"bad parameters: unknown parameter {entries[0][0]!r}: this plugin takes none"
        )


def select(candidates):
    """`candidates`: [(is_static, local_pref or None)] in order; the indexes
    to install."""
    statics = [i for i, (is_static, _) in enumerate(candidates) if is_static]
    if statics:
        return statics
    prefs = [lp for _, lp in candidates if lp is not None]
    best = max(prefs) if prefs else None
    return [i for i, (_, lp) in enumerate(candidates) if lp == best]
