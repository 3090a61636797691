-- When an endpoint last failed: a failure long after the previous one starts a new
-- failing streak instead of continuing an old one.
ALTER TABLE webhook_endpoints ADD COLUMN last_failed_at BIGINT;
-- Until when the endpoint asked us (Retry-After) to send it nothing.
ALTER TABLE webhook_endpoints ADD COLUMN paused_until BIGINT;
-- A claim reads back its deliveries by its lease token; few rows hold one at a time.
CREATE INDEX webhook_deliveries_lease ON webhook_deliveries (lease_owner) WHERE lease_owner IS NOT NULL;
