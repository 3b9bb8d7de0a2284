"""SQLite storage: the Store facade and one owner-scoped repository per kind of data (lib/storage/db.py
holds the connection, transaction and migration plumbing, shared with the Docs Q&A collections)."""
