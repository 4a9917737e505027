//! Key naming. The one place that knows how a (tag, name) pair becomes a Redis key.

/// Builds keys as `{prefix}:{tag}:{name}` with the tag in braces, so that Redis Cluster
/// places all keys of one tag on one shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keyspace {
    prefix: String,
}

impl Keyspace {
    /// A keyspace under `prefix` (no braces allowed in it: they would change the hash slot).
    pub fn new(prefix: impl Into<String>) -> Self {
        let prefix = prefix.into();
        assert!(!prefix.contains(['{', '}']), "key prefix must not contain braces");
        Self { prefix }
    }

    /// The configured prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The full key of `name` under `tag`.
    pub fn key(&self, tag: &str, name: &str) -> String {
        format!("{}:{{{}}}:{}", self.prefix, tag, name)
    }

    /// The pattern that matches every key named `name` whatever its tag (for SCAN).
    pub fn pattern_any_tag(&self, name: &str) -> String {
        format!("{}:{{*}}:{}", self.prefix, name)
    }

    /// Recovers the tag from a full key built by [`Keyspace::key`].
    pub fn tag_of<'a>(&self, key: &'a str) -> Option<&'a str> {
        let rest = key.strip_prefix(&self.prefix)?.strip_prefix(":{")?;
        let end = rest.find('}')?;
        Some(&rest[..end])
    }
}

/// Tags and names the store uses itself.
pub(crate) mod reserved {
    /// Tag of the event stream and its de-duplication set.
    pub const EVENTS_TAG: &str = "events";
    /// The stream.
    pub const EVENTS_STREAM: &str = "stream";
    /// Outbox entry ids already appended, scored by append time.
    pub const EVENTS_SEEN: &str = "seen";
    /// Name (inside a PK's tag) of the hash of gift txn id -> the answer `apply_score` recorded
    /// (DESIGN.md "ScoreApply"); moved to [`SCORE_RECORDS_PREVIOUS`] by
    /// `Op::RotateScoreRecords`.
    pub const SCORE_RECORDS: &str = "txns";
    /// The answers of the tag's previous battle (`Op::RotateScoreRecords`), still consulted.
    pub const SCORE_RECORDS_PREVIOUS: &str = "txns:prev";
    /// Name of a tag's outbox list.
    pub const OUTBOX: &str = "outbox";
    /// Tag of the index of outboxes that may hold events (Redis only).
    pub const OUTBOXES_TAG: &str = "outboxes";
    /// Sorted set of tags whose commit queued events, scored by the time of the latest such
    /// commit (ms): the sweeper's work list, so it never scans the keyspace after start-up.
    pub const OUTBOXES_MARKED: &str = "marked";
    /// How long an empty outbox stays in the index after its last commit with events (ms): a
    /// commit marks its tag just before it runs, so a mark is only forgotten once no commit
    /// can still be about to fill that outbox.
    pub const OUTBOX_MARK_GRACE_MS: u64 = 60_000;
    /// How long an outbox entry id is remembered after its append (ms): far longer than any
    /// crash-and-retry of a relay.
    pub const SEEN_RETENTION_MS: u64 = 24 * 3600 * 1000;
    /// Tag prefix of a record bucket (`rec:0` .. `rec:<record_buckets - 1>`; one Redis only):
    /// the hashes that keep the gift records `claim_and_score` leaves done (DESIGN.md
    /// "Idempotency records").
    pub const RECORD_BUCKET_TAG: &str = "rec";
    /// Tag prefix of a delay-queue bucket (`dq:0`, `dq:1`, ...).
    pub const JOB_BUCKET_TAG: &str = "dq";
    /// Sorted set of job ids by due time (claimed jobs by re-delivery time).
    pub const JOB_DUE: &str = "due";
    /// Hash of job id -> encoded job.
    pub const JOB_DATA: &str = "jobs";
    /// Sorted set of dead-lettered job ids by the time they were given up (ms).
    pub const JOB_DEAD: &str = "dead";
    /// Hash of dead-lettered job id -> `"<buried ms> <reason length> <reason><job record>"`.
    pub const JOB_DEAD_DATA: &str = "dead:jobs";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_carry_the_tag_in_braces() {
        let keys = Keyspace::new("livepk");
        let key = keys.key("lc:42", "agg");
        assert_eq!(key, "livepk:{lc:42}:agg");
        assert_eq!(keys.tag_of(&key), Some("lc:42"));
        assert_eq!(keys.pattern_any_tag("outbox"), "livepk:{*}:outbox");
    }
}
