-- Herald journal index, schema 1.
-- The index is derived from the segments and can always be rebuilt from them.

-- One row per segment file.
CREATE TABLE segments (
    id          INTEGER PRIMARY KEY,   -- first sequence number (the file name)
    created_ns  INTEGER NOT NULL,
    base_chain  BLOB    NOT NULL       -- hash-chain value before the segment's first frame
);

-- One row per committed frame (one LZ4 frame and its descriptor).
CREATE TABLE frames (
    first_seq   INTEGER PRIMARY KEY,
    last_seq    INTEGER NOT NULL,
    segment     INTEGER NOT NULL,      -- segments.id
    offset      INTEGER NOT NULL,      -- byte offset of the descriptor in the segment file
    length      INTEGER NOT NULL,      -- bytes of descriptor + LZ4 frame
    raw_length  INTEGER NOT NULL,      -- decompressed bytes
    first_time  INTEGER NOT NULL,      -- ns since the Unix epoch
    last_time   INTEGER NOT NULL,
    chain       BLOB    NOT NULL       -- hash-chain value after this frame
);
-- Read from a time: the first frame whose last_time reaches it.
CREATE INDEX frames_by_last_time ON frames(last_time);

-- One row per event, for auditors' queries. Only the primary key is indexed here:
-- secondary indexes cost insert speed and are added with the queries that need them.
CREATE TABLE events (
    seq         INTEGER PRIMARY KEY,
    time        INTEGER NOT NULL,
    channel     INTEGER NOT NULL,
    descriptor  INTEGER NOT NULL,
    priority    INTEGER NOT NULL,
    publisher   BLOB    NOT NULL
);
