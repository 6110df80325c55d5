//! The connections snapshot: everything `resolve` and the read endpoints need, read
//! without locks (an `ArcSwap` in [`crate::Connections`]) and updated per write rather
//! than rebuilt from every table.
//!
//! A write names the rows it touched ([`Touched`]); [`Snapshot::keys`] turns them into
//! the store's row keys, the store reads back exactly those rows in one read
//! transaction ([`SnapshotRepo::read_touched`]), and [`Snapshot::apply`] makes a new
//! snapshot that shares everything else with the old one. Connections live in [`SHARDS`] shards of
//! `Arc<BTreeMap<link, Arc<Entry>>>`, so a connection write copies one shard (about
//! n/256 `Arc`s) and the shard table (256 `Arc`s), not the whole map. Services,
//! service secrets and the per-service counts are small maps copied on write; grants
//! copy the function table and the one function's map. See docs/architecture.md.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use std::sync::Arc;

use switchboard_model::records::{ConnectionRecord, GrantRecord, HOST_SCOPE, ServiceRecord};
use switchboard_outbound::Policy;
#[cfg(doc)]
use switchboard_store::SnapshotRepo;
use switchboard_store::{RowKeys, SnapshotRows, TouchedRows};

use crate::catalog;
use crate::views::filled_origins;

/// How many shards the connections are spread over.
pub(crate) const SHARDS: usize = 256;

/// A connection in the snapshot.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) record: ConnectionRecord,
    /// `None` when the service was deleted (or replaced under the same link name).
    pub(crate) service: Option<Arc<ServiceRecord>>,
    /// The filled API origins; `None` when they cannot be computed.
    pub(crate) policy: Option<Arc<Policy>>,
    pub(crate) params: Arc<BTreeMap<String, String>>,
    pub(crate) sealed: Option<Vec<u8>>,
}

impl Entry {
    fn new(
        services: &BTreeMap<String, Arc<ServiceRecord>>,
        record: ConnectionRecord,
        sealed: Option<Vec<u8>>,
    ) -> Self {
        let service = services
            .get(&record.service)
            .filter(|s| s.id == record.service_id)
            .cloned();
        let policy = service.as_deref().and_then(|s| {
            let origins = filled_origins(s, &record.params)?;
            Policy::for_connection(&record.link_name, &origins)
                .ok()
                .map(Arc::new)
        });
        Self {
            sealed,
            params: Arc::new(record.params.clone()),
            service,
            policy,
            record,
        }
    }
}

/// Keyed by `Arc<str>`, not `String`: copying a shard on write then bumps reference
/// counts instead of allocating a copy of every link name in it (at 100,000 connections
/// the copy, about 390 names, was the part of a write that grew with n).
type Shard = Arc<BTreeMap<Arc<str>, Arc<Entry>>>;

/// The connections by link name, sharded by a hash of the link name so that a write
/// copies one shard.
#[derive(Debug, Clone)]
pub(crate) struct ConnectionMap(Arc<Vec<Shard>>);

impl Default for ConnectionMap {
    fn default() -> Self {
        Self(Arc::new(vec![Shard::default(); SHARDS]))
    }
}

fn shard_of(link: &str) -> usize {
    // A fixed-key hasher: the shard only spreads the load, it is not a security boundary.
    let h = BuildHasherDefault::<DefaultHasher>::default().hash_one(link);
    usize::try_from(h % SHARDS as u64).expect("a shard index fits usize")
}

impl ConnectionMap {
    pub(crate) fn get(&self, link: &str) -> Option<&Arc<Entry>> {
        self.0[shard_of(link)].get(link)
    }

    /// Every connection, in no particular order.
    pub(crate) fn values(&self) -> impl Iterator<Item = &Arc<Entry>> {
        self.0.iter().flat_map(|s| s.values())
    }

    /// Every connection by link name.
    pub(crate) fn sorted(&self) -> Vec<&Arc<Entry>> {
        let mut all: Vec<&Arc<Entry>> = self.values().collect();
        all.sort_by(|a, b| a.record.link_name.cmp(&b.record.link_name));
        all
    }

    fn shard_mut(&mut self, link: &str) -> &mut BTreeMap<Arc<str>, Arc<Entry>> {
        Arc::make_mut(&mut Arc::make_mut(&mut self.0)[shard_of(link)])
    }

    fn insert(&mut self, link: String, entry: Arc<Entry>) {
        self.shard_mut(&link).insert(link.into(), entry);
    }

    fn remove(&mut self, link: &str) -> Option<Arc<Entry>> {
        self.get(link)?;
        self.shard_mut(link).remove(link)
    }
}

/// Everything `resolve` needs.
#[derive(Debug, Clone, Default)]
pub(crate) struct Snapshot {
    pub(crate) services: Arc<BTreeMap<String, Arc<ServiceRecord>>>,
    pub(crate) connections: ConnectionMap,
    /// function → connection → grant.
    pub(crate) grants: Arc<HashMap<String, Arc<BTreeMap<String, GrantRecord>>>>,
    /// service id → its sealed client secret.
    pub(crate) service_secrets: Arc<HashMap<String, Vec<u8>>>,
    /// service id → how many connections name it.
    pub(crate) counts: Arc<HashMap<String, usize>>,
}

/// The rows a write touched, by key; [`Snapshot::keys`] makes them the rows to read back.
#[derive(Debug, Default)]
pub(crate) struct Touched {
    /// Services by link name: each also refreshes every connection of that link name
    /// (their entries hold the service).
    pub(crate) services: Vec<String>,
    /// Connections by link name; one that is gone takes its grants with it.
    pub(crate) connections: Vec<String>,
    /// Grants as (function, connection).
    pub(crate) grants: Vec<(String, String)>,
    /// Functions whose grants are all read again (a function's deletion).
    pub(crate) functions: Vec<String>,
}

impl Touched {
    pub(crate) fn service(link: &str) -> Self {
        Self {
            services: vec![link.to_owned()],
            ..Self::default()
        }
    }

    pub(crate) fn connection(link: &str) -> Self {
        Self {
            connections: vec![link.to_owned()],
            ..Self::default()
        }
    }

    pub(crate) fn grant(function: &str, link: &str) -> Self {
        Self {
            grants: vec![(function.to_owned(), link.to_owned())],
            ..Self::default()
        }
    }

    pub(crate) fn function(name: &str) -> Self {
        Self {
            functions: vec![name.to_owned()],
            ..Self::default()
        }
    }
}

/// A service as the snapshot knows it, with its sealed client secret: the stored
/// custom one, or else the catalogue's with its configured client. A custom service
/// stored under a link name the catalogue took later keeps it (its connections keep
/// working).
fn service(rows: &mut TouchedRows, link: &str) -> Option<(ServiceRecord, Option<Vec<u8>>)> {
    if let Some(Some(s)) = rows.services.remove(link) {
        return Some(s);
    }
    let e = catalog::get(link)?;
    let (client, secret) = rows.service_clients.remove(&e.id()).unwrap_or((None, None));
    Some((catalog::record(e, client.as_ref()), secret))
}

fn add_count(counts: &mut Arc<HashMap<String, usize>>, service_id: &str, up: bool) {
    let counts = Arc::make_mut(counts);
    if up {
        *counts.entry(service_id.to_owned()).or_default() += 1;
    } else if let Some(n) = counts.get_mut(service_id) {
        *n -= 1;
        if *n == 0 {
            counts.remove(service_id);
        }
    }
}

impl Snapshot {
    /// Every table, as read in one read transaction (start-up, and a full refresh).
    pub(crate) fn load(rows: SnapshotRows) -> Self {
        let SnapshotRows {
            services: stored,
            connections: records,
            mut secrets,
            grants: all_grants,
            service_clients: clients,
        } = rows;
        let mut services: BTreeMap<String, Arc<ServiceRecord>> = catalog::entries()
            .iter()
            .map(|e| {
                let s = catalog::record(e, clients.get(&e.id()));
                (s.meta.link_name.clone(), Arc::new(s))
            })
            .collect();
        services.extend(
            stored
                .into_iter()
                .map(|s| (s.meta.link_name.clone(), Arc::new(s))),
        );
        let mut connections = ConnectionMap::default();
        let mut counts: HashMap<String, usize> = HashMap::new();
        for record in records {
            *counts.entry(record.service_id.clone()).or_default() += 1;
            let sealed = secrets.remove(&record.id);
            let link = record.link_name.clone();
            connections.insert(link, Arc::new(Entry::new(&services, record, sealed)));
        }
        let mut grants: HashMap<String, BTreeMap<String, GrantRecord>> = HashMap::new();
        for (function, link, g) in all_grants {
            grants.entry(function).or_default().insert(link, g);
        }
        let service_secrets = services
            .values()
            .filter_map(|s| secrets.remove(&s.id).map(|b| (s.id.clone(), b)))
            .collect();
        Self {
            services: Arc::new(services),
            connections,
            grants: Arc::new(grants.into_iter().map(|(f, g)| (f, Arc::new(g))).collect()),
            service_secrets: Arc::new(service_secrets),
            counts: Arc::new(counts),
        }
    }

    /// The rows to read back for `touched`: a touched service also names its default
    /// service's client and every connection of its link name (their entries hold the
    /// service; the one O(n) path, taken by service writes only).
    pub(crate) fn keys(&self, touched: Touched) -> RowKeys {
        let mut links: BTreeSet<String> = touched.connections.into_iter().collect();
        let mut service_clients = Vec::new();
        for link in &touched.services {
            if let Some(e) = catalog::get(link) {
                service_clients.push(e.id());
            }
            links.extend(
                self.connections
                    .values()
                    .filter(|e| e.record.service == *link)
                    .map(|e| e.record.link_name.clone()),
            );
        }
        RowKeys {
            scope: HOST_SCOPE.to_owned(),
            services: touched.services,
            service_clients,
            connections: links.into_iter().collect(),
            grants: touched.grants,
            functions: touched.functions,
        }
    }

    /// A new snapshot: this one with the rows of `keys` replaced by `rows` (read back
    /// after a write). Costs O(log n) per touched row plus one shard copy per touched
    /// connection.
    pub(crate) fn apply(&self, keys: RowKeys, mut rows: TouchedRows) -> Self {
        let mut next = self.clone();
        if !keys.services.is_empty() {
            let services = Arc::make_mut(&mut next.services);
            let secrets = Arc::make_mut(&mut next.service_secrets);
            for link in &keys.services {
                if let Some(old) = services.remove(link) {
                    secrets.remove(&old.id);
                }
                if let Some((s, secret)) = service(&mut rows, link) {
                    if let Some(blob) = secret {
                        secrets.insert(s.id.clone(), blob);
                    }
                    services.insert(link.clone(), Arc::new(s));
                }
            }
        }
        for link in keys.connections {
            let old = next.connections.remove(&link);
            let new = rows.connections.remove(&link).flatten();
            match (&old, &new) {
                (Some(o), Some((n, _))) if o.record.service_id == n.service_id => {}
                _ => {
                    if let Some(o) = &old {
                        add_count(&mut next.counts, &o.record.service_id, false);
                    }
                    if let Some((n, _)) = &new {
                        add_count(&mut next.counts, &n.service_id, true);
                    }
                }
            }
            match new {
                Some((record, sealed)) => {
                    let entry = Entry::new(&next.services, record, sealed);
                    next.connections.insert(link, Arc::new(entry));
                }
                // Gone: its grants went with it.
                None if next.grants.values().any(|g| g.contains_key(&link)) => {
                    let grants = Arc::make_mut(&mut next.grants);
                    for g in grants.values_mut() {
                        if g.contains_key(&link) {
                            Arc::make_mut(g).remove(&link);
                        }
                    }
                    grants.retain(|_, g| !g.is_empty());
                }
                None => {}
            }
        }
        for key in keys.grants {
            let grant = rows.grants.remove(&key).flatten();
            let (function, link) = key;
            let grants = Arc::make_mut(&mut next.grants);
            match grant {
                Some(g) => {
                    Arc::make_mut(grants.entry(function).or_default()).insert(link, g);
                }
                None => {
                    if let Some(of) = grants.get_mut(&function) {
                        Arc::make_mut(of).remove(&link);
                        if of.is_empty() {
                            grants.remove(&function);
                        }
                    }
                }
            }
        }
        for function in keys.functions {
            let of = rows.grants_of.remove(&function).unwrap_or_default();
            let grants = Arc::make_mut(&mut next.grants);
            if of.is_empty() {
                grants.remove(&function);
            } else {
                grants.insert(function, Arc::new(of.into_iter().collect()));
            }
        }
        next
    }

    /// Everything the snapshot holds, in a canonical order, for tests comparing a
    /// snapshot updated per change with a full load.
    #[cfg(test)]
    pub(crate) fn canonical(&self) -> String {
        let secrets: BTreeMap<_, _> = self.service_secrets.iter().collect();
        let counts: BTreeMap<_, _> = self.counts.iter().collect();
        let grants: BTreeMap<_, _> = self.grants.iter().map(|(f, g)| (f, &**g)).collect();
        let connections: Vec<String> = self
            .connections
            .sorted()
            .into_iter()
            .map(|e| format!("{e:?}"))
            .collect();
        format!(
            "services: {:?}\nsecrets: {secrets:?}\ncounts: {counts:?}\ngrants: {grants:?}\nconnections: {connections:#?}",
            self.services
        )
    }
}
