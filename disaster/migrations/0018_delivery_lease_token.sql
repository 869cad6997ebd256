-- Whose lease a claimed delivery is under: a token per claimed batch. Only its holder may renew
-- the lease or settle the row, so a worker that stalled past its lease (and whose rows another
-- worker has taken over) can neither overwrite the other's outcome nor keep the rows.
ALTER TABLE deliveries ADD COLUMN lease_token uuid;

-- A push being sent when the shelter it names closes is sent again once settled (re-routing:
-- see disaster/reroute.py): the worker composed it on the picture from before the closing.
ALTER TABLE deliveries ADD COLUMN resend boolean NOT NULL DEFAULT false;
