//! When a validator commits and reveals: a pure function of the chain head and what the
//! validator has pending, so the daemon's loop holds no timing logic of its own and a
//! restart at any block picks up where it was.
//!
//! A subnet's tempo `t` is blocks `[created + t·T, created + (t+1)·T)`. A commit made in
//! tempo `t` must be revealed in tempo `t + 1` (the chain refuses it earlier and forgets
//! it later). So, at the head's next block `b` (the first block a transaction sent now
//! can land in), in tempo `t(b)`:
//!
//! 1. a pending commit of tempo `t(b) − 1` is revealed first;
//! 2. a pending commit of tempo `t(b)` waits for the next tempo;
//! 3. a pending commit older than `t(b) − 1` has expired: it is dropped;
//! 4. with nothing pending for this tempo, the validator audits and commits, unless too
//!    little of the tempo is left for the commit to land in it (`margin_blocks`), in
//!    which case it waits for the next tempo.
//!
//! # Invariants (tested below)
//! * a reveal is only ever planned in the tempo right after its commit.
//! * at most one commit is planned per tempo.

/// What to do now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Reveal the pending commit (made in the previous tempo).
    Reveal,
    /// The pending commit expired unrevealed: drop it.
    Drop,
    /// Audit the miners and commit weights for tempo `tempo`.
    Commit { tempo: u64 },
    /// Nothing until block `until`.
    Wait { until: u64 },
}

/// The subnet's timing as the chain records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    pub created_at: u64,
    pub tempo_blocks: u64,
}

impl Timing {
    /// The tempo of block `b`.
    pub fn tempo_of(&self, b: u64) -> u64 {
        b.saturating_sub(self.created_at)
            .checked_div(self.tempo_blocks)
            .unwrap_or(0)
    }

    /// The first block of tempo `t`.
    pub fn start_of(&self, t: u64) -> u64 {
        self.created_at
            .saturating_add(t.saturating_mul(self.tempo_blocks))
    }
}

/// The plan at head height `head`, with the tempo of the pending commit (if any) and of
/// the last commit made (if any).
pub fn plan(
    timing: Timing,
    head: u64,
    pending: Option<u64>,
    last_commit: Option<u64>,
    margin_blocks: u64,
) -> Action {
    let next = head.saturating_add(1);
    let now = timing.tempo_of(next);
    match pending {
        Some(p) if p.saturating_add(1) == now => return Action::Reveal,
        Some(p) if p == now => {
            return Action::Wait {
                until: timing.start_of(now.saturating_add(1)),
            }
        }
        Some(p) if p.saturating_add(1) < now => return Action::Drop,
        _ => {}
    }
    let next_tempo = timing.start_of(now.saturating_add(1));
    if last_commit == Some(now) || next_tempo.saturating_sub(next) <= margin_blocks {
        return Action::Wait { until: next_tempo };
    }
    Action::Commit { tempo: now }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Timing = Timing {
        created_at: 5,
        tempo_blocks: 10,
    };

    #[test]
    fn a_tempo_commits_then_the_next_reveals() {
        // Head 5: the next block (6) is in tempo 0, with 9 blocks left.
        assert_eq!(plan(T, 5, None, None, 2), Action::Commit { tempo: 0 });
        // Committed in tempo 0: wait for tempo 1 (block 15), then reveal.
        assert_eq!(plan(T, 7, Some(0), Some(0), 2), Action::Wait { until: 15 });
        assert_eq!(plan(T, 14, Some(0), Some(0), 2), Action::Reveal);
        // Revealed; then commit again in tempo 1, once.
        assert_eq!(plan(T, 15, None, Some(0), 2), Action::Commit { tempo: 1 });
        assert_eq!(plan(T, 16, Some(1), Some(1), 2), Action::Wait { until: 25 });
    }

    #[test]
    fn late_in_a_tempo_it_waits_and_stale_commits_are_dropped() {
        // Head 22: next block 23, two blocks before tempo 2 starts at 25.
        assert_eq!(plan(T, 22, None, Some(0), 2), Action::Wait { until: 25 });
        assert_eq!(plan(T, 30, Some(0), Some(0), 2), Action::Drop);
        // A restart with nothing on disk commits once per tempo only.
        assert_eq!(plan(T, 26, None, Some(2), 2), Action::Wait { until: 35 });
    }

    #[test]
    fn reveals_land_only_in_the_tempo_after_the_commit() {
        for head in 0..200u64 {
            for p in 0..20u64 {
                if plan(T, head, Some(p), Some(p), 2) == Action::Reveal {
                    assert_eq!(T.tempo_of(head + 1), p + 1, "head {head} pending {p}");
                }
            }
        }
    }
}
