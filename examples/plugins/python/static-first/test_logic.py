"""Unit tests of logic.py: `python3 -m unittest` in this directory."""

import unittest

import logic


class Logic(unittest.TestCase):
    def test_statics_first(self):
        self.assertEqual(logic.select([(False, 200), (True, None)]), [1])

    def test_then_the_highest_local_pref_ecmp(self):
        self.assertEqual(logic.select([(False, 100), (False, 200), (False, 200)]), [1, 2])
        self.assertEqual(logic.select([(False, None), (False, None)]), [0, 1])
        self.assertEqual(logic.select([]), [])

    def test_parameters_are_refused(self):
        with self.assertRaises(logic.BadParameters):
            logic.check_params([("x", "1")])


if __name__ == "__main__":
    unittest.main()
