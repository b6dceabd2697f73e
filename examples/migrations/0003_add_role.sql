-- A required column, step 1 of 2: add it nullable with a default for new
-- rows, and backfill the existing ones.
SELECT schemamig.register('0003_add_role',
$up$
ALTER TABLE users ADD COLUMN role varchar(20) DEFAULT 'member';
UPDATE users SET role = 'member' WHERE role IS NULL;
$up$,
$down$
ALTER TABLE users DROP COLUMN role;
$down$,
message => 'add role (nullable, backfilled)');
