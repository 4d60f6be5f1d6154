"""community-local-pref in Python: the bgp-filter world's exports over
`logic.py`. Built with componentize-py (see scripts/build-plugins.sh):

    componentize-py -d wit -w bgp-filter componentize -p DIR app -o OUT.wasm

A bad parameter raises at every call, which the gateway sees as a fault; it
calls each plugin once with no routes when it loads it, so `sitelink check`
and `sitelink plugin swap` show the problem at once.
"""

from wit_world import exports
from wit_world.exports import filter as f
from wit_world.imports import params

import logic


class About(exports.About):
    def name(self) -> str:
        return "community-local-pref-py"

    def version(self) -> str:
        return "0.1.0"


class Filter(exports.Filter):
    def import_filter(self, peer, routes):
        mapping = logic.checked_map(params.entries())
        out = []
        for route in routes:
            large = [(c.global_admin, c.local_data1, c.local_data2) for c in route.large_communities]
            local_pref = logic.local_pref_for(route.communities, large, mapping)
            if local_pref is None or route.local_pref == local_pref:
                out.append(f.Verdict_Accept())
            else:
                route.local_pref = local_pref
                out.append(f.Verdict_Modify(route))
        return out

    def export_filter(self, peer, routes):
        return [f.Verdict_Accept() for _ in routes]
