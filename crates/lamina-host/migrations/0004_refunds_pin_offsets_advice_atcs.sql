-- Refunds (processing code 20), IBM 3624 PIN offsets, verified offline advices.

-- IBM 3624 PIN verification parameters of a card whose `pin_offset` is set:
-- "<decimalization table, 16 digits>:<validation data start>:<validation data length>:<pad hex digit>"
-- (the validation data is that run of PAN digits, padded on the right to 16 hex digits).
ALTER TABLE cards ADD COLUMN pin_params TEXT;
-- 1 = refunds (processing code 20) may be credited to this card, 0 = answered 57.
ALTER TABLE cards ADD COLUMN refunds_allowed BIGINT NOT NULL DEFAULT 1;

-- Settlement: refunds credited to cardholders (net of refund reversals), debited to the
-- merchant: net = gross - reversals - refunds - fees.
ALTER TABLE settlements ADD COLUMN refunds BIGINT NOT NULL DEFAULT 0;

-- ATCs of the offline advices (0220 without an original) posted for a card: an advice
-- whose TC carries an ATC already here is a replay and is refused.
CREATE TABLE offline_atcs (
    card_id         TEXT NOT NULL REFERENCES cards (id),
    atc             BIGINT NOT NULL,
    transaction_id  TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    CONSTRAINT offline_atcs_pk PRIMARY KEY (card_id, atc)
);
