//! Who may change what. Every mutation asks [`authorize`] before it writes; today the
//! one rule beyond "an API token may do it" is the one Zoho Deluge's Connections documents set: only the creator of a custom
//! service edits or deletes it.

use crate::context::Principal;
use crate::error::Error;

/// A change someone asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Edit a custom service.
    EditService,
    /// Delete a custom service.
    DeleteService,
}

impl Action {
    fn verb(self) -> &'static str {
        match self {
            Action::EditService => "edit",
            Action::DeleteService => "delete",
        }
    }
}

/// Whether `who` may do `action` to `what` (for example "service `crm`"), which
/// `owner` created.
///
/// # Errors
/// [`Error::Forbidden`], naming the owner.
pub fn authorize(who: &Principal, action: Action, what: &str, owner: &str) -> Result<(), Error> {
    match action {
        Action::EditService | Action::DeleteService if who.name() != owner => {
            Err(Error::Forbidden(format!(
                "only `{owner}`, who created {what}, may {} it",
                action.verb()
            )))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_creator_edits_or_deletes() {
        let ada = Principal::User("ada".into());
        assert!(authorize(&ada, Action::EditService, "service `crm`", "ada").is_ok());
        let e = authorize(
            &Principal::Admin,
            Action::DeleteService,
            "service `crm`",
            "ada",
        );
        match e {
            Err(Error::Forbidden(m)) => {
                assert_eq!(m, "only `ada`, who created service `crm`, may delete it");
            }
            other => panic!("{other:?}"),
        }
    }
}
