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

    def select(self, attributes, vias, prefixes, candidates):
        # Every prefix's candidates lie end to end in `candidates` (prefix
        # i's run from the previous prefix's `candidates_end` to its own);
        # a candidate points at its attribute set and its via by index (a
        # set's fixed fields are in `attributes.sets`, its lists in the
        # batch's pools). The answer's lists lie end to end the same way.
        logic.check_params(params.entries())
        indexes, ends, start = [], [], 0
        for p in prefixes:
            indexes += logic.select(
                [
                    (
                        vias[c.via].source == selection.Source.STATIC_ROUTE,
                        attributes.sets[c.attributes].local_pref,
                    )
                    for c in candidates[start : p.candidates_end]
                ]
            )
            ends.append(len(indexes))
            start = p.candidates_end
        return selection.Selected(indexes=indexes, ends=ends)
