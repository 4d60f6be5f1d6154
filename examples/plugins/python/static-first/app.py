"""static-first: the route-selection world's exports over `logic.py`."""

from wit_world import exports
from wit_world.exports import selection
from wit_world.imports import params

import logic


class About(exports.About):
    def name(self) -> str:
        return "static-first-py"

    def version(self) -> str:
        return "0.1.0"


class Selection(exports.Selection):
    def installs_lone_candidate(self) -> bool:
        # `logic.select` installs a prefix's only candidate: the gateway
        # installs those itself and asks only about the others.
        return True

    def select(self, attributes, vias, prefixes):
        # Candidates point at their attribute set and their via by index
        # (a set's fixed fields are in `attributes.sets`, its lists in the
        # batch's pools).
        logic.check_params(params.entries())
        return [
            logic.select(
                [
                    (
                        vias[c.via].source == selection.Source.STATIC_ROUTE,
                        attributes.sets[c.attributes].local_pref,
                    )
                    for c in p.candidates
                ]
            )
            for p in prefixes
        ]
