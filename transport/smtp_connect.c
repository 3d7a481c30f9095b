/* smtp_connect.c: placeholder, filled in by its owner. */
