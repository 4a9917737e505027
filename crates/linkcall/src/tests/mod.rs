//! Tests of the state machine. [`World`] is a tiny in-memory adapter: it loads what each
//! function takes, commits transitions the way the real adapter must (states, lists, scores,
//! records, timers, notifications) and renders the outcome as one line, so a table row can say
//! in a few words what a (state, command) pair must do.

mod errors;
mod queries;
mod races;
mod table;
mod timers;

use std::collections::BTreeMap;

use livepk_core::{PkId, RoomSid, SingerId, TargetKind, UserId};

use crate::*;

pub(super) const HOST: u64 = 1;
pub(super) const GUEST: u64 = 2;
pub(super) const OTHER: u64 = 3;
pub(super) const START_MS: u64 = 1_000_000;

pub(super) fn singer(raw: u64) -> SingerId {
    SingerId::from_trusted(raw)
}

pub(super) fn sid_of(raw: u64) -> RoomSid {
    RoomSid::from_trusted(100 + raw)
}

pub(super) fn user(raw: u64) -> UserId {
    UserId::from_trusted(raw)
}

/// The in-memory adapter.
#[derive(Debug, Clone)]
pub(super) struct World {
    pub now: u64,
    pub config: LinkCallConfig,
    pub anchors: BTreeMap<SingerId, Anchor>,
    pub battles: BTreeMap<BattleId, Battle>,
    pub scores: BTreeMap<BattleId, Scores>,
    /// Online list: singer -> availability time.
    pub online: BTreeMap<SingerId, u64>,
    /// Applications: (host, guest) -> time.
    pub applications: BTreeMap<(SingerId, SingerId), u64>,
    pub timers: Vec<TimerRequest>,
    pub settled: Vec<Settled>,
    /// Effects of the last committed transition.
    pub last: Effects,
    next_battle: u64,
    next_pkid: u64,
}

pub(super) type Outcome<T> = Result<T, LinkCallError>;

impl World {
    pub fn new() -> Self {
        Self {
            now: START_MS,
            config: LinkCallConfig::default(),
            anchors: BTreeMap::new(),
            battles: BTreeMap::new(),
            scores: BTreeMap::new(),
            online: BTreeMap::new(),
            applications: BTreeMap::new(),
            timers: Vec::new(),
            settled: Vec::new(),
            last: Effects::default(),
            next_battle: 0,
            next_pkid: 0,
        }
    }

    pub fn advance_secs(&mut self, secs: u64) {
        self.now += secs * 1000;
    }

    fn anchor(&self, raw: u64) -> Option<&Anchor> {
        self.anchors.get(&singer(raw))
    }

    /// The battle `raw` points at, if it exists.
    pub fn battle_of(&self, raw: u64) -> Option<&Battle> {
        self.anchor(raw).and_then(|anchor| anchor.battle).and_then(|id| self.battles.get(&id))
    }

    pub fn latest_battle(&self) -> Option<&Battle> {
        self.battles.values().next_back()
    }

    fn scores_of(&self, battle: Option<&Battle>) -> Scores {
        battle.and_then(|battle| self.scores.get(&battle.battle_id)).copied().unwrap_or_default()
    }

    fn allocate_pkid(&mut self) -> PkId {
        self.next_pkid += 1;
        PkId::from_trusted(self.next_pkid)
    }

    /// Commits a transition as the adapter would.
    pub fn commit<R>(&mut self, transition: Transition<R>) -> R {
        let mut seen = Vec::new();
        for anchor in transition.anchors {
            assert!(!seen.contains(&anchor.singer_id), "anchor {} written twice", anchor.singer_id);
            seen.push(anchor.singer_id);
            self.anchors.insert(anchor.singer_id, anchor);
        }
        let effects = transition.effects;
        if let Some(battle) = transition.battle {
            match effects.scores {
                ScoreAction::Reset => {
                    self.scores.insert(battle.battle_id, Scores::default());
                }
                ScoreAction::Delete => {
                    self.scores.remove(&battle.battle_id);
                }
                ScoreAction::Untouched | ScoreAction::CarryOver => {}
            }
            self.battles.insert(battle.battle_id, battle);
        } else {
            assert_eq!(effects.scores, ScoreAction::Untouched, "score action without a battle");
        }
        for change in &effects.lists {
            match *change {
                ListChange::OnlineUpsert { singer, score_ms } => {
                    self.online.insert(singer, score_ms);
                }
                ListChange::OnlineRemove { singer } => {
                    self.online.remove(&singer);
                }
                ListChange::ApplicantAdd { host, guest, at_ms } => {
                    self.applications.insert((host, guest), at_ms);
                }
                ListChange::ApplicantRemove { host, guest } => {
                    self.applications.remove(&(host, guest));
                }
                ListChange::ClearApplicantsOf { singer } => {
                    self.applications
                        .retain(|(host, guest), _| *host != singer && *guest != singer);
                }
            }
        }
        self.timers.extend(effects.timers.iter().copied());
        self.settled.extend(effects.settled);
        self.last = effects;
        transition.reply
    }

    fn run<R>(&mut self, outcome: Outcome<Transition<R>>) -> Outcome<R> {
        match outcome {
            Ok(transition) => Ok(self.commit(transition)),
            Err(error) => {
                self.last = Effects::default();
                Err(error)
            }
        }
    }

    // -- commands ----------------------------------------------------------------------------

    pub fn open(&mut self, raw: u64) -> Outcome<OpenFunctionReply> {
        let gate = OpenGate { singer_star: 5, singer_whitelisted: true };
        self.open_with(raw, gate)
    }

    pub fn open_with(&mut self, raw: u64, gate: OpenGate) -> Outcome<OpenFunctionReply> {
        let request = OpenFunctionRequest { singer_id: singer(raw), singer_sid: sid_of(raw) };
        let outcome = open_function(self.anchor(raw), request, gate, &self.config, self.now);
        self.run(outcome)
    }

    fn withdrawal_parts(
        &self,
        raw: u64,
    ) -> (Vec<SingerId>, Vec<SingerId>, Option<Anchor>, Option<Anchor>) {
        let me = singer(raw);
        let applicants = self
            .applications
            .keys()
            .filter(|(host, _)| *host == me)
            .map(|(_, guest)| *guest)
            .collect();
        let applied_to = self
            .applications
            .keys()
            .filter(|(_, guest)| *guest == me)
            .map(|(host, _)| *host)
            .collect();
        let anchor = self.anchor(raw);
        let invited = anchor
            .and_then(|anchor| anchor.outgoing_invite)
            .and_then(|invite| self.anchors.get(&invite.guest))
            .cloned();
        let inviting = anchor
            .and_then(|anchor| anchor.popup)
            .and_then(|popup| self.anchors.get(&popup.host))
            .cloned();
        (applicants, applied_to, invited, inviting)
    }

    pub fn close_function(&mut self, raw: u64) -> Outcome<OpenFunctionReply> {
        let (applicants, applied_to, invited, inviting) = self.withdrawal_parts(raw);
        let withdrawal = Withdrawal {
            applicants: &applicants,
            applied_to: &applied_to,
            invited_guest: invited.as_ref(),
            inviting_host: inviting.as_ref(),
        };
        let outcome = close_function(self.anchor(raw), singer(raw), withdrawal, self.now);
        self.run(outcome)
    }

    pub fn activity(&mut self, raw: u64, activity: Activity) {
        let transition = set_singer_activity(self.anchor(raw), singer(raw), activity);
        self.commit(transition);
    }

    pub fn apply(&mut self, guest: u64, host: u64) -> Outcome<StateReply> {
        let request = ApplyRequest { guest_id: singer(guest), host_id: singer(host) };
        let outcome = apply(self.anchor(guest), self.anchor(host), request, self.now);
        self.run(outcome)
    }

    pub fn link(&mut self, host: u64, guest: u64) -> Outcome<LinkReply> {
        let request = LinkRequest { host_id: singer(host), guest_id: singer(guest) };
        let outcome = link(self.anchor(host), self.anchor(guest), request, &self.config, self.now);
        self.run(outcome)
    }

    pub fn agree(&mut self, guest: u64, host: u64) -> Outcome<ConfirmReply> {
        // Ids are allocated only for an agree, as the adapter would.
        self.next_battle += 1;
        let battle_id = BattleId::new(self.next_battle);
        let placeholder_pkid = self.allocate_pkid();
        let decision = ConfirmDecision::Agree { battle_id, placeholder_pkid };
        self.confirm_with(guest, host, decision)
    }

    pub fn refuse(&mut self, guest: u64, host: u64) -> Outcome<ConfirmReply> {
        self.confirm_with(guest, host, ConfirmDecision::Refuse)
    }

    fn confirm_with(
        &mut self,
        guest: u64,
        host: u64,
        decision: ConfirmDecision,
    ) -> Outcome<ConfirmReply> {
        let request = ConfirmRequest { guest_id: singer(guest), host_id: singer(host), decision };
        let outcome = confirm(self.anchor(guest), self.anchor(host), request, self.now);
        self.run(outcome)
    }

    fn pair(host: u64, guest: u64) -> PairRequest {
        PairRequest { host_id: singer(host), guest_id: singer(guest) }
    }

    pub fn start(&mut self, host: u64, guest: u64) -> Outcome<BattleReply> {
        let battle = self.battle_of(host).cloned();
        let fresh = match &battle {
            Some(battle) if battle.next_start_needs_fresh_pkid() => Some(self.allocate_pkid()),
            _ => None,
        };
        let outcome =
            start(battle.as_ref(), Self::pair(host, guest), fresh, &self.config, self.now);
        self.run(outcome)
    }

    pub fn switch(&mut self, raw: u64) -> Outcome<SwitchSceneReply> {
        let battle = self.battle_of(raw).cloned();
        let outcome = switch_scene(battle.as_ref(), singer(raw));
        self.run(outcome)
    }

    pub fn count(&mut self, host: u64, guest: u64) -> Outcome<BattleReply> {
        let battle = self.battle_of(host).cloned();
        let scores = self.scores_of(battle.as_ref());
        let outcome =
            count(battle.as_ref(), Self::pair(host, guest), scores, &self.config, self.now);
        self.run(outcome)
    }

    pub fn add_time(&mut self, host: u64, guest: u64) -> Outcome<BattleReply> {
        let battle = self.battle_of(host).cloned();
        let scores = self.scores_of(battle.as_ref());
        let fresh = self.allocate_pkid();
        let outcome = add_time(
            battle.as_ref(),
            Self::pair(host, guest),
            fresh,
            scores,
            &self.config,
            self.now,
        );
        self.run(outcome)
    }

    pub fn close(&mut self, host: u64, guest: u64) -> Outcome<CloseReply> {
        let (host_anchor, guest_anchor) = (self.anchor(host), self.anchor(guest));
        let battle = battle_of_pair(host_anchor, guest_anchor).and_then(|id| self.battles.get(&id));
        let scores = self.scores_of(battle);
        let outcome =
            close(host_anchor, guest_anchor, battle, Self::pair(host, guest), scores, self.now);
        self.run(outcome)
    }

    pub fn admin_close(&mut self, battle_id: BattleId) -> CloseReply {
        let battle = self.battles.get(&battle_id);
        let (host, guest) = match battle {
            Some(battle) => (
                self.anchors.get(&battle.host.singer_id),
                self.anchors.get(&battle.guest.singer_id),
            ),
            None => (None, None),
        };
        let transition = admin_close(battle, host, guest, self.scores_of(battle), self.now);
        self.commit(transition)
    }

    pub fn leave(&mut self, raw: u64) {
        let (applicants, applied_to, invited, inviting) = self.withdrawal_parts(raw);
        let battle = self.battle_of(raw).cloned();
        let partner = battle
            .as_ref()
            .and_then(|battle| battle.partner_of(singer(raw)))
            .and_then(|partner| self.anchors.get(&partner))
            .cloned();
        let context = LeaveContext {
            battle: battle.as_ref(),
            partner: partner.as_ref(),
            withdrawal: Withdrawal {
                applicants: &applicants,
                applied_to: &applied_to,
                invited_guest: invited.as_ref(),
                inviting_host: inviting.as_ref(),
            },
            scores: self.scores_of(battle.as_ref()),
        };
        let transition = singer_leave(self.anchor(raw), singer(raw), context, self.now);
        self.commit(transition);
    }

    pub fn come_in(&mut self, raw: u64) -> SingerComeInRoomReply {
        let battle = self.battle_of(raw).cloned();
        let request = SingerComeInRoomRequest { singer_id: singer(raw), singer_sid: sid_of(raw) };
        let transition = singer_come_in_room(
            self.anchor(raw),
            battle.as_ref(),
            request,
            self.scores_of(battle.as_ref()),
            self.now,
        );
        self.commit(transition)
    }

    /// A gift worth `points` to `receiver`, counted the way the gift script does: only inside
    /// the scoring window, judged by the gift's time.
    pub fn gift(&mut self, receiver: u64, points: u64) -> bool {
        let Some(battle) = self.battle_of(receiver).cloned() else {
            return false;
        };
        let Some((from, until, _)) = battle.scoring_window() else {
            return false;
        };
        if !(from <= self.now && self.now < until) {
            return false;
        }
        let scores = self.scores.entry(battle.battle_id).or_default();
        match battle.side_of(singer(receiver)) {
            Some(Side::Host) => scores.host += points,
            Some(Side::Guest) => scores.guest += points,
            None => return false,
        }
        true
    }

    /// Runs every job due now, as the delay queue would (in due order), including jobs the
    /// handlers re-request. Returns what each job did.
    pub fn fire_due_timers(&mut self) -> Vec<TimerOutcome> {
        let mut outcomes = Vec::new();
        let mut fired_effects = Effects::default();
        loop {
            self.timers.sort_by_key(|timer| match *timer {
                TimerRequest::PopupExpiry { due_ms, .. }
                | TimerRequest::PhaseDeadline { due_ms, .. } => due_ms,
            });
            let Some(index) = self.timers.iter().position(|timer| match *timer {
                TimerRequest::PopupExpiry { due_ms, .. }
                | TimerRequest::PhaseDeadline { due_ms, .. } => due_ms <= self.now,
            }) else {
                break;
            };
            let job = self.timers.remove(index);
            let outcome = self.fire(job);
            fired_effects.notifications.append(&mut self.last.notifications);
            fired_effects.settled = fired_effects.settled.or(self.last.settled);
            outcomes.push(outcome);
        }
        self.last = fired_effects;
        outcomes
    }

    /// Delivers one job now, whatever its due time (a re-delivery or an early delivery).
    pub fn fire(&mut self, job: TimerRequest) -> TimerOutcome {
        match job {
            TimerRequest::PopupExpiry { guest, host, .. } => {
                let transition = on_popup_expired(
                    self.anchors.get(&guest),
                    self.anchors.get(&host),
                    guest,
                    host,
                    self.now,
                );
                self.commit(transition)
            }
            TimerRequest::PhaseDeadline { battle, pkid, phase, .. } => {
                let battle = self.battles.get(&battle);
                let transition = on_phase_deadline(
                    battle,
                    pkid,
                    phase,
                    self.scores_of(battle),
                    &self.config,
                    self.now,
                );
                self.commit(transition)
            }
        }
    }

    // -- rendering ---------------------------------------------------------------------------

    pub fn anchor_state(&self, raw: u64) -> &'static str {
        self.anchor(raw)
            .map_or("-", |anchor| anchor.listed_state(self.now, PkState::Apply).as_str())
    }

    pub fn battle_summary(&self) -> String {
        match self.latest_battle() {
            None => "none".to_string(),
            Some(battle) => format!("{}#{}", battle.phase.name().as_str(), battle.pkid),
        }
    }

    /// `battle | h:state g:state | nts [| settled(by) h:g]` after the last command.
    pub fn summary(&self) -> String {
        let nts = self.last.notifications.iter().map(render).collect::<Vec<_>>().join(" ");
        let mut line = format!(
            "{} | h:{} g:{} | {}",
            self.battle_summary(),
            self.anchor_state(HOST),
            self.anchor_state(GUEST),
            nts
        );
        if let Some(settled) = self.last.settled {
            line.push_str(&format!(
                " | settled({}) {}:{}",
                settled.ended_by.as_str(),
                settled.host_score,
                settled.guest_score
            ));
        }
        line.trim_end().to_string()
    }
}

/// One notification in a few characters: `state(yes)>s1`, `scene0>r101`, `info>r102`,
/// `singers>r101`, `pklist>s2`.
pub(super) fn render(notification: &Notification) -> String {
    let target = match notification.target.kind {
        TargetKind::Singer => format!("s{}", notification.target.id),
        TargetKind::Room => format!("r{}", notification.target.id),
        TargetKind::User => format!("u{}", notification.target.id),
    };
    let what = match &notification.kind {
        NotificationKind::SingerState { pk_state, .. } => format!("state({})", pk_state.as_str()),
        NotificationKind::RoomPkScene { pk_scene, .. } => format!("scene{}", pk_scene.number()),
        NotificationKind::RoomPkInfo { .. } => "info".to_string(),
        NotificationKind::RoomPkSingerInfo { .. } => "singers".to_string(),
        NotificationKind::SingerPkList { .. } => "pklist".to_string(),
    };
    format!("{what}>{target}")
}

/// The last three digits of a business code (`403400025` -> `025`).
pub(super) fn short_code(error: &LinkCallError) -> String {
    use livepk_core::BusinessError;
    format!("{:03}", error.business_code() % 1000)
}
