"""Unit tests of logic.py: `python3 -m unittest` in this directory."""

import unittest

import logic


class Logic(unittest.TestCase):
    def test_a_map_parses_standard_and_large_communities(self):
        m = logic.parse_map("64512:100=200, 64512:200=50, 4200000000:1:2=300")
        self.assertEqual(m[0], (("std", 64512 << 16 | 100), 200))
        self.assertEqual(m[2], (("large", (4200000000, 1, 2)), 300))
        self.assertEqual(logic.parse_map(""), [])
        for bad in ["64512:100", "65536:1=5", "a:b=5", "1:2=x", "1:2:3:4=5", "1=5"]:
            with self.assertRaises(ValueError, msg=bad):
                logic.parse_map(bad)

    def test_the_first_matching_entry_wins(self):
        m = logic.parse_map("64512:100=200, 64512:200=50, 4200000000:1:2=300")
        c100, c200 = 64512 << 16 | 100, 64512 << 16 | 200
        self.assertEqual(logic.local_pref_for([7, c200], [], m), 50)
        self.assertEqual(logic.local_pref_for([c200, c100], [], m), 200)
        self.assertEqual(logic.local_pref_for([], [(4200000000, 1, 2)], m), 300)
        self.assertIsNone(logic.local_pref_for([7], [], m))

    def test_bad_parameters_are_named(self):
        with self.assertRaisesRegex(logic.BadParameters, "unknown parameter 'mpa'"):
            logic.checked_map([("mpa", "1:2=3")])
        with self.assertRaisesRegex(logic.BadParameters, "map: 'x=1'"):
            logic.checked_map([("map", "x=1")])
        self.assertEqual(logic.checked_map([]), [])


if __name__ == "__main__":
    unittest.main()
