-- Lamina host schema v1. One file for SQLite and PostgreSQL: only portable types
-- (TEXT, BIGINT), application-generated TEXT ids, no dialect-specific defaults.
-- Amounts are i64 minor units; currencies are ISO 4217 numeric codes ("978").
-- Times are Unix milliseconds (UTC); business dates are 'YYYY-MM-DD' (UTC).

CREATE TABLE accounts (
    id              TEXT PRIMARY KEY,
    kind            TEXT NOT NULL,          -- cardholder | merchant | settlement | fees | funding
    name            TEXT NOT NULL,
    external_ref    TEXT,                   -- merchant id (DE 42) for merchant accounts
    currency        TEXT NOT NULL,
    ledger_balance  BIGINT NOT NULL,        -- sum of this account's postings
    held            BIGINT NOT NULL,        -- sum of this account's active holds
    credit_limit    BIGINT NOT NULL,        -- 0 for debit accounts
    status          TEXT NOT NULL,          -- active | blocked | closed
    daily_amount_limit BIGINT NOT NULL,     -- 0 = no limit
    daily_count_limit  BIGINT NOT NULL,     -- 0 = no limit
    created_at      BIGINT NOT NULL,
    CONSTRAINT accounts_kind_ck CHECK (kind IN ('cardholder','merchant','settlement','fees','funding')),
    CONSTRAINT accounts_status_ck CHECK (status IN ('active','blocked','closed'))
);
CREATE UNIQUE INDEX accounts_system_uq ON accounts (kind, external_ref, currency);

CREATE TABLE cards (
    id              TEXT PRIMARY KEY,
    pan_hash        TEXT NOT NULL,          -- hex HMAC-SHA256(PAN) under the PAN lookup key
    pan_enc         TEXT NOT NULL,          -- hex nonce || AES-256-GCM(PAN)
    pan_masked      TEXT NOT NULL,          -- 541333******0010
    psn             BIGINT NOT NULL,        -- PAN sequence number (5F34)
    expiry          TEXT NOT NULL,          -- YYMM
    status          TEXT NOT NULL,          -- active | blocked | lost | stolen | expired
    account_id      TEXT NOT NULL REFERENCES accounts (id),
    cvn             TEXT NOT NULL,          -- cryptogram version profile name
    key_ref         TEXT NOT NULL,          -- issuer master key set name in the key store
    last_atc        BIGINT NOT NULL,        -- highest ATC seen online, -1 = none
    pvv             TEXT,                   -- Visa PVV (4 digits) or NULL
    pin_offset      TEXT,                   -- IBM 3624 offset or NULL
    pin_tries       BIGINT NOT NULL,        -- consecutive wrong online PINs
    pin_try_limit   BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    CONSTRAINT cards_status_ck CHECK (status IN ('active','blocked','lost','stolen','expired'))
);
CREATE UNIQUE INDEX cards_pan_uq ON cards (pan_hash, psn);
CREATE INDEX cards_account_ix ON cards (account_id);

-- Authorizations, financial transactions, advices, reversals: one row per request
-- the issuer processed (declines included).
CREATE TABLE transactions (
    id              TEXT PRIMARY KEY,
    mti             TEXT NOT NULL,
    kind            TEXT NOT NULL,          -- authorization | purchase | completion | reversal
    card_id         TEXT,
    account_id      TEXT,
    pan_masked      TEXT,
    acquirer        TEXT NOT NULL,
    terminal        TEXT NOT NULL,
    merchant        TEXT NOT NULL,
    stan            TEXT NOT NULL,
    transmission    TEXT NOT NULL,
    rrn             TEXT NOT NULL,
    amount          BIGINT NOT NULL,        -- requested
    approved_amount BIGINT NOT NULL,
    captured_amount BIGINT NOT NULL,        -- money moved by this row: + capture, - reversal
    captured_date   TEXT,                   -- business date the money moved (clearing)
    currency        TEXT NOT NULL,
    response_code   TEXT NOT NULL,
    auth_code       TEXT,
    status          TEXT NOT NULL,          -- declined | authorized | captured | reversed | done
    original_id     TEXT,
    atc             BIGINT,
    flags           TEXT NOT NULL,          -- comma separated: atc_replay, atc_jump, ...
    business_date   TEXT NOT NULL,
    settlement_id   TEXT,
    created_at      BIGINT NOT NULL
);
CREATE INDEX transactions_card_day_ix ON transactions (card_id, business_date);
CREATE INDEX transactions_orig_ix ON transactions (acquirer, terminal, stan, transmission);
CREATE INDEX transactions_settle_ix ON transactions (captured_date, settlement_id);

CREATE TABLE holds (
    id              TEXT PRIMARY KEY,
    transaction_id  TEXT NOT NULL REFERENCES transactions (id),
    account_id      TEXT NOT NULL REFERENCES accounts (id),
    amount          BIGINT NOT NULL,
    currency        TEXT NOT NULL,
    status          TEXT NOT NULL,          -- active | captured | released
    created_at      BIGINT NOT NULL,
    CONSTRAINT holds_status_ck CHECK (status IN ('active','captured','released'))
);
CREATE INDEX holds_account_ix ON holds (account_id, status);
CREATE UNIQUE INDEX holds_txn_uq ON holds (transaction_id);

-- Double-entry postings: every entry_id's postings sum to zero.
CREATE TABLE postings (
    id              TEXT PRIMARY KEY,
    entry_id        TEXT NOT NULL,
    transaction_id  TEXT,
    account_id      TEXT NOT NULL REFERENCES accounts (id),
    amount          BIGINT NOT NULL,        -- signed: + credit to the account balance, - debit
    currency        TEXT NOT NULL,
    memo            TEXT NOT NULL,
    created_at      BIGINT NOT NULL
);
CREATE INDEX postings_account_ix ON postings (account_id);
CREATE INDEX postings_entry_ix ON postings (entry_id);

-- A retransmitted request (same acquirer, terminal, STAN, transmission time) gets the
-- stored response and posts nothing.
CREATE TABLE idempotency (
    acquirer        TEXT NOT NULL,
    terminal        TEXT NOT NULL,
    stan            TEXT NOT NULL,
    transmission    TEXT NOT NULL,
    fingerprint     TEXT NOT NULL,          -- hex SHA-256 of the request's identifying fields
    response        TEXT NOT NULL,          -- JSON of the stored response
    created_at      BIGINT NOT NULL,
    CONSTRAINT idempotency_pk PRIMARY KEY (acquirer, terminal, stan, transmission)
);

CREATE TABLE script_queue (
    id              TEXT PRIMARY KEY,
    card_id         TEXT NOT NULL REFERENCES cards (id),
    kind            TEXT NOT NULL,          -- block_application | pin_unblock | update_limits | raw
    command         TEXT NOT NULL,          -- hex APDU delivered in tag 86
    template        TEXT NOT NULL,          -- 71 (before final GENERATE AC) | 72 (after)
    status          TEXT NOT NULL,          -- queued | sent
    created_at      BIGINT NOT NULL,
    sent_transaction_id TEXT
);
CREATE INDEX script_queue_card_ix ON script_queue (card_id, status);

CREATE TABLE settlements (
    id              TEXT PRIMARY KEY,
    business_date   TEXT NOT NULL,
    merchant_account_id TEXT NOT NULL REFERENCES accounts (id),
    merchant        TEXT NOT NULL,
    currency        TEXT NOT NULL,
    count           BIGINT NOT NULL,
    gross           BIGINT NOT NULL,
    reversals       BIGINT NOT NULL,
    fees            BIGINT NOT NULL,
    net             BIGINT NOT NULL,
    created_at      BIGINT NOT NULL
);
CREATE UNIQUE INDEX settlements_uq ON settlements (business_date, merchant_account_id, currency);

CREATE TABLE reconciliations (
    id              TEXT PRIMARY KEY,
    acquirer        TEXT NOT NULL,
    terminal        TEXT NOT NULL,
    business_date   TEXT NOT NULL,
    declared_count  BIGINT NOT NULL,
    declared_amount BIGINT NOT NULL,
    host_count      BIGINT NOT NULL,
    host_amount     BIGINT NOT NULL,
    balanced        BIGINT NOT NULL,
    created_at      BIGINT NOT NULL
);
