//! What the store keeps for default services (the catalogue itself is compiled in):
//! the operator's OAuth client id per default service, and connections of default
//! services (which have no row in the `services` table).

use std::collections::HashMap;

use redb::{ReadableDatabase, ReadableTable};

use super::connections::revoke_connections_of;
use super::tables::{CONNECTIONS, SECRETS, SERVICE_CLIENTS, SERVICES};
use super::{Store, StoreError, decode, encode};
use switchboard_model::records::{ConnectionRecord, ServiceClientRecord};

impl Store {
    /// Every configured default-service client, by service id.
    ///
    /// # Errors
    /// Database failures or an unreadable record.
    pub fn service_clients(&self) -> Result<HashMap<String, ServiceClientRecord>, StoreError> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(SERVICE_CLIENTS)?;
        table
            .iter()?
            .map(|e| {
                let (k, v) = e?;
                Ok((k.value().to_owned(), decode(v.value())?))
            })
            .collect()
    }

    /// Sets the client of the default service `service_id` and its sealed secret, in one
    /// transaction; with `revoke`, revokes the service's connections (their tokens
    /// belong to the old client). Returns the revoked connections' link names.
    ///
    /// # Errors
    /// Database failures.
    pub fn set_service_client(
        &self,
        service_id: &str,
        client: &ServiceClientRecord,
        sealed_secret: &[u8],
        revoke: Option<&str>,
    ) -> Result<Vec<String>, StoreError> {
        let tx = self.db.begin_write()?;
        let revoked = {
            tx.open_table(SERVICE_CLIENTS)?
                .insert(service_id, encode(client).as_slice())?;
            tx.open_table(SECRETS)?.insert(service_id, sealed_secret)?;
            match revoke {
                Some(reason) => {
                    revoke_connections_of(&tx, service_id, reason, client.updated_at_ms)?
                }
                None => Vec::new(),
            }
        };
        tx.commit()?;
        Ok(revoked)
    }

    /// Adds a connection of a default service. Fails like
    /// [`Store::create_connection`] when the link name is taken, and when a custom
    /// service (stored before the catalogue had this link name) shadows the default one.
    ///
    /// # Errors
    /// [`StoreError::Conflict`], [`StoreError::Missing`].
    pub fn create_catalog_connection(
        &self,
        connection: &ConnectionRecord,
    ) -> Result<(), StoreError> {
        let tx = self.db.begin_write()?;
        {
            if tx
                .open_table(SERVICES)?
                .get(connection.service.as_str())?
                .is_some()
            {
                return Err(StoreError::Missing(format!(
                    "service `{}` is a custom service now",
                    connection.service
                )));
            }
            let mut table = tx.open_table(CONNECTIONS)?;
            if table.get(connection.link_name.as_str())?.is_some() {
                return Err(StoreError::Conflict(format!(
                    "a connection with link name `{}` already exists",
                    connection.link_name
                )));
            }
            table.insert(connection.link_name.as_str(), encode(connection).as_slice())?;
        }
        tx.commit()?;
        Ok(())
    }
}
