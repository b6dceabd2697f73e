-- migrate:up transaction:false
create unique index concurrently users_email_idx on users (email);

-- migrate:down transaction:false
drop index concurrently users_email_idx;
