//! The connections snapshot: everything `resolve` and the read endpoints need, read
//! without locks (an `ArcSwap` in [`crate::Connections`]) and updated per write rather
//! than rebuilt from every table.
//!
//! A write names the rows it touched ([`Touched`]); [`Snapshot::apply`] reads back
//! exactly those rows in one read transaction and makes a new snapshot that shares
//! everything else with the old one. Connections live in [`SHARDS`] shards of
//! `Arc<BTreeMap<link, Arc<Entry>>>`, so a connection write copies one shard (about
//! n/256 `Arc`s) and the shard table (256 `Arc`s), not the whole map. Services,
//! service secrets and the per-service counts are small maps copied on write; grants
//! copy the function table and the one function's map. See docs/architecture.md.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use std::sync::Arc;

use switchboard_model::records::{ConnectionRecord, GrantRecord, ServiceRecord};
use switchboard_outbound::Policy;
use switchboard_store::{Reader, StoreError};

use crate::{catalog, filled_origins};

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

/// The rows a write touched, by key; [`Snapshot::apply`] reads them back.
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

/// A service as the snapshot knows it: the stored custom one, or else the catalogue's
/// with its configured client. A custom service stored under a link name the catalogue
/// took later keeps it (its connections keep working).
fn service(r: &Reader, link: &str) -> Result<Option<ServiceRecord>, StoreError> {
    if let Some(s) = r.service(link)? {
        return Ok(Some(s));
    }
    match catalog::get(link) {
        Some(e) => Ok(Some(catalog::record(
            e,
            r.service_client(&e.id())?.as_ref(),
        ))),
        None => Ok(None),
    }
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
    /// Every table, through one read transaction (start-up, and a full refresh).
    pub(crate) fn load(r: &Reader) -> Result<Self, StoreError> {
        let clients = r.service_clients()?;
        let mut services: BTreeMap<String, Arc<ServiceRecord>> = catalog::entries()
            .iter()
            .map(|e| {
                let s = catalog::record(e, clients.get(&e.id()));
                (s.link_name.clone(), Arc::new(s))
            })
            .collect();
        services.extend(
            r.services()?
                .into_iter()
                .map(|s| (s.link_name.clone(), Arc::new(s))),
        );
        let mut secrets = r.secrets()?;
        let mut connections = ConnectionMap::default();
        let mut counts: HashMap<String, usize> = HashMap::new();
        for record in r.connections()? {
            *counts.entry(record.service_id.clone()).or_default() += 1;
            let sealed = secrets.remove(&record.id);
            let link = record.link_name.clone();
            connections.insert(link, Arc::new(Entry::new(&services, record, sealed)));
        }
        let mut grants: HashMap<String, BTreeMap<String, GrantRecord>> = HashMap::new();
        for (function, link, g) in r.grants()? {
            grants.entry(function).or_default().insert(link, g);
        }
        let service_secrets = services
            .values()
            .filter_map(|s| secrets.remove(&s.id).map(|b| (s.id.clone(), b)))
            .collect();
        Ok(Self {
            services: Arc::new(services),
            connections,
            grants: Arc::new(grants.into_iter().map(|(f, g)| (f, Arc::new(g))).collect()),
            service_secrets: Arc::new(service_secrets),
            counts: Arc::new(counts),
        })
    }

    /// A new snapshot: this one with the rows in `touched` read again through `r`.
    /// Costs O(log n) per touched row plus one shard copy per touched connection; a
    /// touched service also visits every connection (service writes only).
    pub(crate) fn apply(&self, r: &Reader, touched: Touched) -> Result<Self, StoreError> {
        let mut next = self.clone();
        let mut links: BTreeSet<String> = touched.connections.into_iter().collect();
        if !touched.services.is_empty() {
            let services = Arc::make_mut(&mut next.services);
            let secrets = Arc::make_mut(&mut next.service_secrets);
            for link in &touched.services {
                if let Some(old) = services.remove(link) {
                    secrets.remove(&old.id);
                }
                if let Some(s) = service(r, link)? {
                    if let Some(blob) = r.secret(&s.id)? {
                        secrets.insert(s.id.clone(), blob);
                    }
                    services.insert(link.clone(), Arc::new(s));
                }
                links.extend(
                    self.connections
                        .values()
                        .filter(|e| e.record.service == *link)
                        .map(|e| e.record.link_name.clone()),
                );
            }
        }
        for link in links {
            let old = next.connections.remove(&link);
            let new = r.connection(&link)?;
            match (&old, &new) {
                (Some(o), Some(n)) if o.record.service_id == n.service_id => {}
                _ => {
                    if let Some(o) = &old {
                        add_count(&mut next.counts, &o.record.service_id, false);
                    }
                    if let Some(n) = &new {
                        add_count(&mut next.counts, &n.service_id, true);
                    }
                }
            }
            match new {
                Some(record) => {
                    let sealed = r.secret(&record.id)?;
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
        for (function, link) in touched.grants {
            let grant = r.grant(&function, &link)?;
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
        for function in touched.functions {
            let of = r.grants_of(&function)?;
            let grants = Arc::make_mut(&mut next.grants);
            if of.is_empty() {
                grants.remove(&function);
            } else {
                grants.insert(function, Arc::new(of.into_iter().collect()));
            }
        }
        Ok(next)
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
