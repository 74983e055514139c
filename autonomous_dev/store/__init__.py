"""The durable task store: records, the state machine's persistence and the SQL backends."""
