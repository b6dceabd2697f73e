-- +migrate Up
-- +migrate StatementBegin
CREATE FUNCTION touch_name() RETURNS trigger AS $$
BEGIN
  NEW.name := trim(NEW.name);
  RETURN NEW;
END;
$$ LANGUAGE plpgsql;
-- +migrate StatementEnd

-- +migrate Down
DROP FUNCTION touch_name();
