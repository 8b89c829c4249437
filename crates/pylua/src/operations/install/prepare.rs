//! Preparing one package for the tree: fetch it (through the download cache), then link it
//! from the package store ([`crate::packages::store`]) into a staging directory — or, when
//! the store has no intact entry, unpack and build it there, put the result in the store,
//! and link it back. Rocks (`.src.rock`, `.all.rock`, binary rocks) are stored by their
//! sha256 and the build target; a package built from a server's rockspec by the rockspec's
//! sha256, its sources' (an archive's sha256, a git commit) and the build target. A local
//! rockspec (a working directory's) is built in place every time.

use super::{Job, Origin, Prepared};
use crate::packages::archive::{self, Bounds};
use crate::packages::build::{self, Built, Target};
use crate::packages::cache::{hex, Fetched, Fetcher};
use crate::packages::git;
use crate::packages::link::LinkMode;
use crate::packages::names::RelativePath;
use crate::packages::rockspec::Rockspec;
use crate::packages::store::{Entry, Lookup, Store};
use crate::packages::tree::{
    rock_manifest_text, set_deploy_modes, InstalledRock, StagedRock, TreeLock,
};
use md5::{Digest, Md5};
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

/// Whether preparing `job` will likely run a compiler, for scheduling only (the compiles
/// are the long poles of an install, so they start first): its rockspec, searched without
/// being evaluated, names C sources or a `make`, `cmake` or `command` build, and its rock is
/// not in the store already. Also returns the rock when it was fetched for this, so that
/// [`prepare`] does not fetch it again. Anything unclear counts as a compile.
pub(super) fn peek(
    job: &Job,
    fetcher: &Fetcher,
    options: &super::InstallOptions,
) -> (bool, Option<Fetched>) {
    let (text, fetched) = match &job.origin {
        Origin::Remote { url, .. } if url.ends_with(".src.rock") => {
            let Ok(fetched) = fetcher.get(url) else {
                return (true, None);
            };
            let key = Store::key(&rock_identity(job, url, &fetched.sha256, &options.target));
            if Store::new(fetcher.root()).contains(&key) {
                return (false, Some(fetched));
            }
            match rockspec_in_rock(&fetched.bytes) {
                Some(text) => (text, Some(fetched)),
                None => return (true, Some(fetched)),
            }
        }
        Origin::Remote { url, .. } if url.ends_with(".rockspec") => match fetcher.get(url) {
            Ok(fetched) => (fetched.bytes.clone(), Some(fetched)),
            Err(_) => return (true, None),
        },
        // A prebuilt rock is deployed, not built.
        Origin::Remote { .. } => return (false, None),
        Origin::LocalRockspec(path) => match fs::read(path) {
            Ok(text) => (text, None),
            Err(_) => return (true, None),
        },
    };
    (names_a_compile(&text), fetched)
}

/// Whether a rockspec's text names C sources or a build type that runs a compiler.
fn names_a_compile(text: &[u8]) -> bool {
    const NEEDLES: [&str; 8] = [
        ".c\"",
        ".c'",
        "\"make\"",
        "'make'",
        "\"cmake\"",
        "'cmake'",
        "\"command\"",
        "'command'",
    ];
    NEEDLES
        .iter()
        .any(|needle| text.windows(needle.len()).any(|w| w == needle.as_bytes()))
}

/// The rockspec inside a `.src.rock` (a zip with the rockspec at its top), at most 1 MiB of
/// it; None when there is none or the archive cannot be read (unpacking then says why).
fn rockspec_in_rock(bytes: &[u8]) -> Option<Vec<u8>> {
    use std::io::Read;
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).ok()?;
    let name = zip
        .file_names()
        .find(|n| !n.contains('/') && n.ends_with(".rockspec"))?
        .to_string();
    let mut text = Vec::new();
    zip.by_name(&name)
        .ok()?
        .take(1 << 20)
        .read_to_end(&mut text)
        .ok()?;
    Some(text)
}

/// Fetches one package (unless [`peek`] did: `fetched`) and fills its staging directory
/// (see the module docs).
pub(super) fn prepare(
    job: &Job,
    fetcher: &Fetcher,
    options: &super::InstallOptions,
    lock: &TreeLock,
    resolved: &BTreeMap<String, String>,
    fetched: Option<Fetched>,
) -> Prepared {
    let label = format!("{}-{}", job.name, job.version);
    // Neither directory exists yet: linking from the store creates the stage, and only a
    // download or build creates the work directory (a warm install never does).
    let stage = options
        .tree
        .staging_dir(lock, &label)
        .map_err(|e| e.to_string())?;
    let work = options
        .tree
        .work_dir(lock, &label)
        .map_err(|e| e.to_string())?;
    let bounds = options.servers.unpack;
    // Stages linked from the store have their modes and digests; a build in place gets
    // its modes here (so the tree never changes a file's mode: with hard links that would
    // reach the store), and its digests when the tree writes its rock_manifest.
    let (entry, sha, md5) = match &job.origin {
        Origin::Remote {
            url,
            sha256,
            commit,
        } => {
            let fetched = match fetched {
                Some(fetched) => fetched,
                None => fetcher.get(url).map_err(|e| e.to_string())?,
            };
            if let Some(expected) = sha256 {
                if !expected.eq_ignore_ascii_case(&fetched.sha256) {
                    return Err(format!(
                        "{} {}: checksum mismatch for {url}: the lock says sha256 {expected}, the file has {}; refusing to install it",
                        job.name, job.version, fetched.sha256
                    ));
                }
            }
            if url.ends_with(".rockspec") {
                let text = String::from_utf8_lossy(&fetched.bytes).into_owned();
                let spec = Rockspec::parse(&text, url).map_err(|e| e.to_string())?;
                let unpacked = work.join("src");
                // The rockspec and its sources (an archive's sha256, a git commit) pin what
                // gets built: stored like a source rock, and then not even unpacked.
                let store = Store::new(fetcher.root());
                let key_of = |sha: &str| {
                    Store::key(&rockspec_identity(
                        job,
                        &fetched.sha256,
                        sha,
                        &options.target,
                    ))
                };
                let commit = commit.as_deref();
                let (sha, unpacked_now) =
                    fetch_source_unless(&spec, fetcher, &unpacked, None, commit, bounds, &|sha| {
                        store.contains(&key_of(sha))
                    })?;
                let key = key_of(&sha);
                let mode = options.servers.link_mode;
                let (entry, md5) = match link_stored(&store, &key, &stage, mode)? {
                    Some(linked) => linked,
                    None => {
                        if !unpacked_now {
                            // The stored entry was altered or went away meanwhile.
                            fetch_source(&spec, fetcher, &unpacked, None, commit, bounds)?;
                        }
                        let built = build_sources(&spec, &unpacked, &stage, &options.target)?;
                        let entry = entry_of(text, built);
                        let md5 = store_and_link(&store, &key, &stage, &entry, mode, job)?;
                        (entry, md5)
                    }
                };
                (entry, Some(sha), md5)
            } else {
                let store = Store::new(fetcher.root());
                let key = Store::key(&rock_identity(job, url, &fetched.sha256, &options.target));
                let mode = options.servers.link_mode;
                let (entry, md5) = match link_stored(&store, &key, &stage, mode)? {
                    Some(linked) => linked,
                    None => {
                        let entry = unpack_rock(
                            job, url, &fetched, &work, &stage, fetcher, bounds, options,
                        )?;
                        let md5 = store_and_link(&store, &key, &stage, &entry, mode, job)?;
                        (entry, md5)
                    }
                };
                (entry, Some(fetched.sha256), md5)
            }
        }
        Origin::LocalRockspec(path) => {
            let text = fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
            let spec =
                Rockspec::parse(&text, &path.display().to_string()).map_err(|e| e.to_string())?;
            let base = path.parent().unwrap_or(Path::new("."));
            let unpacked = work.join("src");
            let sha = fetch_source(&spec, fetcher, &unpacked, Some(base), None, bounds)?;
            let built = build_sources(&spec, &unpacked, &stage, &options.target)?;
            set_deploy_modes(&stage);
            (entry_of(text, built), Some(sha), Digests::new())
        }
    };
    let rockspec = Rockspec::parse(&entry.rockspec, &label).map_err(|e| e.to_string())?;
    let dependencies = rockspec
        .dependencies
        .iter()
        .filter_map(|d| {
            resolved
                .get(d.name.as_str())
                .map(|v| (d.name.to_string(), v.clone()))
        })
        .collect();
    let rock = InstalledRock {
        name: job.name.clone(),
        version: job.version.clone(),
        modules: entry.modules,
        commands: entry.commands,
        dependencies,
        constraints: rockspec.dependencies.clone(),
    };
    Ok((
        StagedRock {
            rock,
            stage,
            rockspec_text: entry.rockspec,
            launcher: options.launcher.clone(),
            modes_deployed: true,
            md5,
        },
        sha,
    ))
}

/// md5 (hex) of staged files by path relative to the stage.
type Digests = BTreeMap<String, String>;

fn entry_of(rockspec: String, built: Built) -> Entry {
    Entry {
        rockspec,
        modules: built.modules,
        commands: built.commands,
    }
}

/// What decides a stored rock's files: the rock itself, the name and version it is installed
/// as (its rockspec file and `rock_manifest` are stored too) and, for a source rock,
/// everything its build depends on — the Lua, its headers and library, the compiler and
/// flags, and pylua's own version (its build rules).
fn rock_identity(job: &Job, url: &str, rock_sha256: &str, target: &Target) -> String {
    let package = format!("{} {}", job.name, job.version);
    if url.ends_with(".src.rock") {
        format!(
            "build\n{rock_sha256}\n{package}\n{}",
            build_identity(target)
        )
    } else {
        // A prebuilt rock is deployed as it is, whatever the target.
        format!(
            "prebuilt\n{rock_sha256}\n{package}\n{}",
            env!("CARGO_PKG_VERSION")
        )
    }
}

/// What decides the files of a package built from a rockspec on a server: the rockspec, its
/// sources (`source_sha`: the archive's sha256, or the git commit checked out), the name and
/// version it is installed as, and the build.
fn rockspec_identity(
    job: &Job,
    rockspec_sha256: &str,
    source_sha: &str,
    target: &Target,
) -> String {
    format!(
        "rockspec build\n{rockspec_sha256}\n{source_sha}\n{} {}\n{}",
        job.name,
        job.version,
        build_identity(target)
    )
}

/// Everything a build depends on besides the package: the Lua, its headers and library, the
/// compiler and flags, and pylua's own version (its build rules).
fn build_identity(target: &Target) -> String {
    format!(
        "{}\n{}\n{:?}\n{:?}\n{}\n{}",
        target.lua_version,
        target.incdir.display(),
        target.libdir,
        target.lualib,
        crate::compiler::build_identity(),
        env!("CARGO_PKG_VERSION"),
    )
}

/// Links the stored entry for `key` into `stage`: None when there is none, or when it was
/// altered (then it is discarded, and the caller builds a fresh one).
fn link_stored(
    store: &Store,
    key: &str,
    stage: &Path,
    mode: LinkMode,
) -> Result<Option<(Entry, Digests)>, String> {
    let fail = |e: std::io::Error| format!("{}: {e}", store.entry_dir(key).display());
    match store.link_into(key, stage, mode).map_err(fail)? {
        Lookup::Linked(entry, md5) => Ok(Some((entry, md5))),
        Lookup::Missing => Ok(None),
        Lookup::Altered(why) => {
            tracing::warn!(
                "{why}: a stored package changed after it was stored (an installed file edited in place?); discarding it and building it again"
            );
            store.discard(key);
            fs::remove_dir_all(stage).map_err(|e| format!("{}: {e}", stage.display()))?;
            Ok(None)
        }
    }
}

/// Puts a freshly filled `stage` into the store and links it back; a store that cannot be
/// written only costs a rebuild later, and the stage is then used as it is (no digests).
fn store_and_link(
    store: &Store,
    key: &str,
    stage: &Path,
    entry: &Entry,
    mode: LinkMode,
    job: &Job,
) -> Result<Digests, String> {
    set_deploy_modes(stage);
    add_rock_files(stage, job, &entry.rockspec)?;
    if let Err(e) = store.insert(key, stage, entry) {
        tracing::debug!(error = %e, "cannot write the package store; installing from the stage");
        return Ok(Digests::new());
    }
    match link_stored(store, key, stage, mode)? {
        Some((_, md5)) => Ok(md5),
        None => Err(format!(
            "{}: the stored package vanished while it was being installed (another pylua cleaning the cache?); try again",
            store.entry_dir(key).display()
        )),
    }
}

/// Writes into a freshly filled stage the rockspec file and (unless the rock brought its own)
/// the `rock_manifest` the tree's transaction would write, so that the store keeps them and
/// every install links them: two files fewer to create per package (each one an inode).
/// The tree's transaction finds them in place and leaves them.
fn add_rock_files(stage: &Path, job: &Job, rockspec: &str) -> Result<(), String> {
    let rock = stage.join("rock");
    let fail = |e: std::io::Error| format!("{}: {e}", rock.display());
    fs::create_dir_all(&rock).map_err(fail)?;
    let name = format!("{}-{}.rockspec", job.name, job.version);
    let path = rock.join(&name);
    if !fs::read(&path).is_ok_and(|t| t == rockspec.as_bytes()) {
        // A stage's files are its own (never links into the store), yet replaced rather
        // than written through, as everywhere else.
        let _ = fs::remove_file(&path);
        fs::write(&path, rockspec).map_err(fail)?;
    }
    let manifest = rock.join("rock_manifest");
    if fs::symlink_metadata(&manifest).is_err() {
        let text = rock_manifest_text(stage, &Digests::new(), &name, rockspec);
        fs::write(&manifest, text).map_err(fail)?;
    }
    Ok(())
}

/// Unpacks a rock and fills `stage`: a source rock is built, a prebuilt rock deployed as
/// LuaRocks does (`lua/`, `lib/` and `bin/`; everything else stays in the rock's directory).
#[allow(clippy::too_many_arguments)]
fn unpack_rock(
    job: &Job,
    url: &str,
    fetched: &Fetched,
    work: &Path,
    stage: &Path,
    fetcher: &Fetcher,
    bounds: Bounds,
    options: &super::InstallOptions,
) -> Result<Entry, String> {
    let rock_dir = work.join("rock");
    fs::create_dir_all(&rock_dir).map_err(|e| e.to_string())?;
    archive::unpack(&fetched.bytes, url, &rock_dir, bounds).map_err(|e| e.to_string())?;
    let name = url
        .rsplit('/')
        .next()
        .and_then(|f| f.strip_suffix(".rock"))
        .and_then(|f| f.rsplit_once('.'))
        .map(|(base, _arch)| format!("{base}.rockspec"))
        .unwrap_or_else(|| format!("{}-{}.rockspec", job.name, job.version));
    let text = fs::read_to_string(rock_dir.join(&name))
        .map_err(|_| format!("{url}: the rock has no {name}"))?;
    let spec = Rockspec::parse(&text, &format!("{url}!/{name}")).map_err(|e| e.to_string())?;
    if url.ends_with(".src.rock") {
        let unpacked = work.join("src");
        fetch_source(&spec, fetcher, &unpacked, Some(&rock_dir), None, bounds)?;
        let built = build_sources(&spec, &unpacked, stage, &options.target)?;
        return Ok(entry_of(text, built));
    }
    let source_dir = source_dir(&spec, &rock_dir);
    fs::create_dir_all(stage.join("rock")).map_err(|e| e.to_string())?;
    for item in fs::read_dir(&source_dir).map_err(|e| e.to_string())? {
        let item = item.map_err(|e| e.to_string())?;
        let name = item.file_name();
        let to = match name.to_str() {
            Some("lua" | "lib" | "bin") => stage.join(&name),
            _ => stage.join("rock").join(&name),
        };
        let kind = item.file_type().map_err(|e| e.to_string())?;
        if kind.is_dir() {
            build::copy_tree(&item.path(), &to).map_err(|e| e.to_string())?;
        } else if kind.is_file() {
            fs::copy(item.path(), &to).map_err(|e| e.to_string())?;
        }
    }
    Ok(entry_of(text, build::scan(stage)))
}

/// The directory holding the sources: `source.dir` when it exists, else the one directory
/// the archive unpacked to, else where it unpacked.
fn source_dir(spec: &Rockspec, root: &Path) -> std::path::PathBuf {
    match &spec.source.dir {
        Some(dir) if root.join(dir).is_dir() => root.join(dir),
        _ => archive::single_root(root).unwrap_or(root.to_path_buf()),
    }
}

fn build_sources(
    spec: &Rockspec,
    unpacked: &Path,
    stage: &Path,
    target: &Target,
) -> Result<Built, String> {
    build::build(spec, &source_dir(spec, unpacked), stage, target).map_err(|e| e.to_string())
}

/// Gets the sources a rockspec names into `dest` (created): from inside the rock (`.src.rock`), from a
/// file next to a local rockspec, from a URL (through the cache), or from git. Checks
/// `source.md5`; returns the sha256 of the archive.
pub(super) fn fetch_source(
    spec: &Rockspec,
    fetcher: &Fetcher,
    dest: &Path,
    local: Option<&Path>,
    commit: Option<&str>,
    bounds: Bounds,
) -> Result<String, String> {
    fetch_source_unless(spec, fetcher, dest, local, commit, bounds, &|_| false).map(|(sha, _)| sha)
}

/// [`fetch_source`], leaving an archive packed when `skip` says its sha256 needs no
/// unpacking (the build it would feed is stored already); says whether `dest` holds the
/// sources. A git checkout is the fetch itself, so it always lands in `dest`.
fn fetch_source_unless(
    spec: &Rockspec,
    fetcher: &Fetcher,
    dest: &Path,
    local: Option<&Path>,
    commit: Option<&str>,
    bounds: Bounds,
    skip: &dyn Fn(&str) -> bool,
) -> Result<(String, bool), String> {
    let url = &spec.source.url;
    let what = || format!("{} {}", spec.package, spec.version);
    if let Some(git) =
        git::GitUrl::from_source_url(url).map_err(|e| format!("{}: source.url: {e}", what()))?
    {
        let commit = commit
            .map(git::CommitId::parse)
            .transpose()
            .map_err(|e| format!("{}: the locked commit {e}", what()))?;
        fs::create_dir_all(dest).map_err(|e| format!("{}: {e}", dest.display()))?;
        return git_checkout(&git, spec, dest, commit.as_ref()).map(|sha| (sha, true));
    }
    // The file name the sources are kept under: `source.file`, else the URL's last part,
    // which must be a plain file name too.
    let file_name = match &spec.source.file {
        Some(file) => file.clone(),
        None => RelativePath::parse(url.rsplit('/').next().unwrap_or(url))
            .ok()
            .filter(|p| !p.contains('/'))
            .ok_or_else(|| {
                format!(
                    "{}: source.url {} does not end with a file name; set source.file",
                    what(),
                    crate::packages::names::quote(url)
                )
            })?,
    };
    let (bytes, origin) = match local.map(|d| d.join(&file_name)).filter(|p| p.is_file()) {
        Some(path) => (
            fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?,
            path.display().to_string(),
        ),
        None => {
            let fetched = fetcher.get(url).map_err(|e| {
                format!(
                    "{} {}: cannot fetch sources: {e}",
                    spec.package, spec.version
                )
            })?;
            (fetched.bytes, url.clone())
        }
    };
    if let Some(expected) = &spec.source.md5 {
        let actual = hex(&Md5::digest(&bytes));
        if !actual.eq_ignore_ascii_case(expected) {
            return Err(format!(
                "{} {}: checksum mismatch for {origin}: the rockspec says md5 {expected}, the file has {actual}; refusing to build it",
                spec.package, spec.version
            ));
        }
    }
    let sha = crate::packages::cache::sha256_hex(&bytes);
    if skip(&sha) {
        return Ok((sha, false));
    }
    fs::create_dir_all(dest).map_err(|e| format!("{}: {e}", dest.display()))?;
    if archive::is_archive(&file_name) {
        archive::unpack(&bytes, &file_name, dest, bounds).map_err(|e| e.to_string())?;
    } else {
        // A single source file (some rockspecs point at one .lua file).
        fs::write(dest.join(&file_name), &bytes).map_err(|e| e.to_string())?;
    }
    Ok((sha, true))
}

fn git_checkout(
    url: &git::GitUrl,
    spec: &Rockspec,
    dest: &Path,
    commit: Option<&git::CommitId>,
) -> Result<String, String> {
    // The checkout goes where `source.dir` says, else under the repository's name (a plain
    // file name, or `src` when the URL's last part is not one).
    let dir = spec.source.dir.clone().unwrap_or_else(|| {
        RelativePath::parse(
            url.as_str()
                .trim_end_matches(".git")
                .rsplit('/')
                .next()
                .unwrap_or(""),
        )
        .ok()
        .filter(|p| !p.contains('/'))
        .unwrap_or_else(|| RelativePath::parse("src").expect("a valid path"))
    });
    let checkout = dest.join(dir.as_str());
    let reference = spec.source.tag.as_ref().or(spec.source.branch.as_ref());
    let head = git::checkout(url, reference, commit, &checkout)
        .map_err(|e| format!("{} {}: {e}", spec.package, spec.version))?;
    Ok(format!("git:{head}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rock(files: &[(&str, &str)]) -> Vec<u8> {
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for (name, text) in files {
            zip.start_file(*name, zip::write::SimpleFileOptions::default())
                .unwrap();
            std::io::Write::write_all(&mut zip, text.as_bytes()).unwrap();
        }
        zip.finish().unwrap().into_inner()
    }

    #[test]
    fn a_stored_package_is_linked_straight_into_its_stage_with_no_work_directory() {
        let dir = tempfile::tempdir().unwrap();
        let rock_path = dir.path().join("demo-1.0-1.all.rock");
        fs::write(
            &rock_path,
            rock(&[
                (
                    "demo-1.0-1.rockspec",
                    "package = 'demo'\nversion = '1.0-1'\nsource = { url = 'x' }\n",
                ),
                ("lua/demo.lua", "return 'demo'"),
                ("doc/README", "read me"),
            ]),
        )
        .unwrap();
        let tree = crate::packages::tree::Tree::new(dir.path().join("tree"), "5.4");
        let options = super::super::InstallOptions {
            servers: crate::operations::query::ServerOptions::default(),
            tree: tree.clone(),
            target: Target {
                lua_version: "5.4".into(),
                incdir: dir.path().to_path_buf(),
                libdir: None,
                lualib: None,
                interpreter: None,
            },
            launcher: "pylua run".into(),
            jobs: 1,
            progress: None,
        };
        let fetcher = Fetcher::new(dir.path().join("cache"), true);
        let job = Job {
            name: "demo".into(),
            version: crate::packages::version::Version::parse("1.0-1").unwrap(),
            origin: Origin::Remote {
                url: format!("file://{}", rock_path.display()),
                sha256: None,
                commit: None,
            },
        };
        let lock = tree.lock().unwrap();
        let txn = tree.root().join(".pylua-txn");
        let work = txn.join("work-demo-1.0-1");
        let check = |staged: &StagedRock| {
            assert_eq!(staged.stage, txn.join("stage-demo-1.0-1"));
            assert_eq!(
                fs::read_to_string(staged.stage.join("lua/demo.lua")).unwrap(),
                "return 'demo'"
            );
            assert!(staged.stage.join("rock/doc/README").is_file());
            assert!(
                staged.md5.contains_key("lua/demo.lua"),
                "linked from the store"
            );
        };
        // Cold: unpacked in the work directory, stored, linked back.
        let (staged, _) = prepare(&job, &fetcher, &options, &lock, &BTreeMap::new(), None).unwrap();
        check(&staged);
        assert!(work.is_dir());
        tree.discard_staging(&lock);
        // Warm: linked from the store, nothing unpacked, no work directory made.
        let (staged, _) = prepare(&job, &fetcher, &options, &lock, &BTreeMap::new(), None).unwrap();
        check(&staged);
        assert!(
            !work.exists(),
            "a package linked from the store needs no work directory"
        );
        assert_eq!(
            fs::read_dir(&txn).unwrap().count(),
            1,
            "only the stage is in the transaction directory"
        );
        // The rockspec file and rock_manifest come from the store, ready to install ...
        for rel in ["rock/demo-1.0-1.rockspec", "rock/rock_manifest"] {
            assert!(
                staged.md5.contains_key(rel),
                "{rel} is linked from the store"
            );
        }
        // ... and the tree gets the very files the transaction writes for a stage lacking
        // them (the same stage, its two files removed).
        let bare = dir.path().join("bare");
        build::copy_tree(&staged.stage, &bare).unwrap();
        fs::remove_file(bare.join("rock/demo-1.0-1.rockspec")).unwrap();
        fs::remove_file(bare.join("rock/rock_manifest")).unwrap();
        let mut written = staged.clone();
        written.stage = bare;
        written.md5 = BTreeMap::new();
        let other = crate::packages::tree::Tree::new(dir.path().join("other"), "5.4");
        let mut txn = tree.transaction(&lock);
        txn.add(staged);
        txn.commit().unwrap();
        let other_lock = other.lock().unwrap();
        let mut txn = other.transaction(&other_lock);
        txn.add(written);
        txn.commit().unwrap();
        let rock_dir = |t: &crate::packages::tree::Tree| t.rock_dir("demo", &job.version);
        for file in ["demo-1.0-1.rockspec", "rock_manifest", "doc/README"] {
            assert_eq!(
                fs::read(rock_dir(&tree).join(file)).unwrap(),
                fs::read(rock_dir(&other).join(file)).unwrap(),
                "{file}"
            );
        }
        let manifest = fs::read_to_string(rock_dir(&tree).join("rock_manifest")).unwrap();
        assert!(
            manifest.contains("[\"demo-1.0-1.rockspec\"]") && manifest.contains("README"),
            "{manifest}"
        );
    }

    #[test]
    fn compiles_are_told_from_the_rockspec_text() {
        let c = r#"build = { type = "builtin", modules = { lfs = "src/lfs.c" } }"#;
        let c_list =
            "build = { type = 'builtin', modules = { ['term.core'] = { sources = { 'core.c' } } } }";
        let make = r#"build = { type = "make" }"#;
        let lua = r#"build = { type = "builtin", modules = { say = "src/say/init.lua" } }"#;
        assert!(names_a_compile(c.as_bytes()));
        assert!(names_a_compile(c_list.as_bytes()));
        assert!(names_a_compile(make.as_bytes()));
        assert!(!names_a_compile(lua.as_bytes()));
        assert!(!names_a_compile(b""));
    }

    #[test]
    fn the_rockspec_is_read_from_the_top_of_a_source_rock() {
        let bytes = rock(&[
            (
                "lfs-1.0-1.rockspec",
                "build = { modules = { lfs = 'lfs.c' } }",
            ),
            ("lfs-1.0.tar.gz", "not read"),
            ("sub/other.rockspec", "not this one"),
        ]);
        let text = rockspec_in_rock(&bytes).unwrap();
        assert!(names_a_compile(&text));
        assert_eq!(rockspec_in_rock(&rock(&[("sub/x.rockspec", "x")])), None);
        assert_eq!(rockspec_in_rock(b"not a zip"), None);
        // A huge rockspec is read only in part (a hint needs no more).
        let huge = "-".repeat(3 << 20);
        let text = rockspec_in_rock(&rock(&[("big-1-1.rockspec", &huge)])).unwrap();
        assert_eq!(text.len(), 1 << 20);
    }
}
