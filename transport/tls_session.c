/* tls_session.c: placeholder, filled in by its owner. */
