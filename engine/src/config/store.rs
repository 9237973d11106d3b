//! The running configuration's one writer.
//!
//! Every change — an Admin API entity write, `POST /config`, SIGHUP, a file change seen by
//! `--watch` — goes through [`Store`] under one mutex: read the current config, apply the
//! change, validate it with the same loader as a file, compile it, write it back to the config
//! file (atomically: temp file in the same directory, fsync, rename over, fsync the directory),
//! and only then install it with `Shared::install`. A change that fails any step leaves both
//! the running config and the file as they were. Compilation runs on the calling thread (the
//! admin thread, the signal thread or the watcher), never on a worker.
//!
//! The file is the embedded database: after an accepted change a restart on the same file comes
//! back with exactly that config. Without `--config` changes live in memory only.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use super::document::{Document, EntityError, Kind};
use super::export;
use super::identity;
use super::load::{load_config_file, parse_entities, ConfigProblem};
use super::raw::DeclarativeConfig;
use crate::worker::Shared;

/// What identifies one version of the config file on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Fingerprint {
    len: u64,
    modified: Option<SystemTime>,
    inode: u64,
}

fn fingerprint(path: &Path) -> Option<Fingerprint> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).ok()?;
    Some(Fingerprint {
        len: meta.len(),
        modified: meta.modified().ok(),
        inode: meta.ino(),
    })
}

/// The entity an admin change was about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Focus {
    pub kind: Kind,
    /// Its index in the changed document: loader problems at `<collection>[index]` are its own.
    pub index: usize,
    pub id: String,
    /// A PUT created it rather than replacing it.
    pub created: bool,
}

#[derive(Debug)]
pub enum ApplyError {
    /// Refused before validation (404, 409, foreign keys, ...).
    Entity(EntityError),
    /// The loader or the compiler found problems; `focus` is the entity being changed.
    Invalid {
        problems: Vec<ConfigProblem>,
        focus: Option<(Kind, usize)>,
    },
    /// The change was valid but could not be saved, so it was not installed either.
    Persist(String),
}

/// An installed change.
#[derive(Debug)]
pub struct Applied {
    pub focus: Option<Focus>,
    pub generation: u64,
    /// The document of the config now running (canonical: every field explicit).
    pub doc: Arc<Document>,
}

/// The result of `POST /config`.
#[derive(Debug)]
pub enum Replaced {
    Installed(Applied),
    /// `check_hash` was asked for and the new config equals the running one.
    Unchanged,
}

struct State {
    /// The document of the running config.
    doc: Arc<Document>,
    /// The config file as we last read or wrote it.
    file: Option<Fingerprint>,
}

pub struct Store {
    shared: Arc<Shared>,
    path: Option<PathBuf>,
    state: Mutex<State>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// A store for the config `shared` runs now, saved to `path` when there is one.
    pub fn new(shared: Arc<Shared>, path: Option<PathBuf>) -> Store {
        let doc = export::document(&shared.config.load().source);
        let file = path.as_deref().and_then(fingerprint);
        match &path {
            Some(path) => tracing::info!(
                path = %path.display(),
                "admin changes are saved to the config file"
            ),
            None => tracing::info!(
                "no --config file: admin changes live in memory only and are lost on restart"
            ),
        }
        Store {
            shared,
            path,
            state: Mutex::new(State {
                doc: Arc::new(doc),
                file,
            }),
        }
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every step that can fail happens before `State` is touched, so a panic while the
        // lock was held cannot have left it half-updated.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The document of the running config (cheap: shared, not copied).
    pub fn document(&self) -> Arc<Document> {
        Arc::clone(&self.lock().doc)
    }

    /// Applies an entity change to a copy of the running document, then validates, compiles,
    /// saves and installs the result. `change` gets the document and the current unix time.
    pub fn modify(
        &self,
        change: impl FnOnce(&mut Document, u64) -> Result<Option<Focus>, EntityError>,
    ) -> Result<Applied, ApplyError> {
        let started = Instant::now();
        let mut state = self.lock();
        let mut doc = (*state.doc).clone();
        let focus = change(&mut doc, identity::now()).map_err(ApplyError::Entity)?;
        let validating = Instant::now();
        // The same as `parse_document(export::declarative(&doc))`, reading the entities in
        // place instead of building a YAML tree of every one of them first.
        let cfg = parse_entities(&doc).map_err(|problems| ApplyError::Invalid {
            problems,
            focus: focus.as_ref().map(|f| (f.kind, f.index)),
        })?;
        drop(doc);
        let validate_ms = ms(validating);
        let (generation, doc) = self.commit(&mut state, cfg, true).map_err(|e| match e {
            ApplyError::Invalid { problems, .. } => ApplyError::Invalid {
                problems,
                focus: focus.as_ref().map(|f| (f.kind, f.index)),
            },
            other => other,
        })?;
        tracing::info!(
            generation,
            elapsed_ms = ms(started),
            validate_ms,
            "configuration changed through the Admin API"
        );
        Ok(Applied {
            focus,
            generation,
            doc,
        })
    }

    /// Replaces the whole config (`POST /config`).
    pub fn replace(
        &self,
        mut cfg: DeclarativeConfig,
        check_hash: bool,
    ) -> Result<Replaced, ApplyError> {
        let started = Instant::now();
        let mut state = self.lock();
        identity::fill(
            &mut cfg,
            Some(&self.shared.config.load().source),
            identity::now(),
        );
        if check_hash && export::document(&cfg) == *state.doc {
            return Ok(Replaced::Unchanged);
        }
        let (generation, doc) = self.commit(&mut state, cfg, true)?;
        tracing::info!(
            generation,
            elapsed_ms = ms(started),
            "configuration replaced through POST /config"
        );
        Ok(Replaced::Installed(Applied {
            focus: None,
            generation,
            doc,
        }))
    }

    /// Re-reads the config file and installs it (SIGHUP). `Ok(None)` without a file.
    pub fn reload_file(&self) -> Result<Option<u64>, Vec<ConfigProblem>> {
        let mut state = self.lock();
        self.reload_locked(&mut state)
    }

    /// Like [`Store::reload_file`], but only when the file changed since we last read or wrote
    /// it (the `--watch` poll). `Ok(None)`: nothing to do.
    pub fn reload_if_changed(&self) -> Result<Option<u64>, Vec<ConfigProblem>> {
        let Some(path) = &self.path else {
            return Ok(None);
        };
        let mut state = self.lock();
        let now = fingerprint(path);
        if now.is_none() || now == state.file {
            return Ok(None);
        }
        self.reload_locked(&mut state)
    }

    fn reload_locked(&self, state: &mut State) -> Result<Option<u64>, Vec<ConfigProblem>> {
        let Some(path) = &self.path else {
            return Ok(None);
        };
        // Taken before reading: if the file changes while we read it, the next poll sees a
        // different fingerprint and reads it again.
        state.file = fingerprint(path);
        let mut cfg = load_config_file(path)?;
        identity::fill(
            &mut cfg,
            Some(&self.shared.config.load().source),
            identity::now(),
        );
        match self.commit(state, cfg, false) {
            Ok((generation, _)) => Ok(Some(generation)),
            Err(ApplyError::Invalid { problems, .. }) => Err(problems),
            Err(ApplyError::Entity(_) | ApplyError::Persist(_)) => Ok(None),
        }
    }

    /// Compiles `cfg`, saves it (when `save` and there is a file), installs it. Nothing changes
    /// unless every step succeeds.
    fn commit(
        &self,
        state: &mut State,
        mut cfg: DeclarativeConfig,
        save: bool,
    ) -> Result<(u64, Arc<Document>), ApplyError> {
        // Entities changed through the API carry ids and stamps already; this covers the rest.
        identity::fill(
            &mut cfg,
            Some(&self.shared.config.load().source),
            identity::now(),
        );
        let compiling = Instant::now();
        let snapshot =
            super::compile::compile_with(cfg, &self.shared.health, &self.shared.plugin_state)
                .map_err(|problems| ApplyError::Invalid {
                    problems,
                    focus: None,
                })?;
        let compile_ms = ms(compiling);
        let saving = Instant::now();
        let doc = export::document(&snapshot.source);
        if save {
            if let Some(path) = &self.path {
                let text = export::to_text(&doc, export::format_for(path));
                write_atomically(path, text.as_bytes()).map_err(|e| {
                    ApplyError::Persist(format!("cannot save {}: {e}", path.display()))
                })?;
                state.file = fingerprint(path);
            }
        }
        let save_ms = ms(saving);
        let generation = self.shared.install(snapshot);
        tracing::debug!(generation, compile_ms, save_ms, "configuration installed");
        // Health entries of targets no snapshot uses any more (the previous snapshot may still
        // be held by in-flight requests; its entries go at a later install).
        self.shared.health.gc();
        let doc = Arc::new(doc);
        state.doc = Arc::clone(&doc);
        Ok((generation, doc))
    }

    /// Polls the config file every second and reloads it when someone else changed it
    /// (`--watch`). Our own writes are recognised by their fingerprint and skipped.
    pub fn spawn_watcher(self: &Arc<Self>) -> std::io::Result<Option<std::thread::JoinHandle<()>>> {
        let Some(path) = self.path.clone() else {
            tracing::warn!("--watch has no effect without --config");
            return Ok(None);
        };
        let store = Arc::clone(self);
        let handle = std::thread::Builder::new()
            .name("sluice-watch".to_owned())
            .spawn(move || {
                use std::sync::atomic::Ordering;
                while !store.shared.shutting_down.load(Ordering::Acquire) {
                    std::thread::sleep(Duration::from_secs(1));
                    match store.reload_if_changed() {
                        Ok(None) => {}
                        Ok(Some(generation)) => {
                            tracing::info!(generation, path = %path.display(), "config file changed: reloaded");
                            println!("sluice: configuration reloaded (generation {generation})");
                        }
                        Err(problems) => {
                            tracing::error!(
                                path = %path.display(),
                                "config file changed but has problems, keeping the running configuration:\n{}",
                                crate::server::format_problems(&problems)
                            );
                            println!("sluice: reload rejected ({} problems)", problems.len());
                        }
                    }
                }
            })?;
        Ok(Some(handle))
    }
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

/// Replaces `path` with `bytes` so that a crash at any point leaves either the old or the new
/// file, never a mix: write a temp file in the same directory, fsync it, rename it over the
/// target, fsync the directory. A symlinked config is written through to the file it names.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let target = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let dir = match target.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "config".to_owned());
    let tmp = dir.join(format!(".{name}.sluice-{}.tmp", std::process::id()));
    let written = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        if let Ok(meta) = std::fs::metadata(&target) {
            // Keep the operator's permissions (a config may hold credentials).
            file.set_permissions(meta.permissions())?;
        }
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&tmp, &target)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
        return written;
    }
    // The rename is the commit point: the new file is in place, so a failure to sync the
    // directory entry is reported but does not undo the change.
    if let Err(e) = std::fs::File::open(&dir).and_then(|d| d.sync_all()) {
        tracing::warn!(dir = %dir.display(), error = %e, "cannot fsync the config directory");
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_keeps_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("sluice-store-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("kong.yml");
        std::fs::write(&path, "old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        write_atomically(&path, b"new contents").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new contents");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        // No temp file is left behind.
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
