//! Identifier rules. Functions: a lower-case letter, then lower-case letters, digits,
//! `_` or `-`. Link names of services and connections (the rule of Zoho Deluge's Connections documents): a lower-case
//! letter, then lower-case letters, digits or `_`. Both at most 50 characters.

/// Longest name accepted.
pub const MAX_NAME_LEN: usize = 50;

/// Checks a function name.
///
/// # Errors
/// A message saying which rule the name breaks.
pub fn validate_function_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("function name is empty".into());
    }
    if name.len() > MAX_NAME_LEN {
        return Err(format!(
            "function name `{name}` is longer than {MAX_NAME_LEN} characters"
        ));
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Err(format!(
            "function name `{name}` must start with a lower-case letter"
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-'))
    {
        return Err(format!(
            "function name `{name}` contains `{c}`: use lower-case letters, digits, `_` and `-`"
        ));
    }
    Ok(())
}

/// Checks a service's or connection's link name; `what` names which in the message.
///
/// # Errors
/// A message saying which rule the name breaks.
pub fn validate_link_name(what: &str, name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err(format!("{what} link name is empty"));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(format!(
            "{what} link name `{name}` is longer than {MAX_NAME_LEN} characters"
        ));
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Err(format!(
            "{what} link name `{name}` must start with a lower-case letter"
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_'))
    {
        return Err(format!(
            "{what} link name `{name}` contains `{c}`: use lower-case letters, digits and `_`"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["hello", "a", "fetch_v2", "my-fn", &"a".repeat(50)] {
            assert!(validate_function_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "Hello",
            "1abc",
            "_x",
            "a b",
            "a/b",
            "héllo",
            &"a".repeat(51),
        ] {
            assert!(validate_function_name(bad).is_err(), "{bad}");
        }
        assert!(validate_function_name("aB").unwrap_err().contains("`B`"));
    }

    #[test]
    fn link_names() {
        for ok in ["crm", "a", "zoho_crm2", &"a".repeat(50)] {
            assert!(validate_link_name("service", ok).is_ok(), "{ok}");
        }
        for bad in ["", "Crm", "1crm", "_x", "my-crm", "a b", &"a".repeat(51)] {
            assert!(validate_link_name("service", bad).is_err(), "{bad}");
        }
        let e = validate_link_name("connection", "my-crm").unwrap_err();
        assert!(
            e.starts_with("connection link name") && e.contains("`-`"),
            "{e}"
        );
    }
}
