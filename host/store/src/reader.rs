//! The connections snapshot's two reads, each one read transaction: everything (at
//! start-up), and after each write exactly the rows it touched (point look-ups through
//! the link indexes, O(log n) each).

use std::collections::HashMap;

use redb::{ReadableDatabase, ReadableTable};

use super::connections::{all, id_of, one};
use super::repo::{RowKeys, SnapshotRows, TouchedRows};
use super::tables::{
    CONNECTION_LINKS, CONNECTIONS, GRANTS, SECRETS, SERVICE_CLIENTS, SERVICE_LINKS, SERVICES,
};
use super::{Db, StoreError, decode};
use switchboard_model::records::{ConnectionRecord, GrantRecord, ServiceRecord};

impl Db {
    pub(super) fn load_snapshot(&self) -> Result<SnapshotRows, StoreError> {
        let tx = self.db.begin_read()?;
        let services = all(&tx.open_table(SERVICES)?)?;
        let connections: Vec<ConnectionRecord> = all(&tx.open_table(CONNECTIONS)?)?;
        let secrets = tx
            .open_table(SECRETS)?
            .iter()?
            .map(|e| {
                let (k, v) = e?;
                Ok((k.value().to_owned(), v.value().to_vec()))
            })
            .collect::<Result<HashMap<_, _>, StoreError>>()?;
        let link_of: HashMap<&str, &str> = connections
            .iter()
            .map(|c| (c.id.as_str(), c.link_name.as_str()))
            .collect();
        let mut grants = Vec::new();
        for e in tx.open_table(GRANTS)?.iter()? {
            let (k, v) = e?;
            let (f, id) = k.value();
            if let Some(link) = link_of.get(id) {
                grants.push((f.to_owned(), (*link).to_owned(), decode(v.value())?));
            }
        }
        let service_clients = tx
            .open_table(SERVICE_CLIENTS)?
            .iter()?
            .map(|e| {
                let (k, v) = e?;
                Ok((k.value().to_owned(), decode(v.value())?))
            })
            .collect::<Result<HashMap<_, _>, StoreError>>()?;
        Ok(SnapshotRows {
            services,
            connections,
            secrets,
            grants,
            service_clients,
        })
    }

    pub(super) fn read_touched(&self, keys: RowKeys) -> Result<TouchedRows, StoreError> {
        let tx = self.db.begin_read()?;
        let services = tx.open_table(SERVICES)?;
        let service_links = tx.open_table(SERVICE_LINKS)?;
        let connections = tx.open_table(CONNECTIONS)?;
        let connection_links = tx.open_table(CONNECTION_LINKS)?;
        let secrets = tx.open_table(SECRETS)?;
        let grants = tx.open_table(GRANTS)?;
        let clients = tx.open_table(SERVICE_CLIENTS)?;
        let secret = |id: &str| -> Result<Option<Vec<u8>>, StoreError> {
            Ok(secrets.get(id)?.map(|v| v.value().to_vec()))
        };
        let scope = keys.scope.as_str();
        let mut out = TouchedRows::default();
        for link in keys.services {
            let row = match id_of(&service_links, scope, &link)? {
                Some(id) => match one::<ServiceRecord>(&services, &id)? {
                    Some(s) => Some((s, secret(&id)?)),
                    None => None,
                },
                None => None,
            };
            out.services.insert(link, row);
        }
        for id in keys.service_clients {
            let row = (one(&clients, &id)?, secret(&id)?);
            out.service_clients.insert(id, row);
        }
        let connection_id = |link: &str| id_of(&connection_links, scope, link);
        for link in keys.connections {
            let row = match connection_id(&link)? {
                Some(id) => match one::<ConnectionRecord>(&connections, &id)? {
                    Some(c) => Some((c, secret(&id)?)),
                    None => None,
                },
                None => None,
            };
            out.connections.insert(link, row);
        }
        for (function, link) in keys.grants {
            let grant = match connection_id(&link)? {
                Some(id) => match grants.get((function.as_str(), id.as_str()))? {
                    Some(v) => Some(decode::<GrantRecord>(v.value())?),
                    None => None,
                },
                None => None,
            };
            out.grants.insert((function, link), grant);
        }
        for function in keys.functions {
            let mut of = Vec::new();
            for e in grants.range((function.as_str(), "")..)? {
                let (k, v) = e?;
                let (f, id) = k.value();
                if f != function {
                    break;
                }
                if let Some(c) = one::<ConnectionRecord>(&connections, id)? {
                    of.push((c.link_name, decode(v.value())?));
                }
            }
            out.grants_of.insert(function, of);
        }
        Ok(out)
    }
}
