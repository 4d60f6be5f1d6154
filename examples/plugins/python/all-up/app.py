"""all-up: the failover world's exports over `logic.py`."""

from wit_world import exports
from wit_world.imports import params

import logic


class About(exports.About):
    def name(self) -> str:
        return "all-up-py"

    def version(self) -> str:
        return "0.1.0"


class Weights(exports.Weights):
    def decide(self, connections):
        logic.check_params(params.entries())
        return [logic.weights([(t.up, t.weight) for t in c.tunnels]) for c in connections]
