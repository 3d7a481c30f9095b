/* nexthop.c: placeholder, filled in by its owner. */
