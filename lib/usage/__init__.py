"""The usage page's data (the record and its writer are lib/core/usage_log.py): `reader` (the columnar reader and its cache),
`view` (what the usage page shows)."""
