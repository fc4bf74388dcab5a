-- 0007_credential_revocation: why a credential was revoked, for the
-- message its holder gets (enrolled again, a new ERP token, or revoked by
-- the administrator, e.g. for a stolen station PC).
-- Forward-only: never edit this file once released; add a new one instead.
ALTER TABLE credentials ADD COLUMN revoked_why TEXT NOT NULL DEFAULT '';
