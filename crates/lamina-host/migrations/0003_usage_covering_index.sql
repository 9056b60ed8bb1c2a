-- The authorization hot path sums a card's approved usage of the day (velocity limits).
-- This index covers that query (no table row lookups), and replaces the narrower
-- (card_id, business_date) index it extends.
DROP INDEX transactions_card_day_ix;
CREATE INDEX transactions_card_usage_ix
    ON transactions (card_id, business_date, kind, response_code, status, approved_amount);
