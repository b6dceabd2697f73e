-- Branch A (on top of 0004): posts, with an index for its foreign key.
SELECT schemamig.register('0005a_posts',
$up$
CREATE TABLE posts (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users (id),
    body text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX posts_user_id_idx ON posts (user_id);
$up$,
$down$
DROP TABLE posts;
$down$,
parents => '{0004_role_not_null}',
message => 'posts');
