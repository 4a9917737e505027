//! The InteractiveShow steps a show needs: the catalogue, the expected seed-003 message of each
//! step (checked field for field), the `tb_show` rows read straight from the server's SQL
//! database, and a fresh MariaDB database per test.

use livepk::pb::admin::SetShowGiftRequest;
use livepk::pb::common::{Mode, TargetKind};
use livepk::pb::events::{Event, EventFilter};
use livepk::pb::show::interactive_show_client::InteractiveShowClient;
use livepk::pb::show::{GiftData, GiftType, ShowGift, ShowMessage};
use sqlx::{AssertSqlSafe, Connection};
use tonic::transport::Channel;

use super::{Client, Pred, pred, target_of};

/// The catalogue of every show test: gift 7 (`show`, 100 coins), gift 8 (`show_vip`, 300 coins),
/// gift 9 (`show`, retired).
pub const SHOW_GIFT: u64 = 7;
/// See [`SHOW_GIFT`].
pub const SHOW_VIP_GIFT: u64 = 8;
/// See [`SHOW_GIFT`].
pub const RETIRED_SHOW_GIFT: u64 = 9;

/// An InteractiveShow client.
pub fn show(server: &Client) -> InteractiveShowClient<Channel> {
    InteractiveShowClient::new(server.channel.clone())
}

/// Only InteractiveShow events.
pub fn show_filter() -> EventFilter {
    EventFilter { modes: vec![Mode::Show as i32], ..Default::default() }
}

/// Catalogue gift `gid` as the tests write it.
pub fn show_gift(gid: u64) -> ShowGift {
    let vip = gid == SHOW_VIP_GIFT;
    ShowGift {
        gid,
        gift_type: if vip { GiftType::ShowVip } else { GiftType::Show } as i32,
        name: format!("表演 {gid}"),
        img: format!("https://img.example/show/{gid}.png"),
        effect_url: format!("https://fx.example/show/{gid}.svga"),
        price: if vip { 300 } else { 100 },
        unit_profit: 0,
        enabled: gid != RETIRED_SHOW_GIFT,
    }
}

/// Writes the catalogue through `Admin.SetShowGift`.
pub async fn put_show_catalogue(server: &Client) {
    for gid in [SHOW_GIFT, SHOW_VIP_GIFT, RETIRED_SHOW_GIFT] {
        let request = SetShowGiftRequest { gift: Some(show_gift(gid)) };
        let stored = server.admin().set_show_gift(request).await.expect("SetShowGift").into_inner();
        assert_eq!(stored.gift, Some(show_gift(gid)));
    }
}

/// What one message of a step must be: everything but its `ctime`, which is the server's clock
/// (checked against the event's `time_now` and the window the step ran in).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedShowMessage {
    /// The event type, `show_<message_type>_nt`.
    pub r#type: &'static str,
    /// `chat_type`.
    pub chat_type: u32,
    /// `uid` (the sender).
    pub uid: u64,
    /// `receive_uid`, also the event's target (a user, or an anchor).
    pub receive_uid: u64,
    /// Whether the receiver is the anchor (TARGET_KIND_SINGER) or the user (TARGET_KIND_USER).
    pub to_anchor: bool,
    /// The show (also the event's pkid).
    pub show_id: u64,
    /// The call.
    pub call_id: u64,
    /// The show's gift.
    pub gid: u64,
}

impl ExpectedShowMessage {
    /// The seed's message with `ctime`.
    pub fn message(&self, ctime: u64) -> ShowMessage {
        let gift = show_gift(self.gid);
        ShowMessage {
            uid: self.uid,
            receive_uid: self.receive_uid,
            ctime,
            gid: self.gid,
            show_id: self.show_id,
            chat_type: self.chat_type,
            content_type: 8,
            content: String::new(),
            gift_data: Some(GiftData {
                call_id: self.call_id,
                show_id: self.show_id,
                gid: self.gid,
                name: gift.name,
                img: gift.img,
                num: 1,
                effect_url: gift.effect_url,
                unit_profit: 0,
                price: gift.price,
            }),
        }
    }

    /// The predicate of a step: the envelope (type, mode, target, pkid) and the payload exactly,
    /// its `ctime` the event's `time_now` within `[from_secs, to_secs]`.
    pub fn pred(&self, from_secs: u64, to_secs: u64) -> Pred<'static> {
        let expected = self.clone();
        pred(self.r#type, move |event: &Event| {
            let kind = if expected.to_anchor { TargetKind::Singer } else { TargetKind::User };
            let ctime = event.time_now;
            event.r#type == expected.r#type
                && event.mode == Mode::Show as i32
                && target_of(event) == (kind, expected.receive_uid)
                && event.pkid == expected.show_id
                && (from_secs..=to_secs).contains(&ctime)
                && super::payload::<ShowMessage>(event) == Some(expected.message(ctime))
        })
    }
}

/// A database of its own on the MariaDB server (`LIVEPK_TEST_MYSQL_URL`, default
/// `mysql://root@127.0.0.1:3306`), dropped with [`MysqlDatabase::drop_database`].
pub struct MysqlDatabase {
    /// The server's URL.
    base: String,
    /// The database's name.
    name: String,
    /// The database's URL.
    pub url: String,
}

impl MysqlDatabase {
    /// Creates `livepk_t_<random hex>`. Panics when MariaDB is unreachable: a test that needs it
    /// must fail, not skip.
    pub async fn create() -> MysqlDatabase {
        sqlx::any::install_default_drivers();
        let base = std::env::var("LIVEPK_TEST_MYSQL_URL")
            .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into());
        let name = format!("livepk_t_{:016x}", rand::random::<u64>());
        let mut admin = sqlx::AnyConnection::connect(&base)
            .await
            .unwrap_or_else(|error| panic!("MariaDB unreachable at {base}: {error}"));
        sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .expect("create the test database");
        admin.close().await.ok();
        let url = database_url(&base, &name);
        MysqlDatabase { base, name, url }
    }

    /// Drops the database.
    pub async fn drop_database(self) {
        let mut admin = sqlx::AnyConnection::connect(&self.base).await.expect("MariaDB");
        sqlx::raw_sql(AssertSqlSafe(format!("DROP DATABASE {}", self.name)))
            .execute(&mut admin)
            .await
            .expect("drop the test database");
        admin.close().await.ok();
    }
}

/// `base` (`mysql://user@host:port[/anything][?params]`) pointed at database `name`.
fn database_url(base: &str, name: &str) -> String {
    let (address, query) = match base.split_once('?') {
        Some((address, query)) => (address, format!("?{query}")),
        None => (base, String::new()),
    };
    let authority_start = address.find("://").map_or(0, |index| index + 3);
    let authority_end =
        address[authority_start..].find('/').map_or(address.len(), |index| authority_start + index);
    format!("{}/{name}{query}", &address[..authority_end])
}
