//! correlation-id (priority 100001).

use crate::conf::Conf;
use crate::ctx::{Access, PluginCtx, RequestView};
use crate::util::is_token;
use std::fmt::Write as _;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// Id source shared by every instance (in [`crate::PluginState`]). UUIDs are version 4 built
/// from SipHash (keys from the OS via `RandomState`) over a process-wide counter: unique and
/// unpredictable enough for request ids, without a `rand`/`uuid` dependency. Not for secrets.
#[derive(Default)]
pub(crate) struct IdGen {
    hasher: std::collections::hash_map::RandomState,
    counter: AtomicU64,
    node: OnceLock<String>,
    node_counter: AtomicU64,
}

impl IdGen {
    pub fn uuid(&self) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let hi = self.hasher.hash_one((n, 0u8));
        let lo = self.hasher.hash_one((n, 1u8));
        let hi = (hi & !0xF000) | 0x4000; // version 4
        let lo = (lo & !(0xC000u64 << 48)) | (0x8000u64 << 48); // variant 10
        let mut s = String::with_capacity(36);
        let _ = write!(
            s,
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            hi >> 32,
            (hi >> 16) & 0xFFFF,
            hi & 0xFFFF,
            lo >> 48,
            lo & 0xFFFF_FFFF_FFFF
        );
        s
    }

    /// Kong's `uuid#counter`: one uuid per node (process here), then a counter.
    pub fn uuid_counter(&self) -> String {
        let node = self.node.get_or_init(|| self.uuid());
        let n = self.node_counter.fetch_add(1, Ordering::Relaxed) + 1;
        format!("{node}#{n}")
    }
}

#[derive(Clone, Copy)]
enum Generator {
    Uuid,
    UuidCounter,
    Tracker,
}

pub(crate) struct CorrelationId {
    header_name: String,
    lower: String,
    generator: Generator,
    echo_downstream: bool,
}

impl CorrelationId {
    pub fn compile(c: &mut Conf<'_>) -> Option<CorrelationId> {
        let header_name = c.str_or("header_name", "Kong-Request-ID");
        if !is_token(&header_name) {
            c.err(
                "header_name",
                format!("'{header_name}' is not a valid header name"),
            );
        }
        let generator = match c
            .one_of(
                "generator",
                "uuid#counter",
                &["uuid", "uuid#counter", "tracker"],
            )
            .as_str()
        {
            "uuid" => Generator::Uuid,
            "tracker" => Generator::Tracker,
            _ => Generator::UuidCounter,
        };
        let echo_downstream = c.bool_or("echo_downstream", false);
        let lower = header_name.to_ascii_lowercase();
        Some(CorrelationId {
            header_name,
            lower,
            generator,
            echo_downstream,
        })
    }

    pub fn access(&self, req: &dyn RequestView, ctx: &mut PluginCtx, ids: &IdGen) -> Access {
        let existing = req.header(&self.lower).filter(|v| !v.is_empty());
        let value = match existing {
            Some(v) => String::from_utf8_lossy(v).into_owned(),
            None => {
                let v = match self.generator {
                    Generator::Uuid => ids.uuid(),
                    Generator::UuidCounter => ids.uuid_counter(),
                    // Kong: server_addr-server_port-pid-connection-connection_requests-now; the
                    // connection fields are not visible here, so: client-pid-counter.
                    Generator::Tracker => {
                        let n = ids.node_counter.fetch_add(1, Ordering::Relaxed) + 1;
                        format!("{}-{}-{}", req.client_ip(), std::process::id(), n)
                    }
                };
                ctx.request.set_header(self.header_name.clone(), v.clone());
                v
            }
        };
        if self.echo_downstream {
            ctx.correlation_id = Some(value);
        }
        Access::Continue
    }

    pub fn header_filter(&self, ctx: &mut PluginCtx) {
        if let Some(v) = ctx.correlation_id.clone() {
            ctx.response.set_header(self.header_name.clone(), v);
        }
    }
}
