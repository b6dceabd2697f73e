INSERT INTO accounts (id, name) VALUES (1, 'acme'), (2, 'globex');
