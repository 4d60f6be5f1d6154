"""Unit tests of logic.py: `python3 -m unittest` in this directory."""

import unittest

import logic


class Logic(unittest.TestCase):
    def test_every_tunnel_up_shares_the_traffic(self):
        self.assertEqual(logic.weights([(True, 0), (False, 100), (True, 0)]), [100, 0, 100])

    def test_none_up_keeps_what_is_in_force_or_takes_the_first(self):
        self.assertEqual(logic.weights([(False, 0), (False, 100)]), [0, 100])
        self.assertEqual(logic.weights([(False, 0), (False, 0)]), [100, 0])
        self.assertEqual(logic.weights([]), [])

    def test_parameters_are_refused(self):
        with self.assertRaisesRegex(logic.BadParameters, "unknown parameter 'x'"):
            logic.check_params([("x", "1")])
        logic.check_params([])


if __name__ == "__main__":
    unittest.main()
