-- MiniMost schema, version 1. Times are Unix epoch seconds as REAL.

CREATE TABLE users (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    username        TEXT NOT NULL,              -- the registered spelling
    username_key    TEXT NOT NULL UNIQUE,       -- lowercase, for case-insensitive lookups
    password_hash   TEXT NOT NULL,
    password_set_ts REAL NOT NULL,
    created_ts      REAL NOT NULL,              -- 0 for imported accounts (api.md §4.3)
    failed_attempts INTEGER NOT NULL DEFAULT 0,
    lockout_until   REAL,
    admin_locked    INTEGER NOT NULL DEFAULT 0, -- set by `minimostctl users lock`
    bio             TEXT,
    name_color      TEXT,
    avatar          TEXT                        -- file name under avatars/
);

CREATE TABLE password_history (
    id      INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    hash    TEXT NOT NULL,
    set_ts  REAL NOT NULL
);
CREATE INDEX password_history_user ON password_history(user_id, id);

-- Only SHA-256 of the cookie's id is stored, so a copy of the database opens no session.
CREATE TABLE sessions (
    id_hash        TEXT PRIMARY KEY,
    user_id        INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    csrf_token     TEXT NOT NULL,
    created_ts     REAL NOT NULL,
    last_active_ts REAL NOT NULL
);
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE reset_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_ts REAL NOT NULL,
    expires_ts REAL NOT NULL,
    used       INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX reset_tokens_user ON reset_tokens(user_id);

CREATE TABLE private_channels (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_ts REAL NOT NULL
);

CREATE TABLE private_members (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT, -- joining order
    channel_id    INTEGER NOT NULL REFERENCES private_channels(id) ON DELETE CASCADE,
    user_id       INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    history_start REAL,                              -- NULL: sees the whole history
    UNIQUE (channel_id, user_id)
);
CREATE INDEX private_members_user ON private_members(user_id);

-- The change time (greatest of ts, edited_ts, deleted_ts, reactions_ts) is kept in a column so
-- that cursors (api.md §5.4) are an index range scan.
CREATE TABLE messages (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,  -- AUTOINCREMENT: ids are never reused
    channel      TEXT NOT NULL,
    sender       TEXT NOT NULL,
    content      TEXT,
    content_type TEXT NOT NULL DEFAULT 'text',
    filename     TEXT,
    ts           REAL NOT NULL,
    edited       INTEGER NOT NULL DEFAULT 0,
    edited_ts    REAL,
    deleted      INTEGER NOT NULL DEFAULT 0,
    deleted_ts   REAL,
    reply_to_id  INTEGER,
    reactions_ts REAL,
    mentions     TEXT,                               -- JSON array, or NULL
    change_ts    REAL NOT NULL
);
CREATE INDEX messages_channel_ts ON messages(channel, ts, id);
CREATE INDEX messages_channel_change ON messages(channel, change_ts);
CREATE INDEX messages_sender ON messages(sender, ts);
CREATE INDEX messages_filename ON messages(filename) WHERE filename IS NOT NULL;

-- Who a row mentions, for GET /mentions: lowercase names, or '@everyone'.
CREATE TABLE message_mentions (
    message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    name_key   TEXT NOT NULL,
    PRIMARY KEY (name_key, message_id)
) WITHOUT ROWID;
CREATE INDEX message_mentions_message ON message_mentions(message_id);

CREATE TABLE reactions (
    message_id   INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    emoji        TEXT NOT NULL,
    username     TEXT NOT NULL,
    username_key TEXT NOT NULL,
    ts           REAL NOT NULL,
    PRIMARY KEY (message_id, emoji, username_key)
) WITHOUT ROWID;

CREATE TABLE pins (
    message_id INTEGER PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
    channel    TEXT NOT NULL,
    pinned_by  TEXT NOT NULL,
    pinned_ts  REAL NOT NULL
);
CREATE INDEX pins_channel ON pins(channel, pinned_ts);

CREATE TABLE watermarks (
    user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    channel      TEXT NOT NULL,
    last_read_ts REAL NOT NULL,
    PRIMARY KEY (user_id, channel)
) WITHOUT ROWID;
CREATE INDEX watermarks_channel ON watermarks(channel);

CREATE TABLE hidden_dms (
    user_id   INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    channel   TEXT NOT NULL,
    hidden_ts REAL NOT NULL,
    PRIMARY KEY (user_id, channel)
) WITHOUT ROWID;

-- Substring search (api.md §6.4): trigram FTS over the text of live rows, kept in step by
-- triggers so that no code path can forget it.
CREATE VIRTUAL TABLE messages_fts USING fts5(
    content, content = 'messages', content_rowid = 'id', tokenize = 'trigram'
);
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages
WHEN new.content IS NOT NULL AND new.content <> '' BEGIN
    INSERT INTO messages_fts(rowid, content) VALUES (new.id, new.content);
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages
WHEN old.content IS NOT NULL AND old.content <> '' BEGIN
    INSERT INTO messages_fts(messages_fts, rowid, content) VALUES ('delete', old.id, old.content);
END;
CREATE TRIGGER messages_fts_update_old AFTER UPDATE OF content ON messages
WHEN old.content IS NOT NULL AND old.content <> '' BEGIN
    INSERT INTO messages_fts(messages_fts, rowid, content) VALUES ('delete', old.id, old.content);
END;
CREATE TRIGGER messages_fts_update_new AFTER UPDATE OF content ON messages
WHEN new.content IS NOT NULL AND new.content <> '' BEGIN
    INSERT INTO messages_fts(rowid, content) VALUES (new.id, new.content);
END;

-- Small facts about the store itself (e.g. when cleanup last ran).
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
