-- migrate:up
insert into users (email) values ('admin@example.com');

-- migrate:down
delete from users where email = 'admin@example.com';
