-- Whose lease a claimed delivery is under: a token per claimed batch. Only its holder may renew
-- the lease or settle the row, so a worker that stalled past its lease (and whose rows another
-- worker has taken over) can neither overwrite the other's outcome nor keep the rows.
ALTER TABLE deliveries ADD COLUMN lease_token uuid;
