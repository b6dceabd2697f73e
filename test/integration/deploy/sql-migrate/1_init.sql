-- +migrate Up
CREATE TABLE people (id int PRIMARY KEY, name text);

-- +migrate Down
DROP TABLE people;
