/* table_source.c: placeholder, filled in by its owner. */
