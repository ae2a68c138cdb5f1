-- The tag a hold's own PaymentIntent carries in its metadata (`caisse_tag`), random per hold and
-- kept here: a PaymentIntent pays a hold only when its session named it or it carries this tag,
-- whichever instance or tool (`caisse events replay`) handles its event. Holds made before this
-- column have none: their PaymentIntent is matched through their session only.
ALTER TABLE holds ADD COLUMN intent_tag TEXT;
