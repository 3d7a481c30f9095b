/* policy_lookup.c: placeholder, filled in by its owner. */
