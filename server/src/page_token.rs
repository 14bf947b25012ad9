//! Opaque, validated page tokens for list RPCs.
//!
//! A token names the last item of the previous page and the listing it belongs to (its filter),
//! so a token from another listing, an edited one or random text is refused with
//! `INVALID_ARGUMENT` rather than silently starting somewhere else. Clients must treat tokens as
//! opaque: the encoding (a version byte, the filter and the last key, hex-encoded) may change.

use crate::convert::InvalidRequest;

/// Version of the token layout.
const VERSION: u8 = 1;
/// Longest token accepted, in characters (a filter and a key, both bounded names).
const TOKEN_CHARS_MAX: usize = 1024;

/// The token that continues `filter`'s listing after `last_key`.
pub fn encode(filter: &str, last_key: &str) -> String {
    let mut bytes = Vec::with_capacity(2 + filter.len() + last_key.len());
    bytes.push(VERSION);
    bytes.extend_from_slice(filter.as_bytes());
    bytes.push(0);
    bytes.extend_from_slice(last_key.as_bytes());
    hex::encode(bytes)
}

/// The last key of the previous page, if `token` continues `filter`'s listing; `None` for the
/// empty token (the first page).
pub fn decode(token: &str, filter: &str) -> Result<Option<String>, InvalidRequest> {
    if token.is_empty() {
        return Ok(None);
    }
    let invalid =
        || InvalidRequest::new("page_token", "is not a token of this listing (pass back next_page_token as is)");
    if token.len() > TOKEN_CHARS_MAX {
        return Err(invalid());
    }
    let bytes = hex::decode(token).map_err(|_| invalid())?;
    let (version, rest) = bytes.split_first().ok_or_else(invalid)?;
    if *version != VERSION {
        return Err(invalid());
    }
    let separator = rest.iter().position(|byte| *byte == 0).ok_or_else(invalid)?;
    let (token_filter, last_key) = (&rest[..separator], &rest[separator + 1..]);
    if token_filter != filter.as_bytes() {
        return Err(invalid());
    }
    let last_key = String::from_utf8(last_key.to_vec()).map_err(|_| invalid())?;
    if !last_key.starts_with(filter) || last_key.is_empty() {
        return Err(invalid());
    }
    Ok(Some(last_key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_continues_only_its_own_listing() {
        let token = encode("ord", "orders-eu");
        assert_eq!(decode(&token, "ord"), Ok(Some("orders-eu".to_string())));
        assert_eq!(decode("", "ord"), Ok(None));
        // Another listing's token, an edited one, plain names and junk are all refused.
        assert!(decode(&token, "").is_err());
        assert!(decode(&token, "or").is_err());
        assert!(decode(&encode("", "orders"), "").is_ok());
        assert!(decode("orders-eu", "ord").is_err());
        assert!(decode(&format!("02{}", &token[2..]), "ord").is_err());
        assert!(decode(&"ab".repeat(600), "").is_err());
        assert!(decode(&hex::encode([1u8, b'x', 0]), "x").is_err(), "an empty last key");
        assert!(decode(&hex::encode([1u8, 0, b'a']), "b").is_err());
    }
}
