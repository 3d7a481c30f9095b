/* policy_parse.c: placeholder, filled in by its owner. */
