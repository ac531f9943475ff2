//! What a request body must hold beyond its JSON shape: text a database can store, numbers
//! in the ranges their meaning allows, lists of sane length.
//!
//! Every body the service reads goes through [`super::JsonBody`], which requires
//! [`Validate`], so a new body type cannot skip these checks. A refusal is a 422 naming the
//! field; nothing is clamped or stored as something else.

use crate::model::registry::{ConfigUpdate, ModeBody, RegisterSchema};
use crate::model::{DataProduct, Domain, NewToken, StreamHead, TableVersion, WriteMode};

use super::store::now_ms;
use super::store::registry::{MAX_SCHEMA_ID, MAX_VERSION};

/// A request body's own checks; the error names the field and says what is wrong.
pub(crate) trait Validate {
    fn validate(&self) -> Result<(), String>;
}

/// The most bytes of a one-line text field (owners, URIs, tags, names).
const MAX_LINE: usize = 4096;
/// The most bytes of a description.
const MAX_DESCRIPTION: usize = 64 * 1024;
/// The most tags, partition columns or references one body may carry.
const MAX_ITEMS: usize = 1000;
/// How far ahead of the catalog's clock a commit time may be (writers' clocks drift).
const MAX_CLOCK_SKEW_MS: i64 = 60 * 60 * 1000;

/// Text a database stores as given: no NUL (Postgres refuses it in `TEXT`), no other control
/// character but tab, and line breaks only where `multiline`.
fn text(field: &str, value: &str, max: usize, multiline: bool) -> Result<(), String> {
    if value.len() > max {
        return Err(format!(
            "{field} has {} bytes; the limit is {max}",
            value.len()
        ));
    }
    let bad = value
        .chars()
        .find(|c| c.is_control() && !(*c == '\t' || (multiline && (*c == '\n' || *c == '\r'))));
    match bad {
        Some(c) => Err(format!(
            "{field} contains the control character {:?}",
            c.escape_unicode().to_string()
        )),
        None => Ok(()),
    }
}

fn line(field: &str, value: &str) -> Result<(), String> {
    text(field, value, MAX_LINE, false)
}

fn description(field: &str, value: &str) -> Result<(), String> {
    text(field, value, MAX_DESCRIPTION, true)
}

fn items<T>(field: &str, values: &[T]) -> Result<(), String> {
    if values.len() > MAX_ITEMS {
        return Err(format!(
            "{field} has {} entries; the limit is {MAX_ITEMS}",
            values.len()
        ));
    }
    Ok(())
}

impl Validate for Domain {
    fn validate(&self) -> Result<(), String> {
        line("owner", &self.owner)?;
        description("description", &self.description)
    }
}

impl Validate for DataProduct {
    fn validate(&self) -> Result<(), String> {
        description("description", &self.description)?;
        items("tags", &self.tags)?;
        for tag in &self.tags {
            line("a tag", tag)?;
        }
        items("stream_ports", &self.stream_ports)?;
        if let Some(port) = &self.table_port {
            if port.uri.trim().is_empty() {
                return Err("table_port.uri is empty".into());
            }
            line("table_port.uri", &port.uri)?;
            items("table_port.partition_columns", &port.partition_columns)?;
            for column in &port.partition_columns {
                if column.is_empty() {
                    return Err("table_port.partition_columns holds an empty name".into());
                }
                line("a partition column", column)?;
            }
            items("table_port.merge_keys", &port.merge_keys)?;
            for key in &port.merge_keys {
                if key.is_empty() {
                    return Err("table_port.merge_keys holds an empty name".into());
                }
                line("a merge key", key)?;
            }
            if let Some(twice) = port
                .merge_keys
                .iter()
                .enumerate()
                .find(|(i, key)| port.merge_keys[..*i].contains(key))
                .map(|(_, key)| key)
            {
                return Err(format!("table_port.merge_keys names {twice} twice"));
            }
            let merges = port.write_mode == Some(WriteMode::Merge);
            if merges == port.merge_keys.is_empty() {
                return Err(if merges {
                    "table_port.write_mode is merge but merge_keys is empty".into()
                } else {
                    "table_port.merge_keys is set but write_mode is not merge".into()
                });
            }
        }
        if let Some(sla) = self.sla
            && i64::try_from(sla.max_staleness_secs).is_err()
        {
            return Err(format!(
                "sla.max_staleness_secs is {}; the limit is {}",
                sla.max_staleness_secs,
                i64::MAX
            ));
        }
        Ok(())
    }
}

impl Validate for TableVersion {
    fn validate(&self) -> Result<(), String> {
        if self.version < 0 {
            return Err(format!(
                "version is {}; Delta versions start at 0",
                self.version
            ));
        }
        // Stored as signed 64-bit numbers: larger ones would come back as something else.
        for (field, value) in [("rows", self.rows), ("bytes", self.bytes)] {
            if i64::try_from(value).is_err() {
                return Err(format!("{field} is {value}; the limit is {}", i64::MAX));
            }
        }
        if let Some(id) = self.schema_id
            && !(crate::model::SchemaId(1)..=MAX_SCHEMA_ID).contains(&id)
        {
            return Err(format!(
                "schema_id {id} is out of range: ids are in [1, {MAX_SCHEMA_ID}]"
            ));
        }
        items("offsets", &self.offsets)?;
        for o in &self.offsets {
            if o.partition < 0 || o.offset < 0 {
                return Err(format!(
                    "offset {} of {}[{}] is negative: partitions and offsets start at 0",
                    o.offset, o.topic, o.partition
                ));
            }
        }
        let latest = now_ms().saturating_add(MAX_CLOCK_SKEW_MS);
        if !(0..=latest).contains(&self.committed_at_ms) {
            return Err(format!(
                "committed_at_ms {} is not a time between 1970 and an hour from now",
                self.committed_at_ms
            ));
        }
        Ok(())
    }
}

impl Validate for Vec<StreamHead> {
    fn validate(&self) -> Result<(), String> {
        items("the heads", self)?;
        match self.iter().find(|h| h.partition < 0 || h.offset < 0) {
            Some(h) => Err(format!(
                "head offset {} of partition {} is negative: partitions and offsets start at 0",
                h.offset, h.partition
            )),
            None => Ok(()),
        }
    }
}

impl Validate for NewToken {
    fn validate(&self) -> Result<(), String> {
        description("description", &self.description)
    }
}

impl Validate for RegisterSchema {
    fn validate(&self) -> Result<(), String> {
        items("references", &self.references)?;
        for r in &self.references {
            if r.name.is_empty() {
                return Err("a reference has an empty name".into());
            }
            line("a reference name", &r.name)?;
            line("a reference subject", &r.subject)?;
            if r.version != -1 && !(1..=MAX_VERSION).contains(&r.version) {
                return Err(format!(
                    "reference {} names version {}; versions are -1 (the latest) or in [1, {MAX_VERSION}]",
                    r.name, r.version
                ));
            }
        }
        if let Some(t) = &self.schema_type {
            line("schemaType", t)?;
        }
        Ok(())
    }
}

impl Validate for ConfigUpdate {
    fn validate(&self) -> Result<(), String> {
        line("compatibility", &self.compatibility)
    }
}

impl Validate for ModeBody {
    fn validate(&self) -> Result<(), String> {
        line("mode", &self.mode)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_refused_where_a_database_would_choke() {
        assert!(line("owner", "team-a@example.com").is_ok());
        assert!(description("description", "two\nlines\tand a tab").is_ok());
        let err = line("owner", "a\u{0}b").expect_err("NUL");
        assert!(
            err.contains("owner contains the control character"),
            "{err}"
        );
        assert!(description("description", "a\u{0}b").is_err());
        assert!(line("uri", "file:///x\ny").is_err());
        assert!(line("owner", &"x".repeat(MAX_LINE + 1)).is_err());
    }

    #[test]
    fn table_versions_stay_in_range() -> Result<(), serde_json::Error> {
        let ok: TableVersion = serde_json::from_value(serde_json::json!({
            "version": 3, "rows": 10, "bytes": 100, "committed_at_ms": now_ms()
        }))?;
        assert!(ok.validate().is_ok());
        let cases = [
            (
                serde_json::json!({"version": 3, "rows": u64::MAX, "bytes": 1, "committed_at_ms": 1}),
                "rows is",
            ),
            (
                serde_json::json!({"version": -5, "rows": 1, "bytes": 1, "committed_at_ms": 1}),
                "version is -5",
            ),
            (
                serde_json::json!({"version": 1, "rows": 1, "bytes": 1, "committed_at_ms": i64::MIN}),
                "committed_at_ms",
            ),
            (
                serde_json::json!({"version": 1, "rows": 1, "bytes": 1, "committed_at_ms": i64::MAX}),
                "committed_at_ms",
            ),
            (
                serde_json::json!({"version": 1, "rows": 1, "bytes": 1, "committed_at_ms": 1, "schema_id": 4_000_000_000_u32}),
                "schema_id",
            ),
            (
                serde_json::json!({"version": 1, "rows": 1, "bytes": 1, "committed_at_ms": 1,
                "offsets": [{"topic": "a.b", "partition": 0, "offset": -1}]}),
                "negative",
            ),
        ];
        for (body, expected) in cases {
            let v: TableVersion = serde_json::from_value(body)?;
            let err = v.validate().expect_err(expected);
            assert!(err.contains(expected), "{expected}: {err}");
        }
        Ok(())
    }
}
