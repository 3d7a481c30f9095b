/* tls_verify.c: placeholder, filled in by its owner. */
