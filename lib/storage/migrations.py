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
    # 7: prompts with versions (issue 24, lib/storage/prompts.py): prompts, their immutable versions (content:
    # the JSON of lib.prompts.model.PromptContent.to_dict()), labels, and the results that used a version.
    # Every custom persona becomes a prompt of the same name whose version 1 is its system prompt and
    # temperature (the personas table stays as it is); presets stay presets.
    """
    CREATE TABLE prompts (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        owner TEXT NOT NULL,
        name TEXT NOT NULL,
        source TEXT NOT NULL DEFAULT '',
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        deleted_at REAL
    );
    CREATE UNIQUE INDEX prompts_live_name ON prompts(owner, name) WHERE deleted_at IS NULL;
    CREATE TABLE prompt_versions (
        prompt_id INTEGER NOT NULL REFERENCES prompts(id),
        number INTEGER NOT NULL CHECK (number >= 1),
        owner TEXT NOT NULL,
        created_at REAL NOT NULL,
        note TEXT NOT NULL DEFAULT '',
        content TEXT NOT NULL,
        restored_from INTEGER,
        deleted_at REAL,
        PRIMARY KEY (prompt_id, number)
    );
    CREATE INDEX prompt_versions_by_owner ON prompt_versions(owner, prompt_id);
    CREATE TABLE prompt_labels (
        prompt_id INTEGER NOT NULL REFERENCES prompts(id),
        name TEXT NOT NULL,
        owner TEXT NOT NULL,
        version INTEGER NOT NULL,
        updated_at REAL NOT NULL,
        PRIMARY KEY (prompt_id, name),
        FOREIGN KEY (prompt_id, version) REFERENCES prompt_versions(prompt_id, number)
    );
    CREATE TABLE prompt_refs (
        owner TEXT NOT NULL,
        prompt_id INTEGER NOT NULL,
        version INTEGER NOT NULL,
        kind TEXT NOT NULL,
        target TEXT NOT NULL,
        created_at REAL NOT NULL,
        PRIMARY KEY (owner, kind, target, prompt_id, version),
        FOREIGN KEY (prompt_id, version) REFERENCES prompt_versions(prompt_id, number)
    );
    CREATE INDEX prompt_refs_by_version ON prompt_refs(prompt_id, version);
    INSERT INTO prompts (owner, name, source, created_at, updated_at)
        SELECT owner, name, 'persona:' || id, created_at, updated_at FROM personas ORDER BY owner, name;
    INSERT INTO prompt_versions (prompt_id, number, owner, created_at, note, content)
        SELECT p.id, 1, s.owner, s.updated_at, '', json_object(
            'frequency_penalty', NULL, 'max_tokens', NULL, 'model', '', 'presence_penalty', NULL, 'seed', NULL,
            'stop', json_array(), 'system', s.system_prompt, 'temperature', s.temperature, 'template', '', 'top_p', NULL)
        FROM personas s JOIN prompts p ON p.owner = s.owner AND p.source = 'persona:' || s.id
    """,
    # 8: a conversation started from a prompt version remembers it as `name@version` (issue 24, phase 2);
    # the version itself is also kept by a prompt_refs row (kind "conversation").
    """
    ALTER TABLE conversations ADD COLUMN prompt TEXT;
    CREATE INDEX conversations_by_prompt ON conversations(owner, prompt) WHERE prompt IS NOT NULL
    """,
    # 9: people's votes on compare runs (issue 25, lib/storage/compare_votes.py): a rating (-1/0/1 and a comment)
    # per owner and cell, and blind pairwise votes; deleted with their run.
    """
    CREATE TABLE compare_ratings (
        owner TEXT NOT NULL,
        run_id TEXT NOT NULL REFERENCES compare_runs(id) ON DELETE CASCADE,
        idx INTEGER NOT NULL,
        rating INTEGER NOT NULL CHECK (rating IN (-1, 0, 1)),
        comment TEXT NOT NULL DEFAULT '',
        updated_at REAL NOT NULL,
        PRIMARY KEY (owner, run_id, idx)
    );
    CREATE TABLE compare_blind_votes (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        owner TEXT NOT NULL,
        run_id TEXT NOT NULL REFERENCES compare_runs(id) ON DELETE CASCADE,
        first_idx INTEGER NOT NULL,
        second_idx INTEGER NOT NULL,
        winner TEXT NOT NULL CHECK (winner IN ('a', 'b', 'tie')),
        created_at REAL NOT NULL
    );
    CREATE INDEX compare_blind_votes_by_run ON compare_blind_votes(owner, run_id);
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)
