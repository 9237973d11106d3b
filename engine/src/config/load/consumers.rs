//! Consumers and their credentials (key-auth keys, basic-auth usernames and passwords, ACL
//! groups), nested under a consumer or top-level with a `consumer` reference; Kong's
//! uniqueness rules for usernames, custom ids, keys and groups.

use super::references::{Owner, Pending};
use super::walk::{field_path, is_empty, Item, Section};
use super::Loader;
use crate::config::raw::{self, wire};
use serde_yaml::Value;

/// Credential kinds Kong nests under consumers that Sluice does not implement.
pub(super) const UNSUPPORTED_CONSUMER_KEYS: &[&str] = &[
    "jwt_secrets",
    "hmacauth_credentials",
    "oauth2_credentials",
    "mtls_auth_credentials",
];

/// Keys taken out of a consumer before it is read: its nested lists and
/// [`UNSUPPORTED_CONSUMER_KEYS`].
pub(super) const CONSUMER_NESTED: &[&str] = &[
    "keyauth_credentials",
    "basicauth_credentials",
    "acls",
    "plugins",
    "jwt_secrets",
    "hmacauth_credentials",
    "oauth2_credentials",
    "mtls_auth_credentials",
];

impl<'a> Loader<'a> {
    pub(super) fn load_consumers(&mut self, section: Section<'a>) {
        for (path, mut item) in self.section_items(section, "consumers", CONSUMER_NESTED) {
            let keyauth = self.take_items(&mut item, "keyauth_credentials", &path);
            let basicauth = self.take_items(&mut item, "basicauth_credentials", &path);
            let acls = self.take_items(&mut item, "acls", &path);
            let plugins = self.take_items(&mut item, "plugins", &path);
            for key in UNSUPPORTED_CONSUMER_KEYS {
                // `Item::entity` left none of these in a JSON entity.
                if let Item::Yaml(Value::Mapping(map)) = &mut item {
                    if let Some(v) = map.remove(*key) {
                        if !is_empty(&v) {
                            self.problem(field_path(&path, key), "not supported by Sluice");
                        }
                    }
                }
            }
            let owner = match self.deser::<wire::Consumer>(&item, &path) {
                Some(w) => self.consumer(w, &path),
                None => {
                    self.consumers.mark_broken(&item, "username");
                    Owner::Broken("consumer")
                }
            };
            for (path, value) in keyauth {
                self.load_keyauth(path, value, owner);
            }
            for (path, value) in basicauth {
                self.load_basicauth(path, value, owner);
            }
            for (path, value) in acls {
                self.load_acl(path, value, owner);
            }
            for (path, value) in plugins {
                self.consumer_plugins.push(Pending { path, value, owner });
            }
        }
    }

    fn consumer(&mut self, w: wire::Consumer, path: &str) -> Owner {
        let username = self.non_empty(path, "username", w.username);
        let custom_id = self.non_empty(path, "custom_id", w.custom_id);
        if username.is_none() && custom_id.is_none() {
            self.problem(
                path,
                "at least one of these fields must be non-empty: 'custom_id', 'username'",
            );
        }
        let consumer = raw::Consumer {
            id: self.id(path, w.id),
            username,
            custom_id,
            tags: self.tags(path, w.tags),
            keyauth_credentials: Vec::new(),
            basicauth_credentials: Vec::new(),
            acls: Vec::new(),
            created_at: raw::timestamp(w.created_at),
            updated_at: raw::timestamp(w.updated_at),
            source_path: path.to_owned(),
        };
        let idx = self.cfg.consumers.len();
        let (name, id) = (consumer.username.as_deref(), consumer.id.as_deref());
        self.consumers.register(
            "consumer",
            "username",
            name,
            id,
            idx,
            path,
            &mut self.problems,
        );
        if let Some(custom_id) = &consumer.custom_id {
            if let Some(other) = self.custom_ids.get(custom_id) {
                let msg =
                    format!("duplicate consumer custom_id '{custom_id}' (already used by {other})");
                self.problem(field_path(path, "custom_id"), msg);
            } else {
                self.custom_ids.insert(custom_id.clone(), path.to_owned());
            }
        }
        self.cfg.consumers.push(consumer);
        Owner::Consumer(idx)
    }

    pub(super) fn load_keyauth(&mut self, path: String, value: Item<'a>, owner: Owner) {
        let Some(w) = self.deser::<wire::KeyAuthCredential>(&value, &path) else {
            return;
        };
        let consumer = self.parent(&path, "consumer", owner, w.consumer.as_ref());
        let key = self.required_string(&path, "key", w.key);
        let credential = raw::KeyAuthCredential {
            id: self.id(&path, w.id),
            key,
            tags: self.tags(&path, w.tags),
            created_at: raw::timestamp(w.created_at),
            updated_at: raw::timestamp(w.updated_at),
            source_path: path.clone(),
        };
        if !credential.key.is_empty()
            && !self.unique(
                |l| &mut l.keyauth_keys,
                "key-auth key",
                &credential.key,
                field_path(&path, "key"),
            )
        {
            return;
        }
        if let Some(c) = consumer.and_then(|idx| self.cfg.consumers.get_mut(idx)) {
            c.keyauth_credentials.push(credential);
        }
    }

    pub(super) fn load_basicauth(&mut self, path: String, value: Item<'a>, owner: Owner) {
        let Some(w) = self.deser::<wire::BasicAuthCredential>(&value, &path) else {
            return;
        };
        let consumer = self.parent(&path, "consumer", owner, w.consumer.as_ref());
        let username = self.required_string(&path, "username", w.username);
        let credential = raw::BasicAuthCredential {
            id: self.id(&path, w.id),
            username,
            password: self.required_string(&path, "password", w.password),
            tags: self.tags(&path, w.tags),
            created_at: raw::timestamp(w.created_at),
            updated_at: raw::timestamp(w.updated_at),
            source_path: path.clone(),
        };
        if !credential.username.is_empty()
            && !self.unique(
                |l| &mut l.basicauth_usernames,
                "basic-auth username",
                &credential.username,
                field_path(&path, "username"),
            )
        {
            return;
        }
        if let Some(c) = consumer.and_then(|idx| self.cfg.consumers.get_mut(idx)) {
            c.basicauth_credentials.push(credential);
        }
    }

    pub(super) fn load_acl(&mut self, path: String, value: Item<'a>, owner: Owner) {
        let Some(w) = self.deser::<wire::Acl>(&value, &path) else {
            return;
        };
        let consumer = self.parent(&path, "consumer", owner, w.consumer.as_ref());
        let acl = raw::Acl {
            id: self.id(&path, w.id),
            group: self.required_string(&path, "group", w.group),
            tags: self.tags(&path, w.tags),
            created_at: raw::timestamp(w.created_at),
            updated_at: raw::timestamp(w.updated_at),
            source_path: path.clone(),
        };
        let Some(idx) = consumer else { return };
        let key = (idx, acl.group.clone());
        if let Some(other) = self.acl_groups.get(&key) {
            let msg = format!(
                "duplicate acl group '{}' for the same consumer (already at {other})",
                acl.group
            );
            self.problem(field_path(&path, "group"), msg);
        } else if let Some(c) = self.cfg.consumers.get_mut(idx) {
            self.acl_groups.insert(key, path);
            c.acls.push(acl);
        }
    }
}
