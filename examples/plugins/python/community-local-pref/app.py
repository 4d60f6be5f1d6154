"""community-local-pref in Python: the bgp-filter world's exports over
`logic.py`. Built with componentize-py (see scripts/build-plugins.sh):

    componentize-py -d wit -w bgp-filter componentize -p DIR app -o OUT.wasm

A bad parameter raises at every call, which the gateway sees as a fault; it
calls each plugin once with no routes when it loads it, so `sitelink check`
and `sitelink plugin swap` show the problem at once.
"""

from wit_world import exports
from wit_world.exports import filter as f
from wit_world.imports import params, types

import logic


def attribute_sets(batch):
    """Each attribute set of a batch as a `types.Attributes` record. The
    lists of every set cross end to end in three pools (sitelink:policy
    0.3): a set's lists are the pools' slices from the previous set's ends
    to its own."""
    path = communities = large = 0
    for s in batch.sets:
        # Ends out of order or past a pool (the gateway never sends them)
        # raise, as the Rust SDK traps, rather than slice short.
        assert path <= s.as_path_end <= len(batch.as_paths)
        assert communities <= s.communities_end <= len(batch.communities)
        assert large <= s.large_communities_end <= len(batch.large_communities)
        yield types.Attributes(
            next_hop=s.next_hop,
            as_path=batch.as_paths[path:s.as_path_end],
            origin=s.origin,
            med=s.med,
            local_pref=s.local_pref,
            communities=batch.communities[communities:s.communities_end],
            large_communities=batch.large_communities[large:s.large_communities_end],
        )
        path, communities, large = s.as_path_end, s.communities_end, s.large_communities_end


class About(exports.About):
    def name(self) -> str:
        return "community-local-pref-py"

    def version(self) -> str:
        return "0.1.0"


class Filter(exports.Filter):
    def import_filter(self, peer, attributes, routes):
        # The gateway lists each attribute set once and the routes point at
        # theirs: decide once per set, and every route of a set gets its
        # verdict.
        mapping = logic.checked_map(params.entries())
        changed = []
        per_set = []
        for a in attribute_sets(attributes):
            large = [(c.global_admin, c.local_data1, c.local_data2) for c in a.large_communities]
            local_pref = logic.local_pref_for(a.communities, large, mapping)
            if local_pref is None or a.local_pref == local_pref:
                per_set.append(f.Verdict_Accept())
            else:
                a.local_pref = local_pref
                changed.append(a)
                per_set.append(f.Verdict_Modify(len(changed) - 1))
        return f.Verdicts(attributes=changed, verdicts=[per_set[r.attributes] for r in routes])

    def export_filter(self, peer, attributes, routes):
        return f.Verdicts(attributes=[], verdicts=[f.Verdict_Accept() for _ in routes])
