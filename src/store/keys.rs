//! Key encodings of the store's trees. Big-endian numbers so that sled's
//! byte order is numeric order.

use crate::model::Timestamp;

/// `contractor \0 email`: connections sort by contractor, then address.
pub fn connection(contractor: &str, email: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(contractor.len() + 1 + email.len());
    k.extend_from_slice(contractor.as_bytes());
    k.push(0);
    k.extend_from_slice(email.as_bytes());
    k
}

/// The prefix of every connection of `contractor`.
pub fn contractor_prefix(contractor: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(contractor.len() + 1);
    k.extend_from_slice(contractor.as_bytes());
    k.push(0);
    k
}

/// `contractor \0 digest`: finds an earlier batch of the same content.
pub fn digest(contractor: &str, digest: &str) -> Vec<u8> {
    connection(contractor, digest)
}

pub fn id(id: u64) -> [u8; 8] {
    id.to_be_bytes()
}

pub fn id_of(key: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(key.get(..8)?.try_into().ok()?))
}

/// `due \0 id` in the delivery queue; times before 1970 clamp to 0.
pub fn queue(due: Timestamp, id: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&(due.max(0) as u64).to_be_bytes());
    k[8..].copy_from_slice(&id.to_be_bytes());
    k
}

/// `due conn-key` in the reminder index.
pub fn reminder(due: Timestamp, conn_key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(8 + conn_key.len());
    k.extend_from_slice(&(due.max(0) as u64).to_be_bytes());
    k.extend_from_slice(conn_key);
    k
}

/// The (contractor, email) a reminder index key names.
pub fn reminder_target(key: &[u8]) -> Option<(&str, &str)> {
    let rest = std::str::from_utf8(key.get(8..)?).ok()?;
    rest.split_once('\0')
}

/// The due time of a reminder index key.
pub fn reminder_due(key: &[u8]) -> Option<Timestamp> {
    Some(u64::from_be_bytes(key.get(..8)?.try_into().ok()?) as Timestamp)
}

/// Splits a queue key into (due, id).
pub fn queue_parts(key: &[u8]) -> Option<(Timestamp, u64)> {
    let due = u64::from_be_bytes(key.get(..8)?.try_into().ok()?);
    let id = u64::from_be_bytes(key.get(8..16)?.try_into().ok()?);
    Some((due as Timestamp, id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_keys_sort_by_due_then_id() {
        assert!(queue(5, 9) < queue(6, 1));
        assert!(queue(5, 1) < queue(5, 2));
        assert_eq!(queue_parts(&queue(77, 3)), Some((77, 3)));
    }

    #[test]
    fn connection_keys_group_by_contractor() {
        let k = connection("acme", "a@b.test");
        assert!(k.starts_with(&contractor_prefix("acme")));
        assert!(!k.starts_with(&contractor_prefix("acm")));
    }
}
