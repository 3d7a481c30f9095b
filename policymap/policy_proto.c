/* policy_proto.c: placeholder, filled in by its owner. */
