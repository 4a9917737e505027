//! `pk.linkcall.v1.LinkCallPk` adapter (being written).

use std::sync::Arc;

use livepk_core::PkId;

use crate::runtime::{Core, FeaturePlugin};
use crate::status::ServiceError;

/// The LinkCallPk adapter.
pub struct LinkCallAdapter {
    #[allow(dead_code)]
    core: Arc<Core>,
}

impl LinkCallAdapter {
    /// An adapter over the shared machinery.
    pub fn new(core: Arc<Core>) -> Self {
        Self { core }
    }

    /// What LinkCallPk plugs into the machinery.
    pub fn plugin(self: &Arc<Self>) -> FeaturePlugin {
        FeaturePlugin::default()
    }

    /// Closes the battle `pkid` on an operator's order.
    pub async fn force_close(
        &self,
        _pkid: PkId,
        _reason: &str,
    ) -> Result<Option<livepk_sql::PkRecord>, ServiceError> {
        Ok(None)
    }
}
