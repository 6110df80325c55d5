//! One read transaction over the connection tables: the connections snapshot is
//! loaded through it at start-up (every table, one consistent view) and, after each
//! write, reads back exactly the rows that write touched (point look-ups, O(log n)).

use std::collections::HashMap;

use redb::{ReadOnlyTable, ReadTransaction, ReadableDatabase, ReadableTable};

use super::tables::{CONNECTIONS, GRANTS, SECRETS, SERVICE_CLIENTS, SERVICES};
use super::{Store, StoreError, decode};
use switchboard_model::records::{
    ConnectionRecord, GrantRecord, ServiceClientRecord, ServiceRecord,
};

type Str = ReadOnlyTable<&'static str, &'static [u8]>;

/// The connection tables as of one read transaction.
pub struct Reader {
    services: Str,
    connections: Str,
    secrets: Str,
    grants: ReadOnlyTable<(&'static str, &'static str), &'static [u8]>,
    clients: Str,
    // Keeps the transaction open as long as its tables.
    _tx: ReadTransaction,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Reader")
    }
}

impl Store {
    /// Runs `f` over one read transaction of the connection tables.
    ///
    /// # Errors
    /// Database failures, or what `f` returns.
    pub fn read<T>(
        &self,
        f: impl FnOnce(&Reader) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let tx = self.db.begin_read()?;
        let reader = Reader {
            services: tx.open_table(SERVICES)?,
            connections: tx.open_table(CONNECTIONS)?,
            secrets: tx.open_table(SECRETS)?,
            grants: tx.open_table(GRANTS)?,
            clients: tx.open_table(SERVICE_CLIENTS)?,
            _tx: tx,
        };
        f(&reader)
    }
}

fn all<T: for<'de> serde::Deserialize<'de>>(table: &Str) -> Result<Vec<T>, StoreError> {
    table
        .iter()?
        .map(|e| decode(e?.1.value()))
        .collect::<Result<_, _>>()
}

fn one<T: for<'de> serde::Deserialize<'de>>(
    table: &Str,
    key: &str,
) -> Result<Option<T>, StoreError> {
    match table.get(key)? {
        Some(v) => Ok(Some(decode(v.value())?)),
        None => Ok(None),
    }
}

impl Reader {
    /// Every custom service.
    ///
    /// # Errors
    /// Database failures or an unreadable record.
    pub fn services(&self) -> Result<Vec<ServiceRecord>, StoreError> {
        all(&self.services)
    }

    /// One custom service by link name.
    ///
    /// # Errors
    /// Database failures or an unreadable record.
    pub fn service(&self, link: &str) -> Result<Option<ServiceRecord>, StoreError> {
        one(&self.services, link)
    }

    /// Every connection.
    ///
    /// # Errors
    /// Database failures or an unreadable record.
    pub fn connections(&self) -> Result<Vec<ConnectionRecord>, StoreError> {
        all(&self.connections)
    }

    /// One connection by link name.
    ///
    /// # Errors
    /// Database failures or an unreadable record.
    pub fn connection(&self, link: &str) -> Result<Option<ConnectionRecord>, StoreError> {
        one(&self.connections, link)
    }

    /// Every sealed secret by record id.
    ///
    /// # Errors
    /// Database failures.
    pub fn secrets(&self) -> Result<HashMap<String, Vec<u8>>, StoreError> {
        self.secrets
            .iter()?
            .map(|e| {
                let (k, v) = e?;
                Ok((k.value().to_owned(), v.value().to_vec()))
            })
            .collect()
    }

    /// The sealed secret of a service or connection id.
    ///
    /// # Errors
    /// Database failures.
    pub fn secret(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.secrets.get(id)?.map(|v| v.value().to_vec()))
    }

    /// Every grant as (function, connection, grant).
    ///
    /// # Errors
    /// Database failures or an unreadable record.
    pub fn grants(&self) -> Result<Vec<(String, String, GrantRecord)>, StoreError> {
        self.grants
            .iter()?
            .map(|e| {
                let (k, v) = e?;
                let (f, l) = k.value();
                Ok((f.to_owned(), l.to_owned(), decode(v.value())?))
            })
            .collect()
    }

    /// One grant.
    ///
    /// # Errors
    /// Database failures or an unreadable record.
    pub fn grant(&self, function: &str, link: &str) -> Result<Option<GrantRecord>, StoreError> {
        match self.grants.get((function, link))? {
            Some(v) => Ok(Some(decode(v.value())?)),
            None => Ok(None),
        }
    }

    /// The grants of one function as (connection, grant): a range, not a scan.
    ///
    /// # Errors
    /// Database failures or an unreadable record.
    pub fn grants_of(&self, function: &str) -> Result<Vec<(String, GrantRecord)>, StoreError> {
        self.grants
            .range((function, "")..)?
            .map_while(|e| match e {
                Ok((k, v)) => {
                    let (f, l) = k.value();
                    (f == function).then(|| Ok((l.to_owned(), decode(v.value())?)))
                }
                Err(e) => Some(Err(e.into())),
            })
            .collect()
    }

    /// Every configured default-service client, by service id.
    ///
    /// # Errors
    /// Database failures or an unreadable record.
    pub fn service_clients(&self) -> Result<HashMap<String, ServiceClientRecord>, StoreError> {
        self.clients
            .iter()?
            .map(|e| {
                let (k, v) = e?;
                Ok((k.value().to_owned(), decode(v.value())?))
            })
            .collect()
    }

    /// The configured client of one default service.
    ///
    /// # Errors
    /// Database failures or an unreadable record.
    pub fn service_client(&self, id: &str) -> Result<Option<ServiceClientRecord>, StoreError> {
        one(&self.clients, id)
    }
}
