-- Where an account's billing messages go; null until an Admin sets it.
ALTER TABLE accounts ADD COLUMN billing_email TEXT;
