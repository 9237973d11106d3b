//! acl (priority 950): allow or deny consumer groups.

use crate::conf::Conf;
use crate::ctx::{Access, LocalResponse, PluginCtx};
use crate::Consumers;

pub(crate) struct Acl {
    /// true = `allow` list, false = `deny` list.
    allow: bool,
    groups: Vec<String>,
    hide_groups_header: bool,
}

impl Acl {
    pub fn compile(c: &mut Conf<'_>) -> Option<Acl> {
        let allow = c.opt_str_list("allow").filter(|l| !l.is_empty());
        let deny = c.opt_str_list("deny").filter(|l| !l.is_empty());
        let hide_groups_header = c.bool_or("hide_groups_header", false);
        c.ignore(&["include_consumer_groups", "always_use_authenticated_groups"]);
        let (allow, groups) = match (allow, deny) {
            (Some(a), None) => (true, a),
            (None, Some(d)) => (false, d),
            (Some(_), Some(_)) => {
                c.err(
                    "allow",
                    "only one of these fields must be non-empty: 'config.allow', 'config.deny'",
                );
                return None;
            }
            (None, None) => {
                c.err(
                    "allow",
                    "at least one of these fields must be non-empty: 'config.allow', 'config.deny'",
                );
                return None;
            }
        };
        Some(Acl {
            allow,
            groups,
            hide_groups_header,
        })
    }

    pub fn access(&self, ctx: &mut PluginCtx, consumers: &Consumers) -> Access {
        let Some(ci) = ctx.consumer else {
            if ctx.credential_id.is_some() {
                return Access::Respond(LocalResponse::message(
                    403,
                    "You cannot consume this service",
                ));
            }
            return Access::Respond(LocalResponse::message(401, "Unauthorized"));
        };
        let groups = &consumers.list[ci].acl_groups;
        let in_list = groups.iter().any(|g| self.groups.contains(g));
        let blocked = if self.allow { !in_list } else { in_list };
        if blocked {
            return Access::Respond(LocalResponse::message(
                403,
                "You cannot consume this service",
            ));
        }
        if !self.hide_groups_header && !groups.is_empty() {
            ctx.request
                .set_header("X-Consumer-Groups", groups.join(", "));
        }
        Access::Continue
    }
}
