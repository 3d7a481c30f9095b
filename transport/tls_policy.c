/* tls_policy.c: placeholder, filled in by its owner. */
