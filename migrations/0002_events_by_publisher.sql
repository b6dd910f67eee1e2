-- Herald journal index, schema 2: auditors' queries by publisher are index-served.
-- (A channel index was measured too and left out: with both, sustained appends ran at the
-- indexer's pace; a channel condition filters the event rows of the range instead.)
-- `events.publisher` now holds the publisher name alone: a record whose flags carry the
-- origin bit (0x10) has the publisher's uid, gid and pid in front of the name in its
-- publisher field, and the index leaves them out. Rows of schema 1 held the whole field,
-- so the derived tables are emptied here and rebuilt from the segments when the journal
-- opens (read-write).
DROP TABLE events;
CREATE TABLE events (
    seq         INTEGER PRIMARY KEY,
    time        INTEGER NOT NULL,
    channel     INTEGER NOT NULL,
    descriptor  INTEGER NOT NULL,
    priority    INTEGER NOT NULL,
    publisher   BLOB    NOT NULL       -- the publisher name, without the origin prefix
);
CREATE INDEX events_by_publisher ON events(publisher, seq);
DELETE FROM frames;
