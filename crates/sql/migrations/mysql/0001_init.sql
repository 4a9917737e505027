-- livepk durable tables, MySQL/MariaDB dialect. Keep in step with ../sqlite/0001_init.sql: the
-- same tables, columns and indexes, only the dialect differs. Never edit an applied migration;
-- add a new numbered file instead (sqlx checks the checksum of every applied migration at
-- start-up).
--
-- Every integer is a signed BIGINT: sqlx's Any driver maps BIGINT to i64 on both dialects but
-- has no mapping for TINYINT/MEDIUMINT/DECIMAL or unsigned values. Text columns use
-- utf8mb4_bin so keys compare exactly, as SQLite's default BINARY collation does.

-- Hot configuration (seed 000 §B.0: info_id -> value, cached 60 s by the server and invalidated
-- over Redis pub/sub on change). The known keys, defaults and ranges live in the crate's
-- `ConfigKey` registry; missing keys are inserted with their defaults at connect.
CREATE TABLE pk_config (
    info_key      VARCHAR(64)  NOT NULL,
    value         BIGINT       NOT NULL,
    description   VARCHAR(255) NOT NULL DEFAULT '',
    updated_at_ms BIGINT       NOT NULL DEFAULT 0,
    PRIMARY KEY (info_key)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Anchors allowed to open a linkcall PK while `linkcall.whitelist_enabled` is 1 (seed 004 §三.3).
CREATE TABLE pk_anchor_whitelist (
    singer_id     BIGINT       NOT NULL,
    note          VARCHAR(255) NOT NULL DEFAULT '',
    created_at_ms BIGINT       NOT NULL,
    PRIMARY KEY (singer_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- One row per settled PK of any mode. UNIQUE (mode, pkid) makes a repeated settle write a no-op
-- (seed 004 §四: "a unique index prevents the duplicate").
CREATE TABLE pk_record (
    id            BIGINT       NOT NULL AUTO_INCREMENT,
    mode          VARCHAR(16)  NOT NULL,
    pkid          BIGINT       NOT NULL,
    participants  TEXT         NOT NULL,
    winner_id     BIGINT       NOT NULL DEFAULT 0,
    start_ms      BIGINT       NOT NULL,
    end_ms        BIGINT       NOT NULL,
    ended_by      VARCHAR(16)  NOT NULL,
    created_at_ms BIGINT       NOT NULL,
    PRIMARY KEY (id),
    CONSTRAINT pk_record_mode_pkid UNIQUE (mode, pkid),
    -- Newest-first listing, all modes and one mode.
    INDEX pk_record_end (end_ms, id),
    INDEX pk_record_mode_end (mode, end_ms, id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Who took part in which record, so "records of anchor X" is an index range, not a scan of the
-- participants JSON. `mode` and `end_ms` are copied from the record so the filtered, newest-first
-- listing is served by the index alone.
CREATE TABLE pk_record_participant (
    participant_id BIGINT      NOT NULL,
    record_id      BIGINT      NOT NULL,
    mode           VARCHAR(16) NOT NULL,
    end_ms         BIGINT      NOT NULL,
    PRIMARY KEY (participant_id, record_id),
    INDEX pk_record_participant_end (participant_id, end_ms, record_id),
    INDEX pk_record_participant_mode_end (participant_id, mode, end_ms, record_id),
    INDEX pk_record_participant_record (record_id),
    CONSTRAINT pk_record_participant_record_fk FOREIGN KEY (record_id)
        REFERENCES pk_record (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
