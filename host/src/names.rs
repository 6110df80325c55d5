//! Identifier rules shared by functions (and, later, services and connections):
//! a lower-case letter, then lower-case letters, digits, `_` or `-`, at most 50 characters.

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
}
