"""The decision of community-local-pref (Python), as plain functions of
plain values: no WIT bindings here, so `python3 -m unittest` tests it on
any machine. `app.py` adapts it to the bgp-filter world.

Parameter `map`: COMMUNITY=LOCAL_PREF entries, comma-separated, where a
community is ASN:VALUE (standard, RFC 1997) or G:L1:L2 (large, RFC 8092);
the first entry that matches a route wins, as in the Rust example.
"""

KNOWN = ("map",)


class BadParameters(ValueError):
    """The operator's parameters are wrong: the plugin refuses to run."""


def parse_community(text):
    """`ASN:VALUE` as RFC 1997's 32-bit value, or `G:L1:L2` as a triple."""
    parts = [int(p) for p in text.strip().split(":")]
    if len(parts) == 2 and all(0 <= p < 65536 for p in parts):
        return ("std", parts[0] << 16 | parts[1])
    if len(parts) == 3 and all(0 <= p < 2**32 for p in parts):
        return ("large", tuple(parts))
    raise ValueError(f"{text!r} is not ASN:VALUE or G:L1:L2")


def parse_map(text):
    """The `map` parameter as [(community, local_pref)], in order."""
    entries = []
    for entry in (e.strip() for e in text.split(",")):
        if not entry:
            continue
        community, sep, local_pref = entry.partition("=")
        if not sep:
            raise ValueError(f"{entry!r} is not COMMUNITY=LOCAL_PREF")
        try:
            entries.append((parse_community(community), int(local_pref)))
        except ValueError as e:
            raise ValueError(f"{entry!r}: {e}") from None
    return entries


def checked_map(entries):
    """The map from the operator's `(key, value)` parameters; every key must
    be known and the map must parse, else BadParameters names the problem."""
    unknown = [k for k, _ in entries if k not in KNOWN]
    if unknown:
        raise BadParameters(
            f"bad parameters: unknown parameter {unknown[0]!r}: this plugin takes "
            + ", ".join(KNOWN)
        )
    given = dict(entries).get("map", "")
    try:
        return parse_map(given)
    except ValueError as e:
        raise BadParameters(f"bad parameters: map: {e}") from None


def local_pref_for(communities, large_communities, mapping):
    """The local-pref the first matching entry sets, or None.
    `large_communities` are (global, local1, local2) triples."""
    for (kind, value), local_pref in mapping:
        if kind == "std" and value in communities:
            return local_pref
        if kind == "large" and value in large_communities:
            return local_pref
    return None
