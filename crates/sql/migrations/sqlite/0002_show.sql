-- InteractiveShow (交互式表演, seed 003), SQLite dialect. Keep in step with ../mysql/0002_show.sql:
-- the same tables, columns and indexes, only the dialect differs. Never edit an applied
-- migration; add a new numbered file instead.
--
-- Times of these tables are UTC seconds, as the seed's `ctime` ("utc秒"); 0 means "not yet".

-- One row per show (seed 003 "show full columns from tb_show"): an invitation inside a 1:1 call
-- and what became of it. Written after every state change of the show in the store (the truth
-- of a live invitation), idempotently: a write only lands when its `version` is newer than the
-- row's, so a late or repeated write never moves a row back.
CREATE TABLE tb_show (
    show_id      BIGINT       NOT NULL PRIMARY KEY,
    call_id      BIGINT       NOT NULL,
    anchor_id    BIGINT       NOT NULL,
    user_id      BIGINT       NOT NULL,
    -- 1: the anchor invited (主播点击), 2: the user invited (用户点击).
    inviter_type BIGINT       NOT NULL,
    -- The show gift (tb_show_gift.gid) the user pays with.
    gid          BIGINT       NOT NULL,
    -- 1 invited, 2 accepted by the anchor (waiting for the payment), 3 paid, 4 rejected by the
    -- user, 5 rejected by the anchor, 6 lapsed.
    status       BIGINT       NOT NULL,
    ctime        BIGINT       NOT NULL,
    -- When the pending invitation lapses (0 once answered).
    expire_time  BIGINT       NOT NULL DEFAULT 0,
    -- The anchor's accept or reject, or the user's reject.
    answer_time  BIGINT       NOT NULL DEFAULT 0,
    pay_time     BIGINT       NOT NULL DEFAULT 0,
    pay_txn_id   VARCHAR(128) NOT NULL DEFAULT '',
    -- The back office counts finish_time > 0 as a successful show (seed 003 管理后台 2).
    finish_time  BIGINT       NOT NULL DEFAULT 0,
    -- The call evaluation's show_rating, 1 to 5; 0 when not rated.
    rating       BIGINT       NOT NULL DEFAULT 0,
    rate_time    BIGINT       NOT NULL DEFAULT 0,
    version      BIGINT       NOT NULL,
    updated_at_ms BIGINT      NOT NULL
);
-- Statistics over a creation-time range; the income ranking over a payment-time range.
CREATE INDEX tb_show_ctime ON tb_show (ctime);
CREATE INDEX tb_show_pay ON tb_show (pay_time, anchor_id);
CREATE INDEX tb_show_call_id ON tb_show (call_id);

-- The show gift catalogue (seed 003: gifts of type `show` and `show_vip`). Rows are never
-- deleted: past shows join to their gift's price; `enabled = 0` retires a gift from new
-- invitations.
CREATE TABLE tb_show_gift (
    gid           BIGINT       NOT NULL PRIMARY KEY,
    gift_type     VARCHAR(16)  NOT NULL,
    name          VARCHAR(64)  NOT NULL,
    img           VARCHAR(512) NOT NULL DEFAULT '',
    effect_url    VARCHAR(512) NOT NULL DEFAULT '',
    price         BIGINT       NOT NULL,
    unit_profit   BIGINT       NOT NULL DEFAULT 0,
    enabled       BIGINT       NOT NULL DEFAULT 1,
    updated_at_ms BIGINT       NOT NULL
);

-- Accounts (anchors or users) whose show entry is switched off; an account without a row is
-- enabled.
CREATE TABLE tb_show_account (
    uid           BIGINT NOT NULL PRIMARY KEY,
    show_enable   BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);

-- The `showEnable` flag answered for each party of a paid call (paycall/call, paycall/answer):
-- the back office counts the calls whose every answer was 1 (seed 003 管理后台 1: "通话次数为
-- tb_pay_call.show_enable=1的次数"). The first answer per (call, party) is kept.
CREATE TABLE tb_show_call (
    call_id     BIGINT NOT NULL,
    uid         BIGINT NOT NULL,
    show_enable BIGINT NOT NULL,
    ctime       BIGINT NOT NULL,
    PRIMARY KEY (call_id, uid)
);
CREATE INDEX tb_show_call_ctime ON tb_show_call (ctime);
