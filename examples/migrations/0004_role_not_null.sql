-- Step 2 of 2: make it NOT NULL without a long ACCESS EXCLUSIVE scan:
-- a NOT VALID check, validated under a weaker lock, lets SET NOT NULL
-- skip the table scan.
SELECT schemamig.register('0004_role_not_null',
$up$
ALTER TABLE users ADD CONSTRAINT users_role_not_null CHECK (role IS NOT NULL) NOT VALID;
ALTER TABLE users VALIDATE CONSTRAINT users_role_not_null;
ALTER TABLE users ALTER COLUMN role SET NOT NULL; -- schemamig:allow set-not-null
ALTER TABLE users DROP CONSTRAINT users_role_not_null;
$up$,
$down$
ALTER TABLE users ALTER COLUMN role DROP NOT NULL;
$down$,
message => 'role NOT NULL');
