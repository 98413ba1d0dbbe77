-- A member's own language for the mail they get (nb, nn or en); NULL: the
-- secretariat's language.
ALTER TABLE members ADD COLUMN language TEXT;
