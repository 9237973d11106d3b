//! ip-restriction (priority 990): allow / deny lists of addresses and CIDRs, v4 and v6.

use crate::conf::Conf;
use crate::ctx::{Access, LocalResponse, RequestView};
use crate::util::Cidr;

pub(crate) struct IpRestriction {
    allow: Vec<Cidr>,
    deny: Vec<Cidr>,
    status: u16,
    message: String,
}

fn list(c: &mut Conf<'_>, field: &'static str) -> Vec<Cidr> {
    let mut out = Vec::new();
    for (i, s) in c.opt_str_list(field).unwrap_or_default().iter().enumerate() {
        match Cidr::parse(s) {
            Some(n) => out.push(n),
            None => c.err(
                &format!("{field}[{i}]"),
                format!("invalid ip or cidr range: '{s}'"),
            ),
        }
    }
    out
}

impl IpRestriction {
    pub fn compile(c: &mut Conf<'_>) -> Option<IpRestriction> {
        let allow = list(c, "allow");
        let deny = list(c, "deny");
        let status = c.opt_int("status", 100, 599).unwrap_or(403) as u16;
        let message = c.str_or("message", "Your IP address is not allowed");
        if !c.is_set("allow") && !c.is_set("deny") {
            c.err(
                "allow",
                "at least one of these fields must be non-empty: 'config.allow', 'config.deny'",
            );
            return None;
        }
        Some(IpRestriction {
            allow,
            deny,
            status,
            message,
        })
    }

    pub fn access(&self, req: &dyn RequestView) -> Access {
        let ip = req.client_ip();
        if self.deny.iter().any(|n| n.contains(ip))
            || (!self.allow.is_empty() && !self.allow.iter().any(|n| n.contains(ip)))
        {
            return Access::Respond(LocalResponse::message(self.status, &self.message));
        }
        Access::Continue
    }
}
