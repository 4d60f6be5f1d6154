"""all-up (Python, failover): every tunnel that is up shares the traffic
(weight 100); a connection with none up keeps its tunnels at the weights in
force if any is above 0, else puts 100 on the first tunnel (traffic has to
go somewhere while the probes come up). Plain functions of plain values,
tested with `python3 -m unittest` here.

No parameters: any given is refused.
"""


class BadParameters(ValueError):
    """The operator set parameters: this plugin takes none."""


def check_params(entries):
    if entries:
        raise BadParameters(
            f"bad parameters: unknown parameter {entries[0][0]!r}: this plugin takes none"
        )


def weights(tunnels):
    """`tunnels`: [(up, weight in force)] in order; the new weights."""
    if any(up for up, _ in tunnels):
        return [100 if up else 0 for up, _ in tunnels]
    if any(w > 0 for _, w in tunnels):
        return [w for _, w in tunnels]
    return [100 if i == 0 else 0 for i in range(len(tunnels))]
