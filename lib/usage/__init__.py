"""The usage log: `log` (the record and its writer), `reader` (the columnar reader and its cache),
`view` (what the usage page shows)."""
