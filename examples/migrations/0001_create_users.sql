-- The Flask tutorial's users table.
SELECT schemamig.register('0001_create_users',
$up$
CREATE TABLE users (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username varchar(64) NOT NULL UNIQUE,
    email varchar(120) NOT NULL UNIQUE,
    password_hash varchar(256)
);
$up$,
$down$
DROP TABLE users;
$down$,
message => 'create users');
