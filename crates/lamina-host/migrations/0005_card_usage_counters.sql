-- Velocity counters on the card row: the approved authorizations and purchases of the
-- card on its latest business date. The authorization path reads them with the card
-- (no scan of the card's transactions, whose count grows through the day) and updates
-- them in the same UPDATE as the ATC; a reversal that voids an approval takes it back.
ALTER TABLE cards ADD COLUMN usage_date TEXT NOT NULL DEFAULT '';
ALTER TABLE cards ADD COLUMN usage_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE cards ADD COLUMN usage_amount BIGINT NOT NULL DEFAULT 0;

UPDATE cards SET usage_date = COALESCE(
    (SELECT MAX(t.business_date) FROM transactions t WHERE t.card_id = cards.id), '');

UPDATE cards SET
    usage_count = (SELECT COUNT(*) FROM transactions t
        WHERE t.card_id = cards.id AND t.business_date = cards.usage_date
        AND t.kind IN ('authorization', 'financial') AND t.response_code IN ('00', '10')
        AND t.status <> 'reversed'),
    usage_amount = (SELECT COALESCE(CAST(SUM(t.approved_amount) AS BIGINT), 0) FROM transactions t
        WHERE t.card_id = cards.id AND t.business_date = cards.usage_date
        AND t.kind IN ('authorization', 'financial') AND t.response_code IN ('00', '10')
        AND t.status <> 'reversed');

-- The covering index of 0003 served the per-request usage query; lookups by card and
-- day need only the narrow one (fewer bytes written per authorization).
DROP INDEX transactions_card_usage_ix;
CREATE INDEX transactions_card_day_ix ON transactions (card_id, business_date);
