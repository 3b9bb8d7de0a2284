"""The store's schema, as the list of migrations `PRAGMA user_version` counts (never edit one that has
shipped: add the next)."""

from __future__ import annotations

MIGRATIONS: tuple[str, ...] = (
    # 1: conversations and their messages
    """
    CREATE TABLE conversations (
        id TEXT PRIMARY KEY,
        title TEXT NOT NULL DEFAULT '',
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        persona TEXT,
        system_prompt TEXT,
        provider TEXT,
        model TEXT,
        params TEXT NOT NULL DEFAULT '{}'
    );
    CREATE TABLE messages (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
        role TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
        content TEXT NOT NULL,
        incomplete INTEGER NOT NULL DEFAULT 0,
        meta TEXT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE INDEX messages_by_conversation ON messages(conversation_id, id);
    CREATE INDEX conversations_by_activity ON conversations(updated_at DESC);
    """,
    # 2: user personas and parameter presets
    """
    CREATE TABLE personas (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL UNIQUE,
        system_prompt TEXT NOT NULL,
        temperature REAL NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE TABLE presets (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL UNIQUE,
        provider TEXT NOT NULL,
        model TEXT NOT NULL,
        params TEXT NOT NULL DEFAULT '{}',
        created_at REAL NOT NULL
    );
    """,
    # 3: the answer cache (key = hash of provider, model, messages and parameters)
    """
    CREATE TABLE answer_cache (
        key TEXT PRIMARY KEY,
        provider TEXT NOT NULL,
        model TEXT NOT NULL,
        text TEXT NOT NULL,
        resolved_model TEXT,
        prompt_tokens INTEGER,
        completion_tokens INTEGER,
        finish_reason TEXT,
        created_at REAL NOT NULL,
        hits INTEGER NOT NULL DEFAULT 0
    );
    """,
    # 4: compare runs (pages/compare.py) and their cells
    """
    CREATE TABLE compare_runs (
        id TEXT PRIMARY KEY,
        title TEXT NOT NULL DEFAULT '',
        created_at REAL NOT NULL,
        status TEXT NOT NULL,
        spec TEXT NOT NULL,
        summary TEXT NOT NULL DEFAULT '{}'
    );
    CREATE TABLE compare_cells (
        run_id TEXT NOT NULL REFERENCES compare_runs(id) ON DELETE CASCADE,
        idx INTEGER NOT NULL,
        cell TEXT NOT NULL,
        text TEXT NOT NULL,
        status TEXT NOT NULL,
        metrics TEXT NOT NULL DEFAULT '{}',
        error TEXT,
        PRIMARY KEY (run_id, idx)
    );
    CREATE INDEX compare_runs_by_time ON compare_runs(created_at DESC);
    """,
    # 5: owners (issue 17). Everything stored so far belongs to `local`. Messages and compare cells
    # belong to their conversation / run. Names and cache keys become unique per owner, which
    # needs new tables for personas, presets and the answer cache (ids are kept).
    """
    ALTER TABLE conversations ADD COLUMN owner TEXT NOT NULL DEFAULT 'local';
    DROP INDEX conversations_by_activity;
    CREATE INDEX conversations_by_owner ON conversations(owner, updated_at DESC);
    ALTER TABLE compare_runs ADD COLUMN owner TEXT NOT NULL DEFAULT 'local';
    DROP INDEX compare_runs_by_time;
    CREATE INDEX compare_runs_by_owner ON compare_runs(owner, created_at DESC);
    CREATE TABLE personas_v5 (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        owner TEXT NOT NULL DEFAULT 'local',
        name TEXT NOT NULL,
        system_prompt TEXT NOT NULL,
        temperature REAL NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        UNIQUE (owner, name)
    );
    INSERT INTO personas_v5 (id, owner, name, system_prompt, temperature, created_at, updated_at)
        SELECT id, 'local', name, system_prompt, temperature, created_at, updated_at FROM personas;
    DROP TABLE personas;
    ALTER TABLE personas_v5 RENAME TO personas;
    CREATE TABLE presets_v5 (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        owner TEXT NOT NULL DEFAULT 'local',
        name TEXT NOT NULL,
        provider TEXT NOT NULL,
        model TEXT NOT NULL,
        params TEXT NOT NULL DEFAULT '{}',
        created_at REAL NOT NULL,
        UNIQUE (owner, name)
    );
    INSERT INTO presets_v5 (id, owner, name, provider, model, params, created_at)
        SELECT id, 'local', name, provider, model, params, created_at FROM presets;
    DROP TABLE presets;
    ALTER TABLE presets_v5 RENAME TO presets;
    CREATE TABLE answer_cache_v5 (
        owner TEXT NOT NULL DEFAULT 'local',
        key TEXT NOT NULL,
        provider TEXT NOT NULL,
        model TEXT NOT NULL,
        text TEXT NOT NULL,
        resolved_model TEXT,
        prompt_tokens INTEGER,
        completion_tokens INTEGER,
        finish_reason TEXT,
        created_at REAL NOT NULL,
        hits INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (owner, key)
    );
    INSERT INTO answer_cache_v5 (owner, key, provider, model, text, resolved_model, prompt_tokens,
            completion_tokens, finish_reason, created_at, hits)
        SELECT 'local', key, provider, model, text, resolved_model, prompt_tokens,
            completion_tokens, finish_reason, created_at, hits FROM answer_cache;
    DROP TABLE answer_cache;
    ALTER TABLE answer_cache_v5 RENAME TO answer_cache;
    CREATE INDEX answer_cache_by_key ON answer_cache(key)
    """,
    # 6: an owner's preferences (the interface language, issue 22)
    """
    CREATE TABLE preferences (
        owner TEXT NOT NULL,
        name TEXT NOT NULL,
        value TEXT NOT NULL,
        updated_at REAL NOT NULL,
        PRIMARY KEY (owner, name)
    )
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)
