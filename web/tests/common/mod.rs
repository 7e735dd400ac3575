//! A dashboard over the seeded sample market (`csx demo sandbox`, seed 7, 20 members) at a fixed
//! time, with an administrator, an editor and a viewer whose passwords are set.

#![allow(dead_code)]

use std::sync::Arc;

use csx_node::home::Home;
use csx_node::service::Service;
use csx_node::store::{SledStore, StoreConfig};
use csx_web::accounts::{Role, hash_password};
use csx_web::{App, NodeLink, Settings};

/// The sample market's seed.
pub const SEED: u64 = 7;
/// 2025-06-01 09:00 UTC.
pub const NOW: u64 = 1_748_768_400_000;
pub const PASSWORD: &str = "correct horse battery staple";

pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub home: Home,
    pub service: Arc<Service>,
    pub app: Arc<App>,
    /// The sample members; the first is this home's.
    pub members: Vec<csx_node::sample::SampleOrg>,
    pub federation: csx_protocol::FederationId,
}

impl Fixture {
    pub fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("home");
        let sandbox = csx_node::sample::sandbox(&root, SEED, 20, NOW).expect("sandbox");
        let home = Home::new(&root);
        let store = SledStore::open(&home.store_dir(), StoreConfig::default()).expect("store");
        // Time moves a millisecond per reading, so records written one after another are ordered.
        let ticks = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let clock: csx_node::service::Clock =
            Arc::new(move || NOW + ticks.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        let service = Arc::new(Service::open(&home, Arc::new(store), clock.clone(), "offline").expect("service"));
        let app = App::new(NodeLink::Offline(service.clone()), home.clone(), Settings::default(), clock).expect("app");
        for (name, role) in [("ada", Role::Admin), ("eddie", Role::Editor), ("vic", Role::Viewer)] {
            let link = app.accounts.add(name, role, NOW).expect("account");
            app.accounts.redeem_link(&link.0, hash_password(PASSWORD).expect("hash"), NOW).expect("password");
        }
        Fixture { dir, home, service, app, members: sandbox.members, federation: sandbox.federation }
    }

    /// What the node answers `request` (the same call `csx … --json` makes).
    pub fn node(&self, request: csx_node::api::Request) -> serde_json::Value {
        serde_json::to_value(self.service.handle(request).expect("node answers")).expect("json")
    }

    /// Signs `bodies` as sample member `i`'s node (another member writing) and stores them.
    pub fn write_as(&self, i: usize, bodies: Vec<csx_protocol::Body>) -> Vec<csx_protocol::RecordId> {
        csx_node::sample::write_as(
            self.service.store().as_ref(),
            SEED,
            &self.members[i].ods,
            self.federation,
            bodies,
            NOW + 2000,
        )
        .expect("the member's records are stored")
    }

    /// The lines this home's member buys and from whom, as the alert rules see it.
    pub fn providers_used(&self) -> std::collections::BTreeMap<String, std::collections::BTreeSet<String>> {
        let roster = self.service.membership().roster();
        let data =
            csx_node::query::Dataset::load(self.service.store().as_ref(), &roster, csx_node::query::Want::everything())
                .expect("dataset");
        csx_node::alerts::rules::providers_used(&data, &self.service.identity().org_key)
    }

    /// The node's alert log, as the daemon keeps it: opened over this home with the default
    /// rules (no delivery targets).
    pub fn alerts(&self) -> csx_node::alerts::watcher::Alerts {
        let sender =
            csx_node::alerts::deliver::Sender { ods: self.members[0].ods.clone(), name: self.members[0].name.clone() };
        csx_node::alerts::watcher::Alerts::open(&self.home, Default::default(), None, sender).expect("alerts open").0
    }

    pub fn records(&self) -> u64 {
        self.service.status().expect("status").store.records
    }
}

impl Fixture {
    /// Serves the fixture's dashboard on a free loopback port (the same home, so the same
    /// accounts).
    pub async fn serve(&self) -> csx_web::Running {
        let config = csx_node::config::WebConfig { listen: "127.0.0.1:0".into(), ..Default::default() };
        let clock: csx_node::service::Clock = Arc::new(move || NOW + 1000);
        csx_web::start(NodeLink::Offline(self.service.clone()), self.home.clone(), &config, clock)
            .await
            .expect("dashboard starts")
            .expect("dashboard is on")
    }
}
