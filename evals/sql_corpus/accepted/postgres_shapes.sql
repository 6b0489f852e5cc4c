-- Golden cases for paybill.server.dataplane.sqlguard, checked by tests/dataplane/test_sqlguard_golden.py.
-- Each case: '-- name:', then the statement; '-- backend: postgres' marks a case only
-- PostgreSQL runs (SQLite refuses it with SQL_REJECTED).
-- The caller is a tenant_agent (read-only, no PII) unless '-- writer: true' is given.

-- name: fetch_first_one_row
SELECT id, name FROM customers ORDER BY id FETCH FIRST 1 ROW ONLY

-- name: fetch_first_row_no_count
SELECT id FROM customers ORDER BY id FETCH FIRST ROW ONLY

-- name: offset_fetch_next
SELECT id FROM invoices ORDER BY id OFFSET 1 ROWS FETCH NEXT 2 ROWS ONLY

-- name: interval_day
-- backend: postgres
SELECT id FROM invoices WHERE issued_at > now() - interval '1' day

-- name: interval_text
-- backend: postgres
SELECT id FROM usage_events WHERE occurred_at > now() - interval '2 hours'

-- name: percent_in_line_comment
SELECT id FROM customers -- 100% of them
WHERE country = 'DE'

-- name: percent_in_block_comment
SELECT /* 50% off */ id FROM customers

-- name: percent_in_quoted_alias
SELECT id AS "share_%" FROM customers

-- name: modulo_operator
SELECT id % 2 AS parity, count(*) AS n FROM customers GROUP BY id % 2

-- name: count_star
SELECT count(*) FROM invoices

-- name: table_star
SELECT c.* FROM customers c

-- name: star_over_cte
WITH recent AS (SELECT id, name FROM customers) SELECT * FROM recent

-- name: star_over_join
SELECT * FROM customers c JOIN invoices i ON i.customer_id = c.id

-- name: correlated_exists
SELECT name FROM customers c WHERE EXISTS (SELECT 1 FROM invoices i WHERE i.customer_id = c.id)

-- name: order_by_output_alias
SELECT status, sum(amount_cents) AS total FROM invoices GROUP BY status ORDER BY total DESC

-- name: derived_with_column_aliases
SELECT x.k FROM (SELECT id FROM customers) AS x(k)

-- name: interval_several_parts
-- backend: postgres
SELECT id FROM usage_events WHERE occurred_at > now() - interval '1 day 2 hours'

-- name: distinct_on_output_name
SELECT DISTINCT ON (customer_id) customer_id, amount_cents FROM invoices ORDER BY customer_id, issued_at DESC
