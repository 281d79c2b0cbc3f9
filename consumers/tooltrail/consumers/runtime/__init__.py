"""The group runtime: one runner per consumer group (fetch, decode, write, commit), the
member's state and its side checks, the batch writer, the lanes for blocking calls, and the
process that runs the groups."""
