-- +migrate Up notransaction
CREATE INDEX CONCURRENTLY people_name_idx ON people (name);
INSERT INTO people (id, name) VALUES (3, 'edsger');
CREATE MATERIALIZED VIEW people_count AS SELECT count(*) AS n FROM people;

-- +migrate Down notransaction
DROP MATERIALIZED VIEW people_count;
DELETE FROM people WHERE id = 3;
DROP INDEX CONCURRENTLY people_name_idx;
