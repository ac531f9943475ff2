//! The {{domain}} domain's consumer: a handler that keeps a live tally of a stream.
//!
//! [`Tally`] receives every event of the subscribed stream, decoded through the registry into
//! an Avro value, and counts events per key. The consumer kit calls it at least once per
//! event, commits offsets only after it returns, and sends what cannot be decoded to the
//! dead-letter topic `{{domain}}.dlq` instead of stopping.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use datamesh::consumer_kit::{Event, Handler, HandlerError};
use datamesh::mesh_core::apache_avro::types::Value;

/// The stream read when no other is given.
pub const DEFAULT_SOURCE: &str = "{{source}}";

/// Events per key, shared with whoever reads the tally.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    counts: Arc<Mutex<BTreeMap<String, u64>>>,
    print: bool,
}

impl Tally {
    /// A tally that prints each event as it counts it.
    pub fn printing() -> Self {
        Self {
            print: true,
            ..Self::default()
        }
    }

    /// The counts so far.
    pub fn counts(&self) -> BTreeMap<String, u64> {
        self.counts.lock().map(|c| c.clone()).unwrap_or_default()
    }
}

impl Handler for Tally {
    type Value = Value;

    async fn handle(&self, event: Event<Value>) -> Result<(), HandlerError> {
        let key = event.key_str().unwrap_or("(no key)").to_owned();
        let seen = {
            let mut counts = self
                .counts
                .lock()
                .map_err(|_| HandlerError::poison("the tally is poisoned"))?;
            let count = counts.entry(key.clone()).or_default();
            *count += 1;
            *count
        };
        if self.print {
            let value = serde_json::Value::try_from(event.value).unwrap_or_default();
            println!("{key} (#{seen}): {value}");
        }
        Ok(())
    }
}
