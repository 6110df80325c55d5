//! What the store keeps for default services (the catalogue itself is compiled in):
//! the operator's OAuth client id per default service. Connections of default
//! services are ordinary connections with no service row.

use std::collections::HashMap;

use redb::{ReadableDatabase, ReadableTable};

use super::connections::revoke_connections_of;
use super::tables::{SECRETS, SERVICE_CLIENTS};
use super::{Db, StoreError, decode, encode};
use switchboard_model::records::ServiceClientRecord;

impl Db {
    pub(super) fn service_clients(
        &self,
    ) -> Result<HashMap<String, ServiceClientRecord>, StoreError> {
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

    pub(super) fn set_service_client(
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
}
