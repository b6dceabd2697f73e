-- +migrate Up
INSERT INTO people (id, name) VALUES (1, 'ada'), (2, 'grace');

-- +migrate Down
DELETE FROM people WHERE id IN (1, 2);
