-- Keyset paging of an account's postings (GET /accounts/{id}/postings): a page is a range
-- scan of this index, whatever the number of postings before it.
CREATE INDEX postings_account_page_ix ON postings (account_id, created_at, id);
