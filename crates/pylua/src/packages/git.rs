//! Git sources (`git+https://`, `git://`, `git+file://` in a rockspec's `source.url`): which
//! commit a tag or branch names now, and checking out exactly one commit.
//!
//! The URL, the tag or branch and the commit all come from a rockspec or a lockfile, so they
//! are parsed into [`GitUrl`], [`GitRef`] and [`CommitId`] first: only known transports, no
//! value that git could read as an option, and refs that `git check-ref-format` accepts.
//! `git` itself runs with every URL and path after `--`, no hooks, no credential prompts or
//! helpers, the `ext::` transport off, `file://` allowed only for a `git+file://` source, and a
//! time limit after which its whole process group is killed.

use std::fmt;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long one git command may run before it is killed, unless `PYLUA_GIT_TIMEOUT` (seconds)
/// says otherwise. A clone of the largest Lua repositories takes well under a minute.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// The transports a rockspec may name, with the prefix git is given instead.
const SCHEMES: [(&str, &str); 5] = [
    ("git://", "git://"),
    ("git+https://", "https://"),
    ("git+http://", "http://"),
    ("git+ssh://", "ssh://"),
    ("git+file://", "file://"),
];

/// A git URL from a rockspec, as git is given it (`git+https://h/r.git` → `https://h/r.git`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitUrl {
    url: String,
}

impl GitUrl {
    /// `Ok(None)` when `url` is not a git source; an error when it looks like one (`git+…`,
    /// `git:…`) but is not one of the accepted transports or holds characters git could
    /// misread.
    pub fn from_source_url(url: &str) -> Result<Option<GitUrl>, String> {
        let lower = url.to_ascii_lowercase();
        if !(lower.starts_with("git+") || lower.starts_with("git:")) {
            return Ok(None);
        }
        let Some((prefix, git_prefix)) = SCHEMES.iter().find(|(p, _)| lower.starts_with(p)) else {
            return Err(format!(
                "{}: unsupported git URL (expected git://, git+https://, git+http://, git+ssh:// or git+file://)",
                super::names::quote(url)
            ));
        };
        let rest = &url[prefix.len()..];
        if rest.is_empty() || rest.starts_with('-') {
            return Err(format!(
                "{}: the git URL has no host or path after '{prefix}'",
                super::names::quote(url)
            ));
        }
        if rest.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!(
                "{}: a git URL cannot hold whitespace or control characters",
                super::names::quote(url)
            ));
        }
        Ok(Some(GitUrl {
            url: format!("{git_prefix}{rest}"),
        }))
    }

    pub fn as_str(&self) -> &str {
        &self.url
    }

    fn is_file(&self) -> bool {
        self.url.starts_with("file://")
    }
}

impl fmt::Display for GitUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.url)
    }
}

/// A tag or branch name, checked with the rules of `git check-ref-format` (for a one-level
/// name, as `--branch` and `ls-remote` take them) and never starting with `-`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct GitRef(String);

impl GitRef {
    pub fn parse(text: &str) -> Result<GitRef, String> {
        let bad = |why: &str| Err(format!("{}: {why}", super::names::quote(text)));
        if text.is_empty() {
            return bad("a tag or branch cannot be empty");
        }
        if text.len() > 255 {
            return bad("a tag or branch is at most 255 bytes");
        }
        if text.starts_with('-') {
            return bad("a tag or branch cannot start with '-'");
        }
        if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return bad("a tag or branch cannot hold whitespace or control characters");
        }
        if let Some(c) = text
            .chars()
            .find(|c| matches!(c, '~' | '^' | ':' | '?' | '*' | '[' | '\\'))
        {
            return Err(format!(
                "{}: '{c}' is not allowed in a git tag or branch",
                super::names::quote(text)
            ));
        }
        if text == "@" || text.contains("@{") {
            return bad("'@' alone and '@{' are not allowed in a git tag or branch");
        }
        if text.contains("..") {
            return bad("'..' is not allowed in a git tag or branch");
        }
        if text.starts_with('/') || text.ends_with('/') || text.contains("//") {
            return bad("a git tag or branch cannot start or end with '/' or hold '//'");
        }
        if text.ends_with('.') {
            return bad("a git tag or branch cannot end with '.'");
        }
        for part in text.split('/') {
            if part.starts_with('.') {
                return bad("no part of a git tag or branch may start with '.'");
            }
            if part.ends_with(".lock") {
                return bad("no part of a git tag or branch may end with '.lock'");
            }
        }
        Ok(GitRef(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for GitRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A full commit id (40 hex digits for SHA-1, 64 for SHA-256), as a lock pins it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitId(String);

impl CommitId {
    pub fn parse(text: &str) -> Result<CommitId, String> {
        if (text.len() == 40 || text.len() == 64) && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(CommitId(text.to_ascii_lowercase()))
        } else {
            Err(format!(
                "{}: expected a full commit id (40 or 64 hex digits)",
                super::names::quote(text)
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `git` with settings no repository or environment can change: no hooks, no fsmonitor, no
/// credential helpers or prompts, no `ext::` transport, and `file://` only when `file` is set.
fn git(file: bool) -> Command {
    let mut cmd = Command::new("git");
    for setting in [
        "core.hooksPath=/dev/null",
        "core.fsmonitor=false",
        "credential.helper=",
        "protocol.ext.allow=never",
        if file {
            "protocol.file.allow=always"
        } else {
            "protocol.file.allow=never"
        },
    ] {
        cmd.arg("-c").arg(setting);
    }
    cmd.env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_ASKPASS", "")
        .env("SSH_ASKPASS", "")
        .env("GCM_INTERACTIVE", "never")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_CONFIG_PARAMETERS")
        .stdin(Stdio::null());
    cmd
}

/// The time limit of one git command.
pub fn timeout() -> Duration {
    std::env::var("PYLUA_GIT_TIMEOUT")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .filter(|s| *s > 0)
        .map_or(DEFAULT_TIMEOUT, Duration::from_secs)
}

fn run(cmd: Command, what: &str) -> Result<String, String> {
    run_limited(cmd, what, timeout())
}

/// Runs `cmd` in its own process group; kills the group when it outlives `limit`.
fn run_limited(mut cmd: Command, what: &str, limit: Duration) -> Result<String, String> {
    use std::os::unix::process::CommandExt;
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot run git (needed for {what}): {e}"))?;
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut out = Vec::new();
            if let Some(mut p) = pipe {
                // At most 16 MiB: a listing or an error message, never more.
                let _ = p.by_ref().take(16 << 20).read_to_end(&mut out);
                let _ = std::io::copy(&mut p, &mut std::io::sink());
            }
            out
        })
    };
    let stdout = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if start.elapsed() >= limit => {
                // SAFETY: kill(2) with a negative pid signals the process group the child
                // leads (process_group(0) made it a leader); it touches no memory of ours.
                unsafe {
                    libc::kill(-(child.id() as i32), libc::SIGKILL);
                }
                let _ = child.wait();
                return Err(format!(
                    "{what} took longer than {} s and was stopped (set PYLUA_GIT_TIMEOUT to a number of seconds to allow more)",
                    limit.as_secs()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("{what}: {e}")),
        }
    };
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    if !status.success() {
        return Err(format!(
            "{what} failed: {}",
            String::from_utf8_lossy(&stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&stdout).into_owned())
}

/// The commit `reference` (a tag or branch; HEAD when None) names on the remote now.
pub fn remote_commit(url: &GitUrl, reference: Option<&GitRef>) -> Result<String, String> {
    let mut cmd = git(url.is_file());
    cmd.args(["ls-remote", "--"])
        .arg(url.as_str())
        .arg(reference.map_or("HEAD", GitRef::as_str));
    let listing = run(cmd, &format!("git ls-remote {url}"))?;
    // An annotated tag is listed twice; the `^{}` line is the commit it points at.
    let lines: Vec<(&str, &str)> = listing.lines().filter_map(|l| l.split_once('\t')).collect();
    let sha = lines
        .iter()
        .find(|(_, name)| name.ends_with("^{}"))
        .or_else(|| lines.first())
        .map(|(sha, _)| sha.to_string())
        .ok_or_else(|| {
            format!(
                "{url} has no {}",
                reference.map_or("HEAD".to_string(), |r| format!("tag or branch '{r}'"))
            )
        })?;
    CommitId::parse(&sha).map_err(|e| format!("git ls-remote {url} answered {e}"))?;
    Ok(sha)
}

/// Checks out `url` into `dest`: exactly `commit` when given (the lock's pin), else the tip
/// of `reference`. Returns the commit checked out. `.git` is removed afterwards.
pub fn checkout(
    url: &GitUrl,
    reference: Option<&GitRef>,
    commit: Option<&CommitId>,
    dest: &Path,
) -> Result<String, String> {
    let mut clone = git(url.is_file());
    clone.args(["clone", "--quiet", "--no-recurse-submodules"]);
    if commit.is_none() {
        clone.args(["--depth", "1"]);
        if let Some(r) = reference {
            clone.arg("--branch").arg(r.as_str());
        }
    }
    clone.arg("--").arg(url.as_str()).arg(dest);
    run(clone, &format!("git clone {url}"))?;
    if let Some(commit) = commit {
        let mut co = git(false);
        co.arg("-C")
            .arg(dest)
            .args(["checkout", "--quiet", "--detach"])
            .arg(commit.as_str())
            .arg("--");
        run(
            co,
            &format!("checking out commit {} of {url}", commit.as_str()),
        )
        .map_err(|e| {
            format!(
                "{e} (the lock pins commit {}; updating the lock takes the current one)",
                commit.as_str()
            )
        })?;
    }
    let mut head = git(false);
    head.arg("-C").arg(dest).args(["rev-parse", "HEAD"]);
    let head = run(head, "git rev-parse HEAD")?.trim().to_string();
    let _ = std::fs::remove_dir_all(dest.join(".git"));
    // A repository may hold any symbolic link; one that points out of the checkout would let
    // `install` or `copy_directories` copy a file of this machine into the tree.
    if let Some(link) = escaping_link(dest, Path::new("")) {
        return Err(format!(
            "{url}: the symbolic link '{}' points outside the repository; refusing to build from it",
            link.display()
        ));
    }
    Ok(head)
}

/// The first symbolic link under `root/rel` whose target is absolute or climbs out of `root`.
fn escaping_link(root: &Path, rel: &Path) -> Option<std::path::PathBuf> {
    for entry in std::fs::read_dir(root.join(rel)).ok()?.flatten() {
        let rel = rel.join(entry.file_name());
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_symlink() {
            let target = std::fs::read_link(entry.path()).ok()?;
            let mut depth = rel.components().count() as i64 - 1;
            let inside = !target.is_absolute()
                && target.components().all(|c| {
                    match c {
                        std::path::Component::ParentDir => depth -= 1,
                        std::path::Component::Normal(_) => depth += 1,
                        std::path::Component::CurDir => {}
                        _ => depth = -1,
                    }
                    depth >= 0
                });
            if !inside {
                return Some(rel);
            }
        } else if kind.is_dir() {
            if let Some(found) = escaping_link(root, &rel) {
                return Some(found);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_known_transports_are_git_urls() {
        for (url, git) in [
            (
                "git+https://github.com/a/b.git",
                "https://github.com/a/b.git",
            ),
            ("git://github.com/a/b", "git://github.com/a/b"),
            ("git+ssh://git@h/r", "ssh://git@h/r"),
            ("git+file:///srv/repo", "file:///srv/repo"),
            ("git+http://h/r", "http://h/r"),
        ] {
            assert_eq!(GitUrl::from_source_url(url).unwrap().unwrap().as_str(), git);
        }
        for url in ["https://h/a.tar.gz", "file:///x.tar.gz", "http://h/x.zip"] {
            assert_eq!(GitUrl::from_source_url(url).unwrap(), None);
        }
        for (url, why) in [
            ("git+--upload-pack=touch /tmp/x;", "unsupported git URL"),
            ("git+ext::sh -c touch% /tmp/x", "unsupported git URL"),
            ("git:--upload-pack=x", "unsupported git URL"),
            ("git+https://-oProxyCommand=x", "no host"),
            ("git+https://h/r x", "whitespace"),
            ("git+https://", "no host"),
        ] {
            let e = GitUrl::from_source_url(url).unwrap_err();
            assert!(e.contains(why), "{url}: {e}");
        }
    }

    #[test]
    fn refs_follow_check_ref_format() {
        for r in [
            "v1.0",
            "1.0.0",
            "release/2.x",
            "main",
            "v3.1.0-rc1",
            "feature_x",
        ] {
            assert_eq!(GitRef::parse(r).unwrap().as_str(), r);
        }
        for (r, why) in [
            ("--upload-pack=touch /tmp/x", "start with '-'"),
            ("-b", "start with '-'"),
            ("v 1", "whitespace"),
            ("v\n1", "whitespace"),
            ("a..b", "'..'"),
            ("a~1", "'~'"),
            ("a^", "'^'"),
            ("a:b", "':'"),
            ("a\\b", "'\\'"),
            ("a@{1}", "'@{'"),
            ("@", "'@' alone"),
            (".hidden", "start with '.'"),
            ("a/.b", "start with '.'"),
            ("x.lock", ".lock"),
            ("a/", "'/'"),
            ("a//b", "'//'"),
            ("a.", "end with '.'"),
            ("", "empty"),
        ] {
            let e = GitRef::parse(r).unwrap_err();
            assert!(e.contains(why), "{r:?}: {e}");
        }
    }

    #[test]
    fn links_that_leave_a_checkout_are_found() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        std::fs::write(root.join("a/f"), "x").unwrap();
        std::os::unix::fs::symlink("../f", root.join("a/b/ok")).unwrap();
        std::os::unix::fs::symlink("b/../f", root.join("a/ok2")).unwrap();
        assert_eq!(escaping_link(root, Path::new("")), None);
        std::os::unix::fs::symlink("../../../etc/passwd", root.join("a/b/out")).unwrap();
        assert_eq!(
            escaping_link(root, Path::new("")),
            Some(Path::new("a/b/out").to_path_buf())
        );
        std::fs::remove_file(root.join("a/b/out")).unwrap();
        std::os::unix::fs::symlink("/etc", root.join("docs")).unwrap();
        assert_eq!(
            escaping_link(root, Path::new("")),
            Some(Path::new("docs").to_path_buf())
        );
    }

    #[test]
    fn commits_are_full_hex_ids() {
        assert!(CommitId::parse(&"a".repeat(40)).is_ok());
        assert!(CommitId::parse(&"0".repeat(64)).is_ok());
        for c in ["", "abc", "--detach", &"g".repeat(40), &"a".repeat(41)] {
            assert!(CommitId::parse(c).is_err(), "{c}");
        }
    }

    #[test]
    fn a_hanging_git_is_killed_with_its_group() {
        // A shell alias that sleeps: git and its child must both be gone after the limit.
        let mut cmd = git(false);
        cmd.args(["-c", "alias.hang=!sleep 30", "hang"]);
        let start = Instant::now();
        let e = run_limited(cmd, "git hang", Duration::from_secs(1)).unwrap_err();
        assert!(e.contains("took longer than 1 s"), "{e}");
        assert!(start.elapsed() < Duration::from_secs(10));
    }
}
