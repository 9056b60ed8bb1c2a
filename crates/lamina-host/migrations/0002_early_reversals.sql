-- Reversals (0400/0420) that arrived before the request they reverse: when that request
-- then arrives it is declined instead of holding or posting money (the terminal has already
-- given up on it).
CREATE TABLE early_reversals (
    acquirer        TEXT NOT NULL,
    terminal        TEXT NOT NULL,
    stan            TEXT NOT NULL,          -- the original's DE 11
    transmission    TEXT NOT NULL,          -- the original's DE 7
    reversal_id     TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    CONSTRAINT early_reversals_pk PRIMARY KEY (acquirer, terminal, stan, transmission)
);
