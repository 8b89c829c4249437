//! Shared test helpers: local rocks servers built on disk, served over `file://` or over a
//! small HTTP server on 127.0.0.1 (with fault injection).

#![allow(dead_code)]

pub mod net_server;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A LuaRocks server directory under construction.
pub struct RockServer {
    pub dir: PathBuf,
    entries: BTreeMap<String, BTreeMap<String, Vec<String>>>,
}

impl RockServer {
    pub fn new(dir: &Path) -> RockServer {
        std::fs::create_dir_all(dir).unwrap();
        RockServer {
            dir: dir.to_path_buf(),
            entries: BTreeMap::new(),
        }
    }

    pub fn url(&self) -> String {
        format!("file://{}", self.dir.display())
    }

    /// Adds a pure-Lua package with a loose rockspec.
    pub fn rock(&mut self, name: &str, version: &str, deps: &[&str]) -> &mut Self {
        let text = rockspec(name, version, deps);
        std::fs::write(self.dir.join(format!("{name}-{version}.rockspec")), text).unwrap();
        self.list(name, version, "rockspec")
    }

    /// Adds a package available only as a `.src.rock` (a zip holding the rockspec).
    pub fn src_rock(&mut self, name: &str, version: &str, deps: &[&str]) -> &mut Self {
        let path = self.dir.join(format!("{name}-{version}.src.rock"));
        let file = std::fs::File::create(path).unwrap();
        let mut zip = zip::ZipWriter::new(file);
        let opts = zip::write::SimpleFileOptions::default();
        zip.start_file(format!("{name}-{version}.rockspec"), opts)
            .unwrap();
        zip.write_all(rockspec(name, version, deps).as_bytes())
            .unwrap();
        zip.start_file(format!("{name}-{version}.tar.gz"), opts)
            .unwrap();
        zip.write_all(b"not really an archive").unwrap();
        zip.finish().unwrap();
        self.list(name, version, "src")
    }

    /// Adds a package with real sources: a `.src.rock` holding the rockspec and a
    /// `NAME-VERSION.tar.gz` of `files` (path, content) under `NAME-VERSION/`. `build` is the
    /// rockspec's `build` table body (Lua), e.g. `type = "builtin", modules = { m = "m.lua" }`.
    pub fn package(
        &mut self,
        name: &str,
        version: &str,
        deps: &[&str],
        files: &[(&str, &str)],
        build: &str,
    ) -> &mut Self {
        let upstream = version.rsplit_once('-').map_or(version, |(v, _)| v);
        let dir = format!("{name}-{upstream}");
        let tarball = tar_gz(&dir, files);
        let text = rockspec_with(
            name,
            version,
            deps,
            &format!("{dir}.tar.gz"),
            &dir,
            None,
            build,
        );
        let path = self.dir.join(format!("{name}-{version}.src.rock"));
        let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
        let opts = zip::write::SimpleFileOptions::default();
        zip.start_file(format!("{name}-{version}.rockspec"), opts)
            .unwrap();
        zip.write_all(text.as_bytes()).unwrap();
        zip.start_file(format!("{dir}.tar.gz"), opts).unwrap();
        zip.write_all(&tarball).unwrap();
        zip.finish().unwrap();
        self.list(name, version, "src")
    }

    /// Adds a prebuilt `.all.rock`: the rockspec plus `files` laid out as installed
    /// (`lua/…`, `bin/…`).
    pub fn all_rock(&mut self, name: &str, version: &str, files: &[(&str, &str)]) -> &mut Self {
        let text = rockspec_with(
            name,
            version,
            &[],
            "https://example.invalid/none.tar.gz",
            "none",
            None,
            r#"type = "none""#,
        );
        let path = self.dir.join(format!("{name}-{version}.all.rock"));
        let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
        let opts = zip::write::SimpleFileOptions::default();
        zip.start_file(format!("{name}-{version}.rockspec"), opts)
            .unwrap();
        zip.write_all(text.as_bytes()).unwrap();
        for (p, content) in files {
            zip.start_file(*p, opts).unwrap();
            zip.write_all(content.as_bytes()).unwrap();
        }
        zip.finish().unwrap();
        self.list(name, version, "all")
    }

    /// Writes a rockspec file with arbitrary text (for broken packages).
    pub fn raw_rockspec(&mut self, name: &str, version: &str, text: &str) -> &mut Self {
        std::fs::write(self.dir.join(format!("{name}-{version}.rockspec")), text).unwrap();
        self.list(name, version, "rockspec")
    }

    /// Adds a `.src.rock` holding exactly `rockspec` (as `NAME-VERSION.rockspec`) and `files`.
    pub fn src_rock_with(
        &mut self,
        name: &str,
        version: &str,
        rockspec: &str,
        files: &[(&str, &[u8])],
    ) -> &mut Self {
        let path = self.dir.join(format!("{name}-{version}.src.rock"));
        let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
        let opts = zip::write::SimpleFileOptions::default();
        zip.start_file(format!("{name}-{version}.rockspec"), opts)
            .unwrap();
        zip.write_all(rockspec.as_bytes()).unwrap();
        for (p, content) in files {
            zip.start_file(*p, opts).unwrap();
            zip.write_all(content).unwrap();
        }
        zip.finish().unwrap();
        self.list(name, version, "src")
    }

    /// Lists `(name, version, arch)` in the manifest without writing any file (for
    /// entries that must not correspond to one).
    pub fn list(&mut self, name: &str, version: &str, arch: &str) -> &mut Self {
        self.entries
            .entry(name.to_string())
            .or_default()
            .entry(version.to_string())
            .or_default()
            .push(arch.to_string());
        self
    }

    /// Writes the `manifest` file as LuaRocks does.
    pub fn publish(&self) -> &Self {
        let mut out = String::from("commands = {}\nmodules = {}\nrepository = {\n");
        for (name, versions) in &self.entries {
            out.push_str(&format!("   [\"{name}\"] = {{\n"));
            for (version, archs) in versions {
                out.push_str(&format!("      [\"{version}\"] = {{\n"));
                for arch in archs {
                    out.push_str(&format!(
                        "         {{\n            arch = \"{arch}\"\n         }},\n"
                    ));
                }
                out.push_str("      },\n");
            }
            out.push_str("   },\n");
        }
        out.push_str("}\n");
        std::fs::write(self.dir.join("manifest"), out).unwrap();
        self
    }

    /// Also writes `manifest-5.1` … `manifest-5.4`, which LuaRocks wants from a local server.
    pub fn publish_versioned(&self) -> &Self {
        self.publish();
        for v in ["5.1", "5.2", "5.3", "5.4"] {
            std::fs::copy(
                self.dir.join("manifest"),
                self.dir.join(format!("manifest-{v}")),
            )
            .unwrap();
        }
        self
    }
}

/// A `.tar.gz` of `files` under `dir/`.
pub fn tar_gz(dir: &str, files: &[(&str, &str)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    for (path, content) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        header.set_path(format!("{dir}/{path}")).unwrap();
        header.set_cksum();
        builder.append(&header, content.as_bytes()).unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}

/// A rockspec with the given source and build table.
pub fn rockspec_with(
    name: &str,
    version: &str,
    deps: &[&str],
    url: &str,
    dir: &str,
    md5: Option<&str>,
    build: &str,
) -> String {
    let deps: Vec<String> = deps.iter().map(|d| format!("   {d:?},")).collect();
    let md5 = md5
        .map(|m| format!("   md5 = {m:?},\n"))
        .unwrap_or_default();
    format!(
        "package = {name:?}\nversion = {version:?}\nsource = {{\n   url = {url:?},\n   dir = {dir:?},\n{md5}}}\ndescription = {{ summary = \"{name} for tests\", license = \"MIT\" }}\ndependencies = {{\n{}\n}}\nbuild = {{ {build} }}\n",
        deps.join("\n")
    )
}

pub fn rockspec(name: &str, version: &str, deps: &[&str]) -> String {
    let deps: Vec<String> = deps.iter().map(|d| format!("   {d:?},")).collect();
    format!(
        r#"package = "{name}"
version = "{version}"
source = {{
   url = "https://example.invalid/{name}-{version}.tar.gz"
}}
description = {{
   summary = "The {name} package",
   license = "MIT",
   homepage = "https://example.invalid/{name}"
}}
dependencies = {{
{}
}}
build = {{
   type = "builtin",
   modules = {{
      ["{module}"] = "src/{module}.lua"
   }}
}}
"#,
        deps.join("\n"),
        module = name.replace('-', "_"),
    )
}

/// A static HTTP server on 127.0.0.1 serving a directory, in a background thread. It stops
/// when dropped. `fail_with` makes requests for paths containing the given text answer with
/// the given status; `truncate` makes them send only half of the body they announce.
pub struct HttpServer {
    pub url: String,
    stop: Arc<AtomicBool>,
    pub fail_with: Arc<std::sync::Mutex<Option<u16>>>,
    pub fail_only: Arc<std::sync::Mutex<Option<String>>>,
    pub truncate: Arc<AtomicBool>,
    /// How many requests were answered `304 Not Modified` (every file has an ETag).
    pub not_modified: Arc<std::sync::atomic::AtomicUsize>,
}

impl HttpServer {
    pub fn serve(root: &Path) -> HttpServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let stop = Arc::new(AtomicBool::new(false));
        let fail_with = Arc::new(std::sync::Mutex::new(None));
        let fail_only: Arc<std::sync::Mutex<Option<String>>> =
            Arc::new(std::sync::Mutex::new(None));
        let truncate = Arc::new(AtomicBool::new(false));
        let (root, stop2, fail2) = (root.to_path_buf(), stop.clone(), fail_with.clone());
        let (only2, trunc2) = (fail_only.clone(), truncate.clone());
        let not_modified = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let nm2 = not_modified.clone();
        listener.set_nonblocking(true).unwrap();
        std::thread::spawn(move || {
            // Bounded: the server lives at most as long as the test (and at most 5 minutes).
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
            while !stop2.load(Ordering::Relaxed) && std::time::Instant::now() < deadline {
                match listener.accept() {
                    Ok((mut stream, _)) => {
                        stream.set_nonblocking(false).unwrap();
                        let mut reader = BufReader::new(stream.try_clone().unwrap());
                        let mut request = String::new();
                        if reader.read_line(&mut request).is_err() {
                            continue;
                        }
                        let mut if_none_match = None;
                        loop {
                            let mut line = String::new();
                            if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                                break;
                            }
                            if let Some(v) =
                                line.to_ascii_lowercase().strip_prefix("if-none-match:")
                            {
                                if_none_match = Some(v.trim().to_string());
                            }
                        }
                        let path = request.split_whitespace().nth(1).unwrap_or("/").to_string();
                        let applies = only2
                            .lock()
                            .unwrap()
                            .as_ref()
                            .is_none_or(|o| path.contains(o.as_str()));
                        let fail = if applies {
                            *fail2.lock().unwrap()
                        } else {
                            None
                        };
                        let cut = applies && trunc2.load(Ordering::Relaxed);
                        let (status, body) = match fail {
                            Some(code) => (code, b"server error".to_vec()),
                            None => match std::fs::read(root.join(path.trim_start_matches('/'))) {
                                Ok(bytes) => (200, bytes),
                                Err(_) => (404, b"not found".to_vec()),
                            },
                        };
                        let etag = format!(
                            "\"{}-{}\"",
                            body.len(),
                            body.iter().map(|b| *b as u64).sum::<u64>()
                        );
                        if status == 200 && if_none_match.as_deref() == Some(etag.as_str()) {
                            nm2.fetch_add(1, Ordering::Relaxed);
                            let _ = stream.write_all(b"HTTP/1.1 304 Not Modified\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                            continue;
                        }
                        let head = format!(
                            "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nETag: {etag}\r\nConnection: close\r\n\r\n",
                            body.len()
                        );
                        let _ = stream.write_all(head.as_bytes());
                        let _ = stream.write_all(if cut { &body[..body.len() / 2] } else { &body });
                    }
                    Err(_) => std::thread::sleep(std::time::Duration::from_millis(5)),
                }
            }
        });
        HttpServer {
            url,
            stop,
            fail_with,
            fail_only,
            truncate,
            not_modified,
        }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Runs `git ARGS` in `repo` with a fixed identity and returns its output; fails the test
/// with git's message when git fails.
pub fn git(repo: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .current_dir(repo)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A test's prerequisite (a program, a mirror) is missing: under `CI=true` that fails the
/// test — CI installs everything the suite needs, so a missing piece is a broken CI, not a
/// reason to pass — elsewhere the test says what it skipped and returns.
pub fn missing_prerequisite(what: &str) {
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
    assert!(!ci, "prerequisite missing under CI: {what}");
    eprintln!("skipped: {what}");
}

/// The realrocks mirror (`PYLUA_REALROCKS`, built by `.ci/run` with
/// `../shared/realrocks/build-mirror.py`), or None after [`missing_prerequisite`].
pub fn realrocks_mirror() -> Option<String> {
    match std::env::var_os("PYLUA_REALROCKS") {
        Some(dir) if Path::new(&dir).join("manifest").is_file() => {
            Some(dir.to_string_lossy().into_owned())
        }
        _ => {
            missing_prerequisite(
                "set PYLUA_REALROCKS to a mirror built by ../shared/realrocks/build-mirror.py",
            );
            None
        }
    }
}

/// Whether `program --version` (or `-v`) runs; says so through [`missing_prerequisite`]
/// when it does not.
pub fn have_program(program: &str) -> bool {
    let runs = ["--version", "-v"].iter().any(|flag| {
        std::process::Command::new(program)
            .arg(flag)
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if !runs {
        missing_prerequisite(&format!("`{program}` is not installed"));
    }
    runs
}
