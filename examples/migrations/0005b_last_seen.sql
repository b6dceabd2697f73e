-- Branch B (also on top of 0004), written by another developer meanwhile.
SELECT schemamig.register('0005b_last_seen',
  'ALTER TABLE users ADD COLUMN last_seen timestamptz',
  'ALTER TABLE users DROP COLUMN last_seen',
  parents => '{0004_role_not_null}',
  message => 'last seen');
