-- Golden cases for paybill.server.dataplane.sqlguard, checked by tests/dataplane/test_sqlguard_golden.py.
-- Each case: '-- name:', '-- expect: SQL_REJECTED <rule>' (rejected files), then the statement.
-- The caller is a tenant_agent (read-only, no PII) unless '-- writer: true' is given.

-- name: star_duplicate_names_derived
-- expect: SQL_REJECTED star
SELECT * FROM customers, (SELECT 1 AS a, 2 AS a) AS d

-- name: star_duplicate_names_cte
-- expect: SQL_REJECTED star
WITH d AS (SELECT 1 AS a, 2 AS a) SELECT * FROM customers, d

-- name: star_duplicate_names_cross_join
-- expect: SQL_REJECTED star
SELECT * FROM customers CROSS JOIN (SELECT 1 AS a, 2 AS a) AS d

-- name: star_duplicate_names_natural_join
-- expect: SQL_REJECTED star
SELECT * FROM customers NATURAL JOIN (SELECT 1 AS a, 2 AS a) AS d

-- name: star_duplicate_names_nested
-- expect: SQL_REJECTED star
SELECT * FROM (SELECT * FROM customers, (SELECT 1 AS a, 2 AS a) AS d) AS x

-- name: star_duplicate_names_in_cte_body
-- expect: SQL_REJECTED star
WITH x AS (SELECT * FROM invoices, (SELECT 1 AS a, 2 AS a) AS d) SELECT count(*) FROM x

-- name: star_count_distinct_row
-- expect: SQL_REJECTED star
SELECT count(DISTINCT c.*) FROM customers c

-- name: star_row_is_not_null
-- expect: SQL_REJECTED star
SELECT id FROM customers c WHERE (c.*) IS NOT NULL

-- name: whole_row_field_access
-- expect: SQL_REJECTED whole_row
SELECT (c).email FROM customers AS c

-- name: whole_row_field_tenant_id
-- expect: SQL_REJECTED whole_row
SELECT (c).tenant_id FROM customers AS c

-- name: whole_row_alias_as_value
-- expect: SQL_REJECTED whole_row
SELECT c FROM customers AS c

-- name: whole_row_table_name_as_value
-- expect: SQL_REJECTED whole_row
SELECT customers FROM customers

-- name: whole_row_cast_to_text
-- expect: SQL_REJECTED whole_row
SELECT CAST(c AS TEXT) FROM customers AS c

-- name: whole_row_where_oracle
-- expect: SQL_REJECTED whole_row
SELECT id FROM customers AS c WHERE CAST(c AS TEXT) LIKE '%@%'

-- name: whole_row_correlated_oracle
-- expect: SQL_REJECTED whole_row
SELECT id FROM customers c WHERE EXISTS (SELECT 1 FROM invoices i WHERE CAST(c AS TEXT) LIKE '%x%')

-- name: whole_row_in_aggregate
-- expect: SQL_REJECTED whole_row
SELECT count(c) FROM customers c

-- name: whole_row_in_concat
-- expect: SQL_REJECTED whole_row
SELECT concat(c) FROM customers c

-- name: whole_row_in_order_by
-- expect: SQL_REJECTED whole_row
SELECT id FROM customers c ORDER BY CAST(c AS TEXT)

-- name: whole_row_in_group_by
-- expect: SQL_REJECTED whole_row
SELECT name FROM customers c GROUP BY c

-- name: whole_row_is_not_null
-- expect: SQL_REJECTED whole_row
SELECT id FROM customers c WHERE c IS NOT NULL

-- name: whole_row_through_derived
-- expect: SQL_REJECTED whole_row
SELECT x.a FROM (SELECT c AS a FROM customers c) x

-- name: whole_row_to_json
-- expect: SQL_REJECTED function
SELECT row_to_json(c) FROM customers c

-- name: cte_named_pg_roles
-- expect: SQL_REJECTED cte_name
WITH pg_roles AS (SELECT 1 AS rolname) SELECT rolname FROM pg_roles

-- name: cte_named_pg_authid
-- expect: SQL_REJECTED cte_name
WITH pg_authid AS (SELECT 1 AS x) SELECT x FROM pg_authid

-- name: cte_named_sqlite_master
-- expect: SQL_REJECTED cte_name
WITH sqlite_master AS (SELECT 1 AS x) SELECT x FROM sqlite_master

-- name: cte_named_information_schema
-- expect: SQL_REJECTED cte_name
WITH information_schema AS (SELECT 1 AS x) SELECT x FROM information_schema

-- name: cte_named_like_tenant_table
-- expect: SQL_REJECTED cte_name
WITH customers AS (SELECT 1 AS id) SELECT id FROM customers

-- name: cte_out_of_scope
-- expect: SQL_REJECTED unknown_table
SELECT y.a FROM (WITH x AS (SELECT 1 AS a) SELECT a FROM x) AS y, x

-- name: cte_out_of_scope_catalog
-- expect: SQL_REJECTED unknown_table
SELECT y.a FROM (WITH t AS (SELECT 1 AS a) SELECT a FROM t) AS y JOIN pg_user ON true

-- name: fetch_percent
-- expect: SQL_REJECTED fetch
SELECT id FROM customers FETCH FIRST 10 PERCENT ROWS ONLY

-- name: fetch_with_ties
-- expect: SQL_REJECTED fetch
SELECT id FROM customers ORDER BY id FETCH FIRST 3 ROWS WITH TIES

-- name: same_alias_twice
-- expect: SQL_REJECTED unresolved
SELECT * FROM customers, customers

-- name: star_duplicate_names_positional_order
-- expect: SQL_REJECTED unresolved
SELECT * FROM customers, (SELECT 1 AS a, 2 AS a) AS d ORDER BY 1

-- name: interval_escape_string
-- expect: SQL_REJECTED interval
SELECT id FROM invoices WHERE issued_at > now() - interval E'1\' day'

-- name: table_alias_columns_rename_tenant_id
-- expect: SQL_REJECTED table_alias_columns
SELECT c.name FROM customers AS c(id, name, x)

-- name: table_alias_columns_rename_email
-- expect: SQL_REJECTED table_alias_columns
SELECT c.country FROM customers AS c(id, tenant_id, n, country, x)

-- name: table_alias_columns_in_join
-- expect: SQL_REJECTED table_alias_columns
SELECT i.status FROM customers c JOIN invoices AS i(id, tenant_id, status) ON true

-- name: whole_row_in_distinct_on
-- expect: SQL_REJECTED whole_row
SELECT DISTINCT ON (c) id FROM customers c

-- name: natural_join_hidden_column_oracle
-- expect: SQL_REJECTED natural_join
SELECT count(*) FROM customers NATURAL JOIN (SELECT 'someone@example.com' AS email) AS d

-- name: natural_join_hidden_column_values_list
-- expect: SQL_REJECTED natural_join
SELECT v.email AS guess, c.name FROM customers c NATURAL JOIN (VALUES ('a@example.com'), ('b@example.com')) AS v(email)

-- name: natural_left_join_hidden_column_derived_first
-- expect: SQL_REJECTED natural_join
SELECT d.x FROM (SELECT 'a@example.com' AS email, 1 AS x) AS d NATURAL LEFT JOIN customers

-- name: natural_join_tenant_id_oracle
-- expect: SQL_REJECTED natural_join
SELECT c.name FROM customers c NATURAL JOIN (SELECT '00000000-0000-0000-0000-000000000000' AS tenant_id) AS d

-- name: natural_join_in_subquery
-- expect: SQL_REJECTED natural_join
SELECT name FROM customers WHERE EXISTS (SELECT 1 FROM customers c2 NATURAL JOIN (SELECT 'a@example.com' AS email) AS d)
