//! The round as one table: one row per (state, move) pair, under both kinds of rules (a battle
//! that goes back to idle after a round, as LinkCallPk's link, and one that is over after its
//! round, as RoomPk, AcrossPk and GiftPk). A row's outcome is `err NNN` (the last three digits of
//! the business code) or one line: `<phase>#<pkid>[@<deadline s>] [verdict <a>:<b> <winner>]
//! [settled(<by>) <a>:<b> end <s>] [timer <phase>@<s>]`, times in seconds after the start of the
//! test.

use livepk_core::{BusinessError, PkId};

use super::*;

const T0: u64 = 1_000_000;
const BATTLE: BattleId = BattleId(7);
const SCORING_MS: u64 = 360_000;
const ADD_MS: u64 = 60_000;

fn pkid(raw: u64) -> PkId {
    PkId::from_trusted(raw)
}

fn secs(ms: u64) -> u64 {
    (ms - T0) / 1000
}

/// The state a row starts from, always reached through the moves themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Given {
    /// Never started, pkid 1.
    Fresh,
    /// Started at 0 s under pkid 1; now is 1 s.
    Scoring,
    /// Scoring, now is 361 s: the deadline passed, its job has not run.
    Overdue,
    /// Settled 10:0 by the deadline job at 360 s: punishment until 480 s (or over, when the
    /// rules close after the round); now is 361 s.
    Settled,
    /// Settled 0:0 by the deadline job at 360 s: no punishment; now is 361 s.
    Draw,
    /// Closed at 1 s while scoring.
    Closed,
}

#[derive(Debug, Clone, Copy)]
enum Move {
    Start,
    Count,
    /// The scoring deadline job of pkid 1.
    ScoringJob,
    /// The punishment deadline job of pkid 1.
    PunishmentJob,
    /// A scoring job of a pkid that is not current.
    StaleJob,
    AddTime,
    Close,
    /// Advance this many seconds first, then run the move.
    After(u64, &'static Move),
}

struct World {
    round: Round,
    rules: RoundRules,
    now: u64,
    scores: Scores,
    next_pkid: u64,
}

impl World {
    fn new(after: AfterRound) -> World {
        World {
            round: Round::new(pkid(1)),
            rules: RoundRules { punish_ms: 120_000, after },
            now: T0,
            scores: Scores::default(),
            next_pkid: 1,
        }
    }

    fn fresh_pkid(&mut self) -> PkId {
        self.next_pkid += 1;
        pkid(self.next_pkid)
    }

    fn given(after: AfterRound, state: Given) -> World {
        let mut world = World::new(after);
        if state == Given::Fresh {
            return world;
        }
        world.round = world.round.start(BATTLE, None, SCORING_MS, world.now).unwrap().round;
        world.now += 1_000;
        match state {
            Given::Fresh | Given::Scoring => {}
            Given::Closed => {
                world.round =
                    world.round.close(BATTLE, world.scores, EndedBy::Close, world.now).round;
            }
            Given::Overdue | Given::Settled | Given::Draw => {
                world.now = T0 + SCORING_MS;
                if state == Given::Settled {
                    world.scores = Scores::new(10, 0);
                }
                if state != Given::Overdue {
                    let step = world.round.on_deadline(
                        BATTLE,
                        pkid(1),
                        TimedPhase::Scoring,
                        world.scores,
                        &world.rules,
                        world.now,
                    );
                    let DeadlineStep::Settled(settlement) = step else { panic!("{step:?}") };
                    world.round = settlement.round;
                }
                world.now += 1_000;
            }
        }
        world
    }

    fn run(&mut self, command: Move) -> Result<String, RoundError> {
        let now = self.now;
        let (round, settled, timer) = match command {
            Move::After(secs, then) => {
                self.now += secs * 1000;
                return self.run(*then);
            }
            Move::Start => {
                let fresh = self.round.next_start_needs_fresh_pkid().then(|| self.fresh_pkid());
                let timed = self.round.start(BATTLE, fresh, SCORING_MS, now)?;
                (timed.round, None, Some(timed.deadline))
            }
            Move::Count => {
                let settlement = self.round.count(BATTLE, self.scores, &self.rules, now)?;
                (settlement.round, Some(settlement.settled), settlement.punishment)
            }
            Move::ScoringJob | Move::PunishmentJob | Move::StaleJob => {
                let (job_pkid, phase) = match command {
                    Move::ScoringJob => (pkid(1), TimedPhase::Scoring),
                    Move::PunishmentJob => (pkid(1), TimedPhase::Punishment),
                    _ => (pkid(99), TimedPhase::Scoring),
                };
                match self.round.on_deadline(BATTLE, job_pkid, phase, self.scores, &self.rules, now)
                {
                    DeadlineStep::Stale => return Ok("stale".into()),
                    DeadlineStep::Early(deadline) => {
                        return Ok(format!("early, again @{}", secs(deadline.due_ms)));
                    }
                    DeadlineStep::Settled(settlement) => {
                        (settlement.round, Some(settlement.settled), settlement.punishment)
                    }
                    DeadlineStep::PunishmentOver(round) => (round, None, None),
                }
            }
            Move::AddTime => {
                let fresh = Some(self.fresh_pkid());
                let timed = self.round.add_time(BATTLE, fresh, ADD_MS, now)?;
                (timed.round, None, Some(timed.deadline))
            }
            Move::Close => {
                let closing = self.round.close(BATTLE, self.scores, EndedBy::Close, now);
                (closing.round, closing.settled, None)
            }
        };
        self.round = round;
        Ok(render(&round, settled, timer))
    }
}

fn render(round: &Round, settled: Option<Settled>, timer: Option<PhaseDeadline>) -> String {
    let mut line = format!("{}#{}", round.phase.name().as_str(), round.pkid);
    if let Some((_, deadline)) = round.phase.deadline() {
        line.push_str(&format!("@{}", secs(deadline)));
    }
    if let Some(verdict) = round.last_result {
        let winner = match verdict.winner {
            Some(Side::First) => "first",
            Some(Side::Second) => "second",
            None => "draw",
        };
        line.push_str(&format!(
            " verdict {}:{} {winner}",
            verdict.scores.first, verdict.scores.second
        ));
    }
    if let Some(settled) = settled {
        line.push_str(&format!(
            " settled({}) {}:{} end {}",
            settled.ended_by.as_str(),
            settled.scores.first,
            settled.scores.second,
            secs(settled.end_ms)
        ));
    }
    if let Some(timer) = timer {
        line.push_str(&format!(" timer {}@{}", timer.phase.as_str(), secs(timer.due_ms)));
    }
    line
}

const IDLE: AfterRound = AfterRound::Idle;
const CLOSE: AfterRound = AfterRound::Close;

#[rustfmt::skip]
const ROWS: &[(AfterRound, Given, Move, &str)] = &[
    // ---- never started ----------------------------------------------------------------------
    (IDLE, Given::Fresh, Move::Start, "scoring#1@360 timer scoring@360"),
    (IDLE, Given::Fresh, Move::Count, "err 027"),
    (IDLE, Given::Fresh, Move::AddTime, "err 027"),
    (IDLE, Given::Fresh, Move::ScoringJob, "stale"),
    (IDLE, Given::Fresh, Move::Close, "closed#1"),
    // ---- scoring, before the deadline -------------------------------------------------------
    (IDLE, Given::Scoring, Move::Start, "err 023"),
    (IDLE, Given::Scoring, Move::Count, "err 023"),
    (IDLE, Given::Scoring, Move::ScoringJob, "early, again @360"),
    (IDLE, Given::Scoring, Move::PunishmentJob, "stale"),
    (IDLE, Given::Scoring, Move::StaleJob, "stale"),
    (IDLE, Given::Scoring, Move::AddTime, "scoring#2@420 timer scoring@420"),
    (IDLE, Given::Scoring, Move::Close, "closed#1 verdict 0:0 draw settled(close) 0:0 end 1"),
    (IDLE, Given::Scoring, Move::After(359, &Move::ScoringJob), "idle#1 verdict 0:0 draw settled(deadline) 0:0 end 360"),
    // ---- scoring, the deadline passed and its job did not run yet ---------------------------
    (IDLE, Given::Overdue, Move::Count, "idle#1 verdict 0:0 draw settled(count) 0:0 end 360"),
    (IDLE, Given::Overdue, Move::ScoringJob, "idle#1 verdict 0:0 draw settled(deadline) 0:0 end 360"),
    (IDLE, Given::Overdue, Move::AddTime, "scoring#2@421 timer scoring@421"),
    (IDLE, Given::Overdue, Move::Close, "closed#1 verdict 0:0 draw settled(close) 0:0 end 360"),
    (IDLE, Given::Overdue, Move::Start, "err 023"),
    // ---- settled with a winner: punishment --------------------------------------------------
    (IDLE, Given::Settled, Move::Count, "err 024"),
    (IDLE, Given::Settled, Move::ScoringJob, "stale"),
    (IDLE, Given::Settled, Move::Start, "err 023"),
    (IDLE, Given::Settled, Move::PunishmentJob, "early, again @480"),
    (IDLE, Given::Settled, Move::After(119, &Move::PunishmentJob), "idle#1 verdict 10:0 first"),
    (IDLE, Given::Settled, Move::AddTime, "scoring#2@421 timer scoring@421"),
    (IDLE, Given::Settled, Move::Close, "closed#1 verdict 10:0 first"),
    (CLOSE, Given::Settled, Move::After(119, &Move::PunishmentJob), "closed#1 verdict 10:0 first"),
    (CLOSE, Given::Settled, Move::Count, "err 024"),
    // ---- settled as a draw: no punishment ---------------------------------------------------
    (IDLE, Given::Draw, Move::Count, "err 024"),
    (IDLE, Given::Draw, Move::Start, "scoring#2@721 timer scoring@721"),
    (IDLE, Given::Draw, Move::AddTime, "scoring#2@421 timer scoring@421"),
    (CLOSE, Given::Draw, Move::Start, "err 026"),
    (CLOSE, Given::Draw, Move::Count, "err 026"),
    (CLOSE, Given::Draw, Move::AddTime, "err 026"),
    (CLOSE, Given::Draw, Move::Close, "closed#1 verdict 0:0 draw"),
    // ---- closed -----------------------------------------------------------------------------
    (IDLE, Given::Closed, Move::Start, "err 026"),
    (IDLE, Given::Closed, Move::Count, "err 026"),
    (IDLE, Given::Closed, Move::AddTime, "err 026"),
    (IDLE, Given::Closed, Move::ScoringJob, "stale"),
    (IDLE, Given::Closed, Move::Close, "closed#1 verdict 0:0 draw"),
];

#[test]
fn every_state_and_move_behaves_as_the_table_says() {
    let mut failures = Vec::new();
    for (index, &(after, state, command, expected)) in ROWS.iter().enumerate() {
        let mut world = World::given(after, state);
        let before = world.round;
        let actual = match world.run(command) {
            Ok(line) => line,
            Err(error) => {
                assert_eq!(world.round, before, "row {index}: an error must change nothing");
                format!("err {:03}", error.business_code() % 1000)
            }
        };
        if actual != expected {
            failures.push(format!(
                "row {index} {after:?} {state:?} {command:?}\n  expected: {expected}\n  actual:   {actual}"
            ));
        }
    }
    assert!(failures.is_empty(), "{} rows differ:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn a_second_settle_answers_the_first_verdict() {
    let mut world = World::given(IDLE, Given::Overdue);
    world.scores = Scores::new(3, 5);
    let first = world.round.count(BATTLE, world.scores, &world.rules, world.now).unwrap();
    assert_eq!(first.verdict.winner, Some(Side::Second));
    assert_eq!(first.round.winner(), Some(Side::Second));
    world.scores = Scores::new(100, 5);
    let again = first.round.count(BATTLE, world.scores, &world.rules, world.now).unwrap_err();
    assert_eq!(again, RoundError::AlreadySettled(first.verdict));
}

#[test]
fn a_rematch_needs_a_fresh_pkid() {
    let world = World::given(IDLE, Given::Draw);
    assert!(world.round.next_start_needs_fresh_pkid());
    assert_eq!(
        world.round.start(BATTLE, None, SCORING_MS, world.now).unwrap_err(),
        RoundError::FreshPkidMissing
    );
    assert_eq!(
        RoundError::FreshPkidMissing.business_code(),
        livepk_core::codes::INTERNAL_PKID_FAILED
    );
}

#[test]
fn no_punishment_when_the_rules_have_none() {
    let mut world = World::given(CLOSE, Given::Overdue);
    world.rules.punish_ms = 0;
    world.scores = Scores::new(1, 0);
    let settlement = world.round.count(BATTLE, world.scores, &world.rules, world.now).unwrap();
    assert!(settlement.punishment.is_none());
    assert!(settlement.round.is_closed());
}
