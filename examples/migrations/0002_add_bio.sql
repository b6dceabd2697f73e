-- A new column on an existing table is nullable (or has a default).
SELECT schemamig.register('0002_add_bio',
  'ALTER TABLE users ADD COLUMN bio text',
  'ALTER TABLE users DROP COLUMN bio',
  message => 'add nullable bio');
