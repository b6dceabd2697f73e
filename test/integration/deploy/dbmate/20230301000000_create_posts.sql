-- migrate:up
create table posts (
  id bigserial primary key,
  user_id bigint not null references users (id),
  title text not null
);
create index posts_user_id_idx on posts (user_id);

-- migrate:down
drop table posts;
