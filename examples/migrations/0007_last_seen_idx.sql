-- An index on a table that already holds data: CREATE INDEX CONCURRENTLY
-- builds it without blocking writes.  PostgreSQL runs it only at top level,
-- never inside a function, so upgrade() stops before this revision and
-- steps() hands the statement to the client (psql: \gexec).
SELECT schemamig.register('0007_last_seen_idx',
  'CREATE INDEX CONCURRENTLY users_last_seen_idx ON users (last_seen)',
  'DROP INDEX CONCURRENTLY users_last_seen_idx',
  parents => '{0006_merge}',
  message => 'index users by last_seen, without blocking writes');
