/* table_lmdb.c: placeholder, filled in by its owner. */
