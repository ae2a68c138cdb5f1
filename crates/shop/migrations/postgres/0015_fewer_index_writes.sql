-- Fewer index entries written per payment (issue 23). A hold's conversion changes its status, and
-- every index holding `status` had an entry taken out and one put back. The three lookups of open
-- holds (past their expiry; a customer's; a network's) only ever ask for open holds: as partial
-- indexes, a conversion or a release takes one entry out of each and puts nothing back. (SQLite
-- has no statistics to plan with: an owner's lookup keeps `expires_at` after the owner, or it
-- would read every open hold through `holds_open_by_expiry`.) The dashboard's list by status
-- keeps `holds_by_status_id`. `holds_due_check` served no query (the
-- reconciler orders by `COALESCE(next_check_at, expires_at)` among expired open holds).
DROP INDEX holds_open_by_expiry;
DROP INDEX holds_by_customer;
DROP INDEX holds_due_check;
DROP INDEX holds_by_client_net;
CREATE INDEX holds_open_by_expiry ON holds (status, expires_at) WHERE status IN ('active', 'awaiting_payment');
CREATE INDEX holds_open_by_customer ON holds (customer_id, expires_at) WHERE status IN ('active', 'awaiting_payment');
CREATE INDEX holds_open_by_network ON holds (client_net, expires_at) WHERE status IN ('active', 'awaiting_payment');
-- `webhook_events_by_status_page` (status, received_at, stripe_event_id) serves every query this
-- one did.
DROP INDEX webhook_events_by_status;
-- The outbox worker claims due messages of the kinds it sends. With mail off, confirmations wait
-- in the outbox, and a claim walked every one of them in (status, next_attempt_at) order to skip
-- it: with the kind second, it reads only the kinds it sends.
DROP INDEX outbox_due;
CREATE INDEX outbox_due ON outbox (status, kind, next_attempt_at);
