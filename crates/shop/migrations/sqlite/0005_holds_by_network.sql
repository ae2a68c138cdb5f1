-- The client network (IPv4 address, IPv6 /64) each hold was made from, so that open holds and
-- held units can be capped per network whatever cookies a client drops.
ALTER TABLE holds ADD COLUMN client_net TEXT;
CREATE INDEX holds_by_client_net ON holds (client_net, status, expires_at);
