//! What the engine does for every mode from its [`ModeBinding`] alone: the deadline handlers
//! (phase ends, invitation expiries), coalesced score notifications with the changed gifters,
//! forced closes, and the answers other modes and the record job ask of it.

use std::sync::Arc;

use async_trait::async_trait;
use livepk_battle::{BattleId, BattleState, PhaseDeadline, Transition, Vocabulary};
use livepk_core::{Mode, PkId, RoomSid, UserId};
use livepk_sql::PkRecord;
use livepk_store::Job;

use crate::binding::{BoardRow, EncodeContext, ModeBinding, Snapshot};
use crate::engine::{decode, invitation_topic, phase_topic};
use crate::error::{EngineError, EngineResult};
use crate::events::{NotifyKey, ScoreNotifier};
use crate::ledger::GiftConsumer;
use crate::routing::{GiftRoute, Router};
use crate::timers::TimerHandler;

/// Most changed gifters a score notification lists (the seed's "小人头" are the top 5; a few more
/// lets clients re-sort).
pub const MAX_USERS_PER_NOTIFICATION: usize = 20;
/// Most changed gifters whose totals one score notification reads to choose those it lists.
const MAX_CHANGED_READ: usize = 500;

/// What one mode answers the engine about its battles.
#[async_trait]
pub(crate) trait ModeDriver: Send + Sync {
    /// The current pkid of `battle` while it holds the stage of `room`; `None` when it does not
    /// (closed, vanished, never taken up, another room).
    async fn stage_pkid(&self, battle: BattleId, room: RoomSid) -> EngineResult<Option<PkId>>;
    /// Whether round `pkid` of `battle` was settled and committed (the record job writes only
    /// records of committed settles).
    async fn is_settled(&self, battle: BattleId, pkid: PkId) -> EngineResult<bool>;
    /// Closes `battle` on an operator's order; with `pkid`, only while the battle stored under
    /// that id holds it (see [`ModeBinding::holds_pkid`]).
    async fn force_close(
        &self,
        battle: BattleId,
        pkid: Option<PkId>,
    ) -> EngineResult<Option<PkRecord>>;
}

/// The engine's side of one mode.
pub(crate) struct Driver<M> {
    binding: Arc<M>,
}

/// Everything a mode plugs into the runtime, built by [`ModeParts::new`].
pub struct ModeParts {
    /// The mode.
    pub mode: Mode,
    pub(crate) driver: Arc<dyn ModeDriver>,
    pub(crate) notifier: Arc<dyn ScoreNotifier>,
    pub(crate) timers: Vec<(String, Arc<dyn TimerHandler>)>,
    pub(crate) gifts: Vec<Arc<dyn GiftConsumer>>,
}

impl ModeParts {
    /// The parts of `binding`'s mode: its deadline handlers, score notifications and forced
    /// close come from the binding; `gifts` are the ways it claims gifts (usually one
    /// [`crate::routing::Router`]).
    pub fn new<M: ModeBinding>(binding: Arc<M>, gifts: Vec<Arc<dyn GiftConsumer>>) -> ModeParts {
        let driver = Arc::new(Driver { binding });
        ModeParts {
            mode: M::MODE,
            timers: vec![
                (phase_topic(M::MODE), driver.clone() as Arc<dyn TimerHandler>),
                (invitation_topic(M::MODE), driver.clone()),
            ],
            notifier: driver.clone(),
            driver,
            gifts,
        }
    }

    /// The parts of a mode that claims gifts one way, itself: its binding and one
    /// [`Router`] over it (reading the points ratio from the engine's settings).
    pub fn routed<M: ModeBinding + GiftRoute>(mode: Arc<M>) -> ModeParts {
        let engine = mode.engine();
        let router = Router::new(mode.clone(), engine.settings.clone(), engine.clock.clone());
        ModeParts::new(mode, vec![Arc::new(router)])
    }

    /// The same parts with a delay-queue topic of the mode's own, whose due jobs `handler` runs
    /// (for example the safety net of a durable write the mode makes after its commits, as the
    /// engine's own settled-record job is for records). Jobs are scheduled through
    /// [`crate::Engine::timers`]; the handler must be idempotent like every timer handler.
    ///
    /// Panics unless `topic` is `<mode>.<name>` and not taken: a topic is routed to one handler
    /// across all modes, so a clash is a programming error found at start-up.
    pub fn with_timer(mut self, topic: &str, handler: Arc<dyn TimerHandler>) -> ModeParts {
        let own = topic
            .strip_prefix(self.mode.as_str())
            .is_some_and(|name| name.len() > 1 && name.starts_with('.'));
        assert!(own, "timer topic {topic:?} must be {}.<name>", self.mode.as_str());
        assert!(
            !self.timers.iter().any(|(taken, _)| taken == topic),
            "timer topic {topic:?} is registered twice"
        );
        self.timers.push((topic.to_owned(), handler));
        self
    }
}

#[async_trait]
impl<M: ModeBinding> ModeDriver for Driver<M> {
    async fn stage_pkid(&self, battle: BattleId, room: RoomSid) -> EngineResult<Option<PkId>> {
        let binding = &*self.binding;
        let Some((battle, _)) = binding.engine().read_battle(binding, battle).await? else {
            return Ok(None);
        };
        if !battle.stage().contains(&room) || !binding.holds_stage(&battle).await? {
            return Ok(None);
        }
        Ok(Some(battle.round().pkid))
    }

    async fn is_settled(&self, battle: BattleId, pkid: PkId) -> EngineResult<bool> {
        let binding = &*self.binding;
        Ok(binding.engine().read_battle(binding, battle).await?.is_some_and(|(battle, _)| {
            battle.round().last_result.is_some_and(|verdict| verdict.pkid == pkid)
                // A later battle stands in the earlier one's place: that one was over, its
                // settles committed (the promise of `holds_pkid`).
                || !binding.holds_pkid(&battle, pkid)
        }))
    }

    async fn force_close(
        &self,
        battle: BattleId,
        pkid: Option<PkId>,
    ) -> EngineResult<Option<PkRecord>> {
        let binding = &*self.binding;
        let engine = binding.engine();
        let settled = engine
            .run(
                binding,
                || async move {
                    let mut snapshot = Snapshot::new();
                    engine.load_battle(binding, &mut snapshot, Some(battle)).await?;
                    if let Some(read) = snapshot.battle() {
                        let parties = binding.battle_parties(read);
                        engine.load_aggregates(binding, &mut snapshot, &parties).await?;
                    }
                    Ok((snapshot, ()))
                },
                |snapshot, _, now_ms| {
                    let earlier = pkid
                        .zip(snapshot.battle())
                        .is_some_and(|(pkid, read)| !binding.holds_pkid(read, pkid));
                    if earlier {
                        // The pkid names a battle that is over and replaced: nothing to close.
                        return Ok(Transition::unchanged(None));
                    }
                    Ok(binding
                        .admin_close(snapshot, now_ms)
                        .map_reply(|_, effects| effects.settled))
                },
            )
            .await?;
        let Some(settled) = settled else { return Ok(None) };
        let closed = engine.read_battle(binding, battle).await?;
        Ok(closed.map(|(closed, _)| binding.record(&settled, &closed, engine.now_ms())))
    }
}

#[async_trait]
impl<M: ModeBinding> TimerHandler for Driver<M> {
    async fn fire(&self, job: &Job) -> Result<(), EngineError> {
        let binding = &*self.binding;
        let engine = binding.engine();
        let config = binding.config().await?;
        let config = &config;
        if job.topic == phase_topic(M::MODE) {
            let deadline: PhaseDeadline = decode("phase deadline", &job.body)?;
            engine
                .run(
                    binding,
                    || async move {
                        let mut snapshot = Snapshot::new();
                        engine.load_battle(binding, &mut snapshot, Some(deadline.battle)).await?;
                        Ok((snapshot, ()))
                    },
                    |snapshot, _, now_ms| {
                        Ok(binding.on_phase_deadline(
                            snapshot.battle(),
                            &deadline,
                            snapshot.scores(),
                            config,
                            now_ms,
                        ))
                    },
                )
                .await
        } else {
            let invitation: <M::Domain as Vocabulary>::InvitationKey =
                decode("invitation", &job.body)?;
            let invitation = &invitation;
            engine
                .run(
                    binding,
                    || async move {
                        let mut snapshot = Snapshot::new();
                        let parties = binding.invitation_parties(invitation);
                        engine.load_aggregates(binding, &mut snapshot, &parties).await?;
                        Ok((snapshot, ()))
                    },
                    |snapshot, _, now_ms| {
                        Ok(binding.on_invitation_expired(snapshot, invitation, config, now_ms))
                    },
                )
                .await
        }
    }
}

#[async_trait]
impl<M: ModeBinding> ScoreNotifier for Driver<M> {
    async fn score_events(&self, key: &NotifyKey, users: &[u64]) -> EngineResult<Vec<Vec<u8>>> {
        let binding = &*self.binding;
        let engine = binding.engine();
        let Some((battle, _)) = engine.read_battle(binding, key.battle).await? else {
            return Ok(Vec::new());
        };
        if battle.round().is_closed() {
            return Ok(Vec::new());
        }
        let scores = engine.read_scores(binding, &battle).await?;
        // The changed gifters with the highest totals (one read for all of them; beyond
        // MAX_CHANGED_READ, the latest to start giving).
        let changed = &users[users.len().saturating_sub(MAX_CHANGED_READ)..];
        let board = &binding.score_keys(&battle).senders[key.side];
        let tag = binding.battle_tag(key.battle);
        let totals = engine.store.board_totals(&tag, board, changed).await?;
        let mut rows: Vec<BoardRow> = changed
            .iter()
            .zip(totals)
            .filter(|(user, _)| **user != 0)
            .filter_map(|(&user, total)| {
                total.map(|total| BoardRow {
                    user_id: UserId::from_trusted(user),
                    total: total.max(0) as u64,
                })
            })
            .collect();
        // Stable: among equal totals the one who gave first stays first.
        rows.sort_by_key(|row| std::cmp::Reverse(row.total));
        rows.truncate(MAX_USERS_PER_NOTIFICATION);
        let notifications = binding.score_progress(&battle, scores, key.side, &rows);
        if notifications.is_empty() {
            return Ok(Vec::new());
        }
        let context =
            EncodeContext { battle: Some(&battle), board: Some(key.side), now_ms: engine.now_ms() };
        binding.encode(&notifications, context).await
    }
}
