//! Git sources (`git+https://`, `git://`, `git+file://` in a rockspec's `source.url`): which
//! commit a tag or branch names now, and checking out exactly one commit. Uses the `git`
//! command, never prompting for credentials.

use std::path::Path;
use std::process::Command;

/// The URL git understands, if `url` is a git source.
pub fn git_url(url: &str) -> Option<String> {
    if let Some(rest) = url.strip_prefix("git+") {
        Some(rest.to_string())
    } else if url.starts_with("git://") {
        Some(url.to_string())
    } else {
        None
    }
}

fn git() -> Command {
    let mut cmd = Command::new("git");
    cmd.env("GIT_TERMINAL_PROMPT", "0");
    cmd
}

fn run(mut cmd: Command, what: &str) -> Result<String, String> {
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run git (needed for {what}): {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{what} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The commit `reference` (a tag or branch; HEAD when None) names on the remote now.
pub fn remote_commit(url: &str, reference: Option<&str>) -> Result<String, String> {
    let mut cmd = git();
    cmd.args(["ls-remote", url, reference.unwrap_or("HEAD")]);
    let listing = run(cmd, &format!("git ls-remote {url}"))?;
    // An annotated tag is listed twice; the `^{}` line is the commit it points at.
    let lines: Vec<(&str, &str)> = listing.lines().filter_map(|l| l.split_once('\t')).collect();
    lines
        .iter()
        .find(|(_, name)| name.ends_with("^{}"))
        .or_else(|| lines.first())
        .map(|(sha, _)| sha.to_string())
        .ok_or_else(|| {
            format!(
                "{url} has no {}",
                reference.map_or("HEAD".to_string(), |r| format!("tag or branch '{r}'"))
            )
        })
}

/// Checks out `url` into `dest`: exactly `commit` when given (the lock's pin), else the tip
/// of `reference`. Returns the commit checked out. `.git` is removed afterwards.
pub fn checkout(
    url: &str,
    reference: Option<&str>,
    commit: Option<&str>,
    dest: &Path,
) -> Result<String, String> {
    let mut clone = git();
    clone.args(["clone", "--quiet"]);
    if commit.is_none() {
        clone.args(["--depth", "1"]);
        if let Some(r) = reference {
            clone.args(["--branch", r]);
        }
    }
    clone.arg(url).arg(dest);
    run(clone, &format!("git clone {url}"))?;
    if let Some(commit) = commit {
        let mut co = git();
        co.arg("-C")
            .arg(dest)
            .args(["checkout", "--quiet", "--detach", commit]);
        run(co, &format!("checking out commit {commit} of {url}")).map_err(|e| {
            format!("{e} (the lock pins commit {commit}; `pylua update` locks the current one)")
        })?;
    }
    let mut head = git();
    head.arg("-C").arg(dest).args(["rev-parse", "HEAD"]);
    let head = run(head, "git rev-parse HEAD")?.trim().to_string();
    let _ = std::fs::remove_dir_all(dest.join(".git"));
    Ok(head)
}
